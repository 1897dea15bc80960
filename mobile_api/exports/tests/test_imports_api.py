import json
import uuid
import zipfile

import ezdxf
import numpy as np
import pyogrio
import pytest
import shapely
from django.db import connection
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.common.geometry import gcj02_to_wgs84_array
from backend.exports.models import RedLineImport
from backend.sites.models import Site
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

# A 200 m × 200 m plot in CGCS2000 / 3-degree Gauss-Krüger CM 120E (EPSG:4549), near Qingdao.
X0, Y0 = 518_000.0, 3_980_000.0
SQUARE = [(X0, Y0), (X0 + 200, Y0), (X0 + 200, Y0 + 200), (X0, Y0 + 200)]
BOWTIE = [(X0 + 400, Y0), (X0 + 600, Y0 + 200), (X0 + 600, Y0), (X0 + 400, Y0 + 200)]
# A plot in WGS84 near the demo area.
RING = [(120.1750, 35.9620), (120.1770, 35.9620), (120.1770, 35.9634), (120.1750, 35.9634), (120.1750, 35.9620)]


@pytest.fixture(autouse=True)
def _import_settings(settings, tmp_path):
    settings.IMPORTS_ROOT = tmp_path / "imports"
    settings.EXPORTS_INLINE = True


@pytest.fixture
def official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211")


@pytest.fixture
def case():
    return ApprovalCaseFactory()


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _gbk_dxf(path):
    """A drawing saved in code page ANSI_936 (GBK) with Chinese layer names."""
    doc = ezdxf.new("R2000")
    doc.encoding = "gbk"
    doc.layers.add("红线")
    doc.layers.add("填充")
    doc.layers.add("标注")
    msp = doc.modelspace()
    square = msp.add_lwpolyline(SQUARE, close=True, dxfattribs={"layer": "红线"})
    bowtie = msp.add_lwpolyline(BOWTIE, close=True, dxfattribs={"layer": "红线"})
    msp.add_lwpolyline([(X0, Y0 - 50), (X0 + 100, Y0 - 50)], dxfattribs={"layer": "红线"})  # open: not a red line
    msp.add_text("地块甲", dxfattribs={"layer": "标注", "insert": (X0 + 50, Y0 + 50)})
    hatch = msp.add_hatch(dxfattribs={"layer": "填充"})
    hatch.paths.add_polyline_path([(X0 + 1000, Y0), (X0 + 1100, Y0), (X0 + 1100, Y0 + 100), (X0 + 1000, Y0 + 100)])
    doc.saveas(path)
    return {"square": square.dxf.handle, "bowtie": bowtie.dxf.handle, "hatch": hatch.dxf.handle}


def _upload(client, path, **fields):
    with open(path, "rb") as handle:
        return client.post("/api/v1/imports/", {"file": handle, **fields}, format="multipart")


def _postgis_area(ring, srid):
    polygon = shapely.Polygon(ring)
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_Area(ST_Transform(ST_GeomFromText(%s, %s), 4326)::geography)", [polygon.wkt, srid])
        return round(cursor.fetchone()[0], 2)


def test_gbk_dxf_in_a_gauss_kruger_zone_previews_red_lines_with_postgis_areas(official, case, tmp_path):
    path = tmp_path / "红线.dxf"
    handles = _gbk_dxf(path)
    assert b"$DWGCODEPAGE\n  3\nANSI_936" in path.read_bytes()
    assert "红线".encode("gbk") in path.read_bytes()
    response = _upload(_client(official), path, crs="4549", case=str(case.pk))
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["progress"], body["source_format"], body["crs"]) == ("done", 100, "dxf", "4549")
    preview = _client(official).get(f"/api/v1/imports/{body['id']}/").json()
    features = {f["handle"]: f for f in preview["features"]}
    assert set(features) == set(handles.values())
    # The open polyline and the text are no boundaries.
    assert preview["skipped"] == 2
    square = features[handles["square"]]
    assert (square["layer"], square["geometry_type"], square["is_valid"], square["errors"]) == (
        "红线",
        "Polygon",
        True,
        [],
    )
    assert square["area_m2"] == _postgis_area(SQUARE + SQUARE[:1], 4549)
    # Gauss-Krüger is conformal and the zone's scale is ~1 here: ~40 000 m² on the ground.
    assert abs(square["area_m2"] - 40_000) < 40
    lon, lat = square["geometry"]["coordinates"][0][0]
    assert 120.19 < lon < 120.21 and 35.9 < lat < 36.0
    bowtie = features[handles["bowtie"]]
    assert bowtie["is_valid"] is False
    assert bowtie["errors"][0].startswith("invalid geometry: Self-intersection")
    hatch = features[handles["hatch"]]
    assert (hatch["layer"], hatch["is_valid"]) == ("填充", True)
    assert hatch["area_m2"] == _postgis_area(
        [(X0 + 1000, Y0), (X0 + 1100, Y0), (X0 + 1100, Y0 + 100), (X0 + 1000, Y0 + 100), (X0 + 1000, Y0)], 4549
    )


def test_layer_filter_keeps_only_the_named_layers(official, tmp_path):
    path = tmp_path / "plan.dxf"
    handles = _gbk_dxf(path)
    body = _upload(_client(official), path, crs="EPSG:4549", layers="填充").json()
    assert [f["handle"] for f in body["features"]] == [handles["hatch"]]


def test_dxf_without_a_crs_fails_with_crs_required(official, tmp_path):
    path = tmp_path / "plan.dxf"
    _gbk_dxf(path)
    body = _upload(_client(official), path).json()
    assert (body["status"], body["error_code"], body["features"]) == ("failed", "crs_required", [])


def _write(path, driver, rings, *, crs, names, layer=None):
    geometry = np.array([shapely.to_wkb(shapely.Polygon(ring)) for ring in rings], dtype=object)
    pyogrio.raw.write(
        str(path),
        geometry,
        [np.array(names, dtype=object)],
        ["name"],
        driver=driver,
        crs=crs,
        geometry_type="Polygon",
        layer=layer,
        encoding="UTF-8" if driver == "ESRI Shapefile" else None,
    )


def test_zipped_shapefile_in_cgcs2000_uses_its_prj(official, tmp_path):
    _write(tmp_path / "红线.shp", "ESRI Shapefile", [RING], crs="EPSG:4490", names=["地块甲"])
    archive = tmp_path / "red.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in tmp_path.glob("红线.*"):
            zipped.write(part, arcname=part.name)
    body = _upload(_client(official), archive).json()
    assert (body["status"], body["source_format"], body["crs"]) == ("done", "shp", "")
    [feature] = body["features"]
    assert (feature["name"], feature["is_valid"]) == ("地块甲", True)
    # Shapefiles store outer rings clockwise: the same polygon, vertices in the file's order.
    assert shapely.equals(shapely.from_geojson(json.dumps(feature["geometry"])), shapely.Polygon(RING))


def test_geopackage_kml_and_kmz_are_judged_by_content(official, tmp_path):
    _write(tmp_path / "a.gpkg", "GPKG", [RING], crs="EPSG:4326", names=["甲"], layer="红线")
    _write(tmp_path / "b.kml", "KML", [RING], crs="EPSG:4326", names=["乙"])
    kmz = tmp_path / "c.bin"
    with zipfile.ZipFile(kmz, "w") as zipped:
        zipped.write(tmp_path / "b.kml", arcname="doc.kml")
    client = _client(official)
    for path, expected_format, expected_name in (
        (tmp_path / "a.gpkg", "gpkg", "甲"),
        (tmp_path / "b.kml", "kml", "乙"),
        (kmz, "kmz", "乙"),
    ):
        renamed = path.rename(path.with_suffix(".upload"))  # the name says nothing
        body = _upload(client, renamed).json()
        assert (body["status"], body["source_format"]) == ("done", expected_format)
        assert [(f["name"], f["is_valid"]) for f in body["features"]] == [(expected_name, True)]


def test_gcj02_geojson_is_shifted_back_to_wgs84(official, tmp_path):
    path = tmp_path / "amap.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "高德"},
                        "geometry": {"type": "Polygon", "coordinates": [RING]},
                    }
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    body = _upload(_client(official), path, crs="gcj02").json()
    [feature] = body["features"]
    lon, lat = gcj02_to_wgs84_array(np.array([p[0] for p in RING]), np.array([p[1] for p in RING]))
    expected = shapely.Polygon(list(zip(lon, lat, strict=True)))
    assert shapely.from_geojson(json.dumps(feature["geometry"])).equals_exact(expected, 1e-9)


@pytest.mark.parametrize(
    ("content", "fields", "status", "code"),
    [
        (b"hello, not a map", {}, 400, "unsupported_file"),
        (b"PK\x03\x04 broken zip", {}, 400, "unsupported_file"),
        (b'{"type": "FeatureCollection", "features": []}', {"crs": "3857"}, 400, "invalid_crs"),
        (b'{"type": "FeatureCollection", "features": []}', {"case": str(uuid.uuid4())}, 404, "not_found"),
    ],
)
def test_bad_uploads_leave_no_row_and_no_file(official, tmp_path, settings, content, fields, status, code):
    path = tmp_path / "upload.dat"
    path.write_bytes(content)
    response = _upload(_client(official), path, **fields)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert RedLineImport.objects.count() == 0
    assert not settings.IMPORTS_ROOT.exists() or list(settings.IMPORTS_ROOT.iterdir()) == []


def test_missing_file_and_non_editors_are_refused(official, tmp_path):
    response = _client(official).post("/api/v1/imports/", {"crs": "4326"}, format="multipart")
    assert (response.status_code, response.json()["code"]) == (400, "file_required")
    builder = user_of_kind(OrganizationKind.BUILDER, roles=[Role.OFFICIAL])
    path = tmp_path / "a.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    response = _upload(_client(builder), path)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert RedLineImport.objects.count() == 0


def test_too_large_upload_is_a_413(official, tmp_path, settings):
    settings.IMPORT_MAX_BYTES = 100
    path = tmp_path / "a.geojson"
    path.write_bytes(b"{" + b" " * 200 + b"}")
    response = _upload(_client(official), path)
    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")
    assert RedLineImport.objects.count() == 0


def _dxf_import(client, tmp_path, case):
    path = tmp_path / "plan.dxf"
    handles = _gbk_dxf(path)
    body = _upload(client, path, crs="4549", case=str(case.pk)).json()
    index = {f["handle"]: f["index"] for f in body["features"]}
    return body, {name: index[handle] for name, handle in handles.items()}


def test_commit_creates_sites_through_the_site_service(official, case, tmp_path):
    client = _client(official)
    body, index = _dxf_import(client, tmp_path, case)
    response = client.post(
        f"/api/v1/imports/{body['id']}/commit",
        {"features": [{"index": index["square"], "name": "一号地块"}, {"index": index["hatch"]}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    committed = response.json()
    assert committed["committed_at"] is not None
    sites = [Site.objects.get(pk=pk) for pk in committed["sites"]]
    preview = {f["index"]: f for f in body["features"]}
    assert [s.name for s in sites] == ["一号地块", f"填充 {preview[index['hatch']]['handle']}"]
    assert [(s.case_id, s.project_id, s.version, s.created_by_id) for s in sites] == [
        (case.pk, case.project_id, 1, official.pk)
    ] * 2
    assert round(sites[0].area_m2, 2) == preview[index["square"]]["area_m2"]
    assert AuditEntry.objects.filter(record_id__in=[s.pk for s in sites], action="create").count() == 2
    again = client.post(f"/api/v1/imports/{body['id']}/commit", {"features": [{"index": 0}]}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "import_committed")
    assert Site.objects.count() == 2


def test_commit_with_an_invalid_feature_writes_nothing(official, case, tmp_path):
    client = _client(official)
    body, index = _dxf_import(client, tmp_path, case)
    response = client.post(
        f"/api/v1/imports/{body['id']}/commit",
        {"features": [{"index": index["square"]}, {"index": index["bowtie"]}]},
        format="json",
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "invalid_geometry"
    assert list(problem["errors"]) == ["features[1]"]
    assert problem["errors"]["features[1]"][0].startswith("invalid geometry: Self-intersection")
    assert Site.objects.count() == 0
    assert RedLineImport.objects.get(pk=body["id"]).committed_at is None
    unknown = client.post(f"/api/v1/imports/{body['id']}/commit", {"features": [{"index": 99}]}, format="json")
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_feature")
    assert Site.objects.count() == 0


def test_commit_replaces_a_sites_boundary(official, case, tmp_path):
    site = SiteFactory(case=case)
    client = _client(official)
    body, index = _dxf_import(client, tmp_path, case)
    response = client.post(
        f"/api/v1/imports/{body['id']}/commit",
        {"features": [{"index": index["square"]}], "site": str(site.pk)},
        format="json",
    )
    assert response.status_code == 200, response.content
    site.refresh_from_db()
    assert site.version == 2
    assert round(site.area_m2, 2) == body["features"][index["square"]]["area_m2"]
    assert response.json()["sites"] == [str(site.pk)]


def test_another_users_import_is_a_404(official, case, tmp_path):
    body, _ = _dxf_import(_client(official), tmp_path, case)
    other = _client(user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211"))
    for response in (
        other.get(f"/api/v1/imports/{body['id']}/"),
        other.post(f"/api/v1/imports/{body['id']}/commit", {"features": [{"index": 0}]}, format="json"),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "import_not_found")
    assert Site.objects.count() == 0


def test_a_wrong_crs_marks_every_boundary_invalid_and_nothing_can_be_committed(official, case, tmp_path):
    path = tmp_path / "plan.dxf"
    _gbk_dxf(path)
    # Gauss-Krüger metres declared as degrees.
    body = _upload(_client(official), path, crs="wgs84", case=str(case.pk)).json()
    assert body["status"] == "done"
    assert {f["is_valid"] for f in body["features"]} == {False}
    square = next(
        f for f in body["features"] if f["layer"] == "红线" and not f["errors"][0].startswith("invalid geometry")
    )
    assert square["errors"] == ["geometry lies outside -180..180 / -90..90 in WGS84; is the crs right?"]
    response = _client(official).post(
        f"/api/v1/imports/{body['id']}/commit", {"features": [{"index": square["index"]}]}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_geometry")
    assert Site.objects.count() == 0
