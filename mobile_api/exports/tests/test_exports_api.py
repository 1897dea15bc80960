import datetime as dt
import uuid
import zipfile

import pyogrio
import pytest
import shapely
from django.db import connection
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.exports.models import Export, JobStatus
from backend.exports.services import export_run, exports_expire
from backend.sites.tests.factories import SiteFactory

# ogr2ogr reads through its own database connection: the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _export_settings(settings, tmp_path):
    settings.EXPORTS_ROOT = tmp_path / "exports"
    settings.EXPORTS_INLINE = True


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def scoped():
    """An official of 370211 sees two sites; one of 370100 sees another one."""
    official = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211")
    outsider = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370100")
    case = ApprovalCaseFactory()
    other_case = ApprovalCaseFactory(project=ProjectFactory(code="2404-370100-04-01-900001"))
    own = [SiteFactory(case=case, name="红线一 青岛西海岸"), SiteFactory(case=case, name="红线二")]
    other = [SiteFactory(case=other_case, name="济南地块")]
    return {"official": official, "outsider": outsider, "case": case, "own": own, "other": other}


def _read(path, *, layer=None):
    """(field name → values, geometry types) of the file as GDAL reads it."""
    meta, _, geometries, values = pyogrio.raw.read(str(path), layer=layer)
    columns = {name: list(values[i]) for i, name in enumerate(meta["fields"])}
    return meta, columns, geometries


def _export_file(client, tmp_path, **body):
    response = client.post("/api/v1/exports/", body, format="json")
    assert response.status_code == 202, response.content
    data = response.json()
    assert set(data) >= {"id", "status", "progress"}
    assert (data["status"], data["progress"]) == ("done", 100)
    detail = client.get(f"/api/v1/exports/{data['id']}/")
    assert detail.status_code == 200
    assert detail.json()["file"] == f"http://testserver/api/v1/exports/{data['id']}/file"
    download = client.get(f"/api/v1/exports/{data['id']}/file")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment; filename=")
    filename = download["Content-Disposition"].split("filename=")[1].strip('"')
    assert filename.startswith(f"{body['collection']}-")
    target = tmp_path / data["id"] / filename
    target.parent.mkdir()
    target.write_bytes(b"".join(download.streaming_content))
    return detail.json(), target


@pytest.mark.parametrize("format", ["gpkg", "geojson", "csv", "xlsx", "shp", "kml"])
def test_each_format_holds_exactly_the_rows_each_user_sees(scoped, tmp_path, format):
    for who, sites in (("official", scoped["own"]), ("outsider", scoped["other"])):
        export, path = _export_file(_client(scoped[who]), tmp_path, collection="sites", format=format)
        assert export["row_count"] == len(sites)
        opened = f"/vsizip/{path}" if format == "shp" else str(path)
        if format == "shp":
            with zipfile.ZipFile(path) as archive:
                names = sorted(archive.namelist())
            stem = names[0].rsplit(".", 1)[0]
            assert names == [f"{stem}.{ext}" for ext in ("cpg", "dbf", "prj", "shp", "shx")]
            assert zipfile.ZipFile(path).read(f"{stem}.cpg") == b"UTF-8"
            opened = f"/vsizip/{path}/{stem}.shp"
        meta, columns, geometries = _read(opened)
        if format == "kml":
            # KML keeps the name as the placemark's name; the rest travels as extended data.
            assert sorted(columns["Name"]) == sorted(site.name for site in sites)
        else:
            assert sorted(columns["id"]) == sorted(str(site.pk) for site in sites)
            assert sorted(columns["name"]) == sorted(site.name for site in sites)
        if format == "xlsx":
            # Spreadsheets carry the geometry as WKT text.
            by_id = dict(zip(columns["id"], columns["wkt"], strict=True))
            assert all(
                shapely.from_wkt(by_id[str(s.pk)]).equals(shapely.from_wkb(bytes(s.boundary.wkb))) for s in sites
            )
        else:
            assert meta["geometry_type"] in ("MultiPolygon", "Polygon", "Unknown")
            assert all(geometry is not None for geometry in geometries)


def test_case_bbox_and_datetime_narrow_the_export(scoped, tmp_path):
    official = _client(scoped["official"])
    first, second = scoped["own"]
    type(first).all_objects.filter(pk=first.pk).update(created_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    type(first).all_objects.filter(pk=second.pk).update(created_at=dt.datetime(2026, 6, 5, tzinfo=dt.UTC))
    _, path = _export_file(official, tmp_path, collection="sites", format="geojson", datetime="../2026-03-01T00:00:00Z")
    assert _read(path)[1]["id"] == [str(first.pk)]
    _, path = _export_file(official, tmp_path, collection="sites", format="geojson", bbox=[0, 0, 1, 1])
    assert _read(path)[1].get("id", []) == []
    _, path = _export_file(
        official, tmp_path, collection="sites", format="geojson", case=str(scoped["case"].pk), bbox="120,35,121,36"
    )
    assert sorted(_read(path)[1]["id"]) == sorted([str(first.pk), str(second.pk)])


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"collection": "nothing", "format": "gpkg"}, "unknown_collection", "collection"),
        ({"collection": "sites", "format": "dwg"}, "unknown_format", "format"),
        ({"collection": "sites", "format": "gpkg", "bbox": [1, 2, 3]}, "invalid_bbox", "bbox"),
        ({"collection": "sites", "format": "gpkg", "bbox": [10, 2, 3, 4]}, "invalid_bbox", "bbox"),
        ({"collection": "sites", "format": "gpkg", "bbox": "a,b,c,d"}, "invalid_bbox", "bbox"),
        ({"collection": "sites", "format": "gpkg", "bbox": [0, -91, 1, 1]}, "invalid_bbox", "bbox"),
        ({"collection": "sites", "format": "gpkg", "datetime": "yesterday"}, "invalid_datetime", "datetime"),
        ({"collection": "sites", "format": "gpkg", "datetime": "2026-01-01T00:00:00"}, "invalid_datetime", "datetime"),
    ],
)
def test_bad_input_is_a_problem_with_a_code_and_writes_nothing(scoped, body, code, field):
    response = _client(scoped["official"]).post("/api/v1/exports/", body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert list(response.json()["errors"]) == [field]
    assert Export.objects.count() == 0


def test_a_case_the_user_cannot_see_is_a_404_and_writes_nothing(scoped):
    response = _client(scoped["outsider"]).post(
        "/api/v1/exports/", {"collection": "sites", "format": "gpkg", "case": str(scoped["case"].pk)}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Export.objects.count() == 0


def test_another_users_export_is_a_404(scoped, tmp_path):
    export, _ = _export_file(_client(scoped["official"]), tmp_path, collection="sites", format="gpkg")
    outsider = _client(scoped["outsider"])
    for url in (f"/api/v1/exports/{export['id']}/", f"/api/v1/exports/{export['id']}/file"):
        response = outsider.get(url)
        assert response.status_code == 404
        assert response.json()["code"] == "export_not_found"
    assert outsider.get(f"/api/v1/exports/{uuid.uuid4()}/").status_code == 404


def test_queued_export_waits_for_the_worker_then_downloads(scoped, settings, tmp_path):
    settings.EXPORTS_INLINE = False
    client = _client(scoped["official"])
    response = client.post("/api/v1/exports/", {"collection": "sites", "format": "gpkg"}, format="json")
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["progress"]) == ("queued", 0)
    export_id = response.json()["id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT task_name, status FROM procrastinate_jobs WHERE args->>'export_id' = %s", [export_id])
        assert cursor.fetchall() == [("exports.export_run", "todo")]
    early = client.get(f"/api/v1/exports/{export_id}/file")
    assert early.status_code == 409
    assert early.json()["code"] == "export_not_ready"
    assert early.json()["progress"] == 0
    assert export_run(export_id=export_id) == "done"
    assert export_run(export_id=export_id) == "skipped"
    assert client.get(f"/api/v1/exports/{export_id}/file").status_code == 200


def test_expired_exports_lose_their_file(scoped, tmp_path, settings):
    client = _client(scoped["official"])
    export, _ = _export_file(client, tmp_path, collection="sites", format="csv")
    folder = settings.EXPORTS_ROOT / export["id"]
    assert folder.is_dir()
    assert exports_expire(now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)) == 0
    assert exports_expire(now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)) == 1
    assert not folder.exists()
    assert Export.objects.get(pk=export["id"]).status == JobStatus.EXPIRED
    response = client.get(f"/api/v1/exports/{export['id']}/file")
    assert response.status_code == 410
    assert response.json()["code"] == "export_expired"


@pytest.mark.parametrize("collection", ["sites", "surveys", "findings", "utility_points", "inspections", "photos"])
def test_every_collection_exports_even_when_empty(collection, tmp_path):
    nobody = user_of_kind(OrganizationKind.BUILDER, roles=[Role.OFFICIAL])
    SiteFactory()
    export, path = _export_file(_client(nobody), tmp_path, collection=collection, format="gpkg")
    assert export["row_count"] == 0
    assert pyogrio.list_layers(str(path))[0][0] == collection
    assert pyogrio.read_info(str(path))["features"] == 0
