"""Red-line imports: a CAD or GIS file → candidate boundaries in WGS84 → sites.

The upload is judged by its content (DXF, zipped shapefile, KML/KMZ, GPKG, GeoJSON), kept on
disk and read by GDAL (pyogrio) after commit, in the worker or inline. The preview lists every
polygonal feature in WGS84 with its area and validity; nothing is repaired. The commit writes
the chosen features through the site service, all or nothing, so a red line from a file meets
exactly the rules of one drawn on a tablet.
"""

import datetime as dt
import json
import re
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.errors
import shapely
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.cases.models import ApprovalCase, Project
from backend.cases.selectors import cases_visible_to, projects_visible_to
from backend.common.errors import (
    ApplicationError,
    Conflict,
    InvalidGeometry,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from backend.common.geometry import MAX_VERTICES, POLYGONAL, gcj02_to_wgs84_array, parse_geometry
from backend.exports.models import JobStatus, RedLineImport
from backend.sites.models import Site
from backend.sites.selectors import sites_visible_to
from backend.sites.services import site_can_edit, site_create, site_update

# Accepted `crs`: WGS84, CGCS2000 geographic, its 3-degree Gauss-Krüger zones with and without
# the zone number in the easting, and GCJ-02 (shifted back to WGS84 here).
GAUSS_KRUGER = set(range(4513, 4555))
CRS_ALIASES = {"wgs84": "4326", "crs84": "4326", "cgcs2000": "4490", "gcj02": "gcj02"}
# DXF entities have no name (its `Text` of a HATCH is the pattern): they are named by layer and handle.
NAME_FIELDS = ("name", "Name", "NAME", "名称")
DXF_START = re.compile(rb"^\s*(999\s*\r?\n[^\n]*\r?\n\s*)?0\s*\r?\n\s*SECTION")


class ImportTooLarge(ApplicationError):
    status = 413
    code = "file_too_large"

    def __init__(self) -> None:
        super().__init__(
            f"The file is larger than {import_max_bytes()} bytes.", extra={"max_bytes": import_max_bytes()}
        )


class ImportNotReady(Conflict):
    code = "import_not_ready"


class ImportCommitted(Conflict):
    code = "import_committed"


class ImportFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def import_max_bytes() -> int:
    return settings.IMPORT_MAX_BYTES


def import_root() -> Path:
    return Path(settings.IMPORTS_ROOT)


def parse_crs(value: Any) -> str:
    """'' (the file's own), an EPSG code as text, or 'gcj02'."""
    text = str(value or "").strip().lower()
    if not text:
        return ""
    text = CRS_ALIASES.get(text, text.removeprefix("epsg:"))
    if text == "gcj02" or (text.isdigit() and (int(text) in (4326, 4490) or int(text) in GAUSS_KRUGER)):
        return text
    raise ValidationFailed(
        f"Unsupported crs {text[:20]!r}.",
        code="invalid_crs",
        errors={"crs": ["Give 4326, 4490, a CGCS2000 Gauss-Krüger zone (4513-4554), wgs84, cgcs2000 or gcj02."]},
    )


def sniff_format(path: Path) -> tuple[str, str]:
    """(format, the path GDAL opens) judged by the bytes, never by the file name."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg", str(path)
    if head.startswith(b"AutoCAD Binary DXF") or DXF_START.match(head.lstrip(b"\xef\xbb\xbf")):
        return "dxf", str(path)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = [info.filename for info in archive.infolist() if not info.is_dir()]
        except zipfile.BadZipFile:
            names = []
        shapefiles = [n for n in names if n.lower().endswith(".shp")]
        if shapefiles:
            return "shp", f"/vsizip/{path}/{shapefiles[0]}"
        kml = [n for n in names if n.lower().endswith(".kml")]
        if kml:
            return "kmz", f"/vsizip/{path}/{kml[0]}"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return "geojson", str(path)
    if text.startswith(b"<") and b"<kml" in head:
        return "kml", str(path)
    raise ValidationFailed(
        "The file is not DXF, a zipped shapefile, KML/KMZ, GeoPackage or GeoJSON.",
        code="unsupported_file",
        errors={"file": ["Unrecognised content."]},
    )


def _check_scope(*, by: User, project: Project | None, case: ApprovalCase | None) -> None:
    if case is not None and not cases_visible_to(user=by).filter(pk=case.pk).exists():
        raise NotFound("No such case.")
    if project is not None and not projects_visible_to(user=by).filter(pk=project.pk).exists():
        raise NotFound("No such project.")


def import_upload(
    *,
    by: User,
    file: Any,
    crs: Any = "",
    layers: Any = "",
    project: Project | None = None,
    case: ApprovalCase | None = None,
) -> RedLineImport:
    """Keep the uploaded file and queue its reading; bad input leaves no row and no file."""
    if not site_can_edit(user=by):
        raise PermissionDenied("Only approval officials and survey crews may import red lines.")
    if file is None:
        raise ValidationFailed(
            "Send the red-line file as `file`.", code="file_required", errors={"file": ["Required."]}
        )
    if file.size > import_max_bytes():
        raise ImportTooLarge()
    crs = parse_crs(crs)
    layer_names = [name.strip() for name in str(layers or "").split(",") if name.strip()]
    _check_scope(by=by, project=project, case=case)
    import_id = uuid.uuid4()
    directory = import_root() / str(import_id)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        staged = directory / "upload"
        with staged.open("wb") as target:
            for chunk in file.chunks():
                target.write(chunk)
        source_format, _ = sniff_format(staged)
        stored = staged.rename(directory / f"upload.{'zip' if source_format == 'shp' else source_format}")
        with transaction.atomic():
            red_line_import = RedLineImport.objects.create(
                id=import_id,
                owner=by,
                filename=str(getattr(file, "name", "") or "")[:255],
                source_format=source_format,
                crs=crs,
                layers=layer_names,
                project=project,
                case=case,
                file_name=stored.name,
                expires_at=timezone.now() + dt.timedelta(hours=settings.EXPORT_TTL_HOURS),
            )
            transaction.on_commit(lambda: import_schedule(import_id=import_id))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return red_line_import


def import_schedule(*, import_id: uuid.UUID) -> None:
    if settings.EXPORTS_INLINE:
        import_read(import_id=import_id)
        return
    from backend.exports.tasks import import_read_task

    import_read_task.defer(import_id=str(import_id))


def _source_srid(red_line_import: RedLineImport, layer_crs: str | None) -> int:
    if red_line_import.crs:
        return 4326 if red_line_import.crs == "gcj02" else int(red_line_import.crs)
    if layer_crs and layer_crs.upper().startswith("EPSG:") and layer_crs[5:].isdigit():
        return int(layer_crs[5:])
    raise ImportFailed("crs_required", "The file does not say its coordinate system; give `crs`.")


def _read_features(red_line_import: RedLineImport, path: str) -> tuple[list[dict[str, Any]], int]:
    """The file's polygonal features (source coordinates, WKB) and how many others were skipped."""
    is_dxf = red_line_import.source_format == "dxf"
    wanted = set(red_line_import.layers)
    features: list[dict[str, Any]] = []
    skipped = 0
    # Closed (LW)POLYLINEs are red lines; GDAL otherwise reads them as lines. DXF text is
    # converted from the drawing's $DWGCODEPAGE (ANSI_936 = GBK) to UTF-8 by GDAL.
    pyogrio.set_gdal_config_options({"DXF_CLOSED_LINE_AS_POLYGON": "TRUE"})
    try:
        for layer_name, _ in pyogrio.list_layers(path):
            if wanted and not is_dxf and layer_name not in wanted:
                continue
            meta, fids, geometries, field_data = pyogrio.raw.read(path, layer=layer_name, return_fids=True)
            fields = list(meta["fields"])
            srid = _source_srid(red_line_import, meta.get("crs"))
            for position, wkb in enumerate(geometries):
                values = {name: field_data[i][position] for i, name in enumerate(fields)}
                feature_layer = str(values.get("Layer") or layer_name) if is_dxf else layer_name
                if is_dxf and wanted and feature_layer not in wanted:
                    continue
                geometry = shapely.from_wkb(wkb) if wkb is not None else None
                if geometry is None or geometry.geom_type not in POLYGONAL:
                    skipped += 1
                    continue
                handle = values.get("EntityHandle") if is_dxf else fids[position]
                name = next((str(values[f]) for f in NAME_FIELDS if values.get(f) not in (None, "")), "")
                features.append(
                    {
                        "layer": feature_layer,
                        "handle": "" if handle is None else str(handle),
                        "name": name,
                        "geometry": shapely.force_2d(geometry),
                        "srid": srid,
                    }
                )
                if len(features) > settings.IMPORT_MAX_FEATURES:
                    raise ImportFailed(
                        "too_many_features", f"The file holds more than {settings.IMPORT_MAX_FEATURES} polygons."
                    )
    finally:
        pyogrio.set_gdal_config_options({"DXF_CLOSED_LINE_AS_POLYGON": None})
    return features, skipped


def _to_wgs84(features: list[dict[str, Any]], *, is_gcj02: bool) -> list[tuple[shapely.Geometry | None, float | None]]:
    """Each feature's geometry in WGS84 (PostGIS transforms) and its area on the spheroid."""
    if not features:
        return []
    sql = (
        "SELECT ST_AsBinary(g), ST_Area(g::geography) FROM ("
        "SELECT n, ST_Transform(ST_SetSRID(ST_GeomFromWKB(w), s), 4326) AS g "
        "FROM unnest(%s::bytea[], %s::int[]) WITH ORDINALITY AS u(w, s, n)) x ORDER BY n"
    )
    blobs = [shapely.to_wkb(f["geometry"]) for f in features]
    srids = [f["srid"] for f in features]
    with connection.cursor() as cursor:
        cursor.execute(sql, [blobs, srids])
        rows = cursor.fetchall()
    results: list[tuple[shapely.Geometry | None, float | None]] = []
    for wkb, area in rows:
        geometry = shapely.from_wkb(bytes(wkb))
        if is_gcj02:
            geometry = shapely.transform(geometry, _gcj02_coords)
            area = _geodesic_area(geometry)
        results.append((geometry, round(float(area), 2)))
    return results


def _gcj02_coords(coords: np.ndarray) -> np.ndarray:
    lon, lat = gcj02_to_wgs84_array(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def _geodesic_area(geometry: shapely.Geometry) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_Area(ST_GeomFromWKB(%s, 4326)::geography)", [shapely.to_wkb(geometry)])
        return float(cursor.fetchone()[0])


def _problems(source: shapely.Geometry, wgs84: shapely.Geometry) -> list[str]:
    """Why a boundary cannot be a site, judged like REST input; empty when it can."""
    errors = []
    if not shapely.is_valid(source):
        errors.append(f"invalid geometry: {shapely.is_valid_reason(source)}.")
    elif not shapely.is_valid(wgs84):
        errors.append(f"invalid geometry after conversion to WGS84: {shapely.is_valid_reason(wgs84)}.")
    if shapely.get_num_coordinates(wgs84) > MAX_VERTICES:
        errors.append(f"geometry has more than {MAX_VERTICES} vertices.")
    min_lon, min_lat, max_lon, max_lat = shapely.bounds(wgs84)
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        errors.append("geometry lies outside -180..180 / -90..90 in WGS84; is the crs right?")
    return errors


def _set(import_id: uuid.UUID, **fields: Any) -> None:
    RedLineImport.objects.filter(pk=import_id).update(**fields)


def import_read(*, import_id: uuid.UUID) -> str:
    """Read the stored file into the import's preview. Returns the final status."""
    claimed = RedLineImport.objects.filter(pk=import_id, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING)
    if not claimed:
        return "skipped"
    red_line_import = RedLineImport.objects.get(pk=import_id)
    _, path = sniff_format(import_root() / str(import_id) / red_line_import.file_name)
    try:
        features, skipped = _read_features(red_line_import, path)
        _set(import_id, progress=50)
        try:
            with transaction.atomic():
                converted = _to_wgs84(features, is_gcj02=red_line_import.crs == "gcj02")
        except DatabaseError as error:
            # PROJ refusing the coordinates (e.g. degrees given as a Gauss-Krüger zone).
            raise ImportFailed("transform_failed", f"The coordinates do not convert to WGS84: {error}") from error
    except ImportFailed as error:
        _set(import_id, status=JobStatus.FAILED, error_code=error.code, error=error.message)
        return JobStatus.FAILED
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as error:
        _set(import_id, status=JobStatus.FAILED, error_code="unreadable_file", error=str(error)[:2000])
        return JobStatus.FAILED
    preview = []
    for index, (feature, (wgs84, area)) in enumerate(zip(features, converted, strict=True)):
        errors = _problems(feature["geometry"], wgs84)
        preview.append(
            {
                "index": index,
                "layer": feature["layer"],
                "handle": feature["handle"],
                "name": feature["name"],
                "geometry_type": wgs84.geom_type,
                "geometry": json.loads(shapely.to_geojson(wgs84)),
                "area_m2": area,
                "is_valid": not errors,
                "errors": errors,
            }
        )
    _set(import_id, status=JobStatus.DONE, progress=100, features=preview, skipped=skipped)
    return JobStatus.DONE


def import_for(*, user: User, import_id: uuid.UUID) -> RedLineImport:
    """The user's own import; another user's is as absent as a missing one."""
    red_line_import = RedLineImport.objects.filter(pk=import_id, owner=user).first()
    if red_line_import is None:
        raise NotFound("No such import.", code="import_not_found")
    return red_line_import


@transaction.atomic
def import_commit(
    *,
    red_line_import: RedLineImport,
    by: User,
    features: list[dict[str, Any]],
    project: Project | None = None,
    case: ApprovalCase | None = None,
    site: Site | None = None,
) -> RedLineImport:
    """Create a site per chosen feature, or give `site` the one chosen boundary; all or nothing."""
    red_line_import = RedLineImport.objects.select_for_update().get(pk=red_line_import.pk)
    if red_line_import.committed_at is not None:
        raise ImportCommitted("The import was committed already.", extra={"sites": red_line_import.sites})
    if red_line_import.status != JobStatus.DONE:
        raise ImportNotReady(
            f"The import is {red_line_import.status}.", extra={"error_code": red_line_import.error_code}
        )
    candidates = {feature["index"]: feature for feature in red_line_import.features}
    chosen = [feature["index"] for feature in features]
    unknown = sorted({index for index in chosen if index not in candidates})
    if unknown or len(set(chosen)) != len(chosen):
        raise ValidationFailed(
            "Choose each feature of the preview at most once.",
            code="unknown_feature",
            errors={"features": [f"Not in the preview or repeated: {unknown or chosen}."]},
        )
    if site is not None and len(chosen) != 1:
        raise ValidationFailed(
            "A site takes one boundary.", code="one_feature_required", errors={"features": ["Choose one feature."]}
        )
    refused = {
        f"features[{position}]": candidates[index]["errors"]
        for position, index in enumerate(chosen)
        if not candidates[index]["is_valid"]
    }
    if refused:
        raise InvalidGeometry("Some chosen boundaries are invalid; nothing was imported.", errors=refused)
    boundaries = [parse_geometry(candidates[index]["geometry"], allowed_types=POLYGONAL) for index in chosen]
    if site is not None:
        if not sites_visible_to(user=by).filter(pk=site.pk).exists():
            raise NotFound("No such site.")
        updated = site_update(instance=site, changes={"boundary": boundaries[0]}, by=by)
        written = [str(updated.pk)]
    else:
        written = []
        for choice, boundary in zip(features, boundaries, strict=True):
            candidate = candidates[choice["index"]]
            default_name = candidate["name"] or f"{candidate['layer']} {candidate['handle']}".strip()
            created, _ = site_create(
                name=choice.get("name") or default_name,
                address=choice.get("address", ""),
                boundary=boundary,
                project=project or red_line_import.project,
                case=case or red_line_import.case,
                by=by,
            )
            written.append(str(created.pk))
    red_line_import.committed_at = timezone.now()
    red_line_import.sites = written
    red_line_import.save(update_fields=["committed_at", "sites"])
    directory = import_root() / str(red_line_import.pk)
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))
    return red_line_import


def imports_expire(*, now: dt.datetime | None = None) -> int:
    """Drop uploads and previews of imports past their expiry; returns how many expired."""
    now = now or timezone.now()
    count = 0
    for red_line_import in (
        RedLineImport.objects.filter(expires_at__lte=now).exclude(status=JobStatus.EXPIRED).only("pk")
    ):
        shutil.rmtree(import_root() / str(red_line_import.pk), ignore_errors=True)
        _set(red_line_import.pk, status=JobStatus.EXPIRED, features=[], file_name="")
        count += 1
    return count
