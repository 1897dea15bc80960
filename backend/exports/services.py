"""Exports: a scoped collection written to a file by ogr2ogr, streaming from PostGIS.

The request is validated and recorded here; the file is written by the worker
(`exports.export_run` task) or, with EXPORTS_INLINE, right after the request commits.
ogr2ogr reads the rows through its own PostgreSQL cursor and writes them as it goes, so the
worker's memory stays flat however many rows there are.
"""

import datetime as dt
import os
import re
import shutil
import subprocess
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backend.accounts.models import User
from backend.cases.models import ApprovalCase
from backend.cases.selectors import cases_visible_to
from backend.common.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from backend.exports.collections import COLLECTIONS, Collection, collection_columns_sql, collection_from_sql
from backend.exports.models import Export, ExportFormat, JobStatus
from backend.records.registry import RECORD_TYPES


class ExportNotReady(Conflict):
    code = "export_not_ready"


class ExportFailed(Conflict):
    code = "export_failed"


class ExportExpired(ApplicationError):
    status = 410
    code = "export_expired"


# ogr2ogr driver, file extension and creation options per format.
DRIVERS: dict[str, tuple[str, str, list[str]]] = {
    ExportFormat.GPKG: ("GPKG", "gpkg", []),
    ExportFormat.GEOJSON: ("GeoJSON", "geojson", ["-lco", "RFC7946=YES"]),
    # A byte-order mark so spreadsheet programs read the Chinese text as UTF-8.
    ExportFormat.CSV: ("CSV", "csv", ["-lco", "GEOMETRY=AS_WKT", "-lco", "WRITE_BOM=YES"]),
    ExportFormat.KML: ("KML", "kml", []),
    ExportFormat.XLSX: ("XLSX", "xlsx", []),
    # The .cpg file and the DBF language driver id both say UTF-8.
    ExportFormat.SHP: ("ESRI Shapefile", "shp", ["-lco", "ENCODING=UTF-8"]),
}
PROGRESS = re.compile(r"(\d+)\.\.\.")


def _parse_bbox(value: Any) -> list[float] | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = value.split(",")
    error = ValidationFailed(
        "bbox must be four numbers: min_lon, min_lat, max_lon, max_lat (WGS84).",
        code="invalid_bbox",
        errors={"bbox": ["Give min_lon, min_lat, max_lon, max_lat with min < max, within ±180 / ±90."]},
    )
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise error
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError) as exc:
        raise error from exc
    min_lon, min_lat, max_lon, max_lat = numbers
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise error
    return numbers


def _parse_instant(text: str) -> dt.datetime | None:
    if text in ("", ".."):
        return None
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationFailed(
            "datetime must be an RFC 3339 instant with offset, or an interval start/end ('..' for open).",
            code="invalid_datetime",
            errors={"datetime": [f"Not an instant with offset: {text[:40]!r}."]},
        )
    return value


def _parse_interval(value: Any) -> tuple[dt.datetime | None, dt.datetime | None, str]:
    if value in (None, ""):
        return None, None, ""
    if not isinstance(value, str) or len(value) > 100:
        raise ValidationFailed("datetime must be text.", code="invalid_datetime", errors={"datetime": ["Give text."]})
    if "/" in value:
        start_text, _, end_text = value.partition("/")
        start, end = _parse_instant(start_text), _parse_instant(end_text)
        if start is not None and end is not None and start > end:
            raise ValidationFailed(
                "The interval ends before it starts.",
                code="invalid_datetime",
                errors={"datetime": ["start is after end."]},
            )
        return start, end, value
    instant = _parse_instant(value)
    if instant is None:
        raise ValidationFailed("datetime is empty.", code="invalid_datetime", errors={"datetime": ["Give a time."]})
    return instant, instant, value


@transaction.atomic
def export_request(
    *,
    by: User,
    collection: str,
    format: str,
    case: ApprovalCase | None = None,
    bbox: Any = None,
    datetime: Any = None,
) -> Export:
    """Validate and record an export of `collection` as `format`; it runs after commit."""
    if collection not in COLLECTIONS:
        raise ValidationFailed(
            f"Unknown collection {str(collection)[:40]!r}.",
            code="unknown_collection",
            errors={"collection": [f"One of: {', '.join(COLLECTIONS)}."]},
        )
    if format not in ExportFormat.values:
        raise ValidationFailed(
            f"Unknown format {str(format)[:20]!r}.",
            code="unknown_format",
            errors={"format": [f"One of: {', '.join(ExportFormat.values)}."]},
        )
    if case is not None and not cases_visible_to(user=by).filter(pk=case.pk).exists():
        raise NotFound("No such case.")
    numbers = _parse_bbox(bbox)
    start, end, text = _parse_interval(datetime)
    export = Export.objects.create(
        owner=by,
        collection=collection,
        format=format,
        case=case,
        bbox=numbers,
        datetime_start=start,
        datetime_end=end,
        datetime_text=text,
        expires_at=timezone.now() + dt.timedelta(hours=settings.EXPORT_TTL_HOURS),
    )
    export_id = export.pk
    transaction.on_commit(lambda: export_schedule(export_id=export_id))
    return export


def export_schedule(*, export_id: uuid.UUID) -> None:
    if settings.EXPORTS_INLINE:
        export_run(export_id=export_id)
        return
    from backend.exports.tasks import export_run_task

    export_run_task.defer(export_id=str(export_id))


def export_sql(*, export: Export) -> str:
    """The export's rows as one SQL statement with its values inlined (ogr2ogr takes no params).

    The scope is the record type's selector for the owner, the same query REST runs.
    """
    collection: Collection = COLLECTIONS[export.collection]
    scoped = RECORD_TYPES[collection.record_type].visible_to(user=export.owner).values("pk")
    scoped_sql, scoped_params = scoped.query.sql_with_params()
    columns = collection_columns_sql(collection)
    if export.format in (ExportFormat.XLSX,):
        # Spreadsheets have no geometry column: the geometry travels as WKT text.
        columns += f", ST_AsText({collection.geometry_sql}) AS wkt"
    where = [f"t.id IN ({scoped_sql})"]
    params: list[Any] = list(scoped_params)
    if export.case_id is not None:
        where.append("t.case_id = %s")
        params.append(export.case_id)
    if export.bbox:
        where.append(f"ST_Intersects({collection.geometry_sql}, ST_MakeEnvelope(%s, %s, %s, %s, 4326))")
        params.extend(export.bbox)
    start, end = export.datetime_start, export.datetime_end
    if start is not None and start == end:
        where.append(f"{collection.time_sql} = %s")
        params.append(start)
    else:
        if start is not None:
            where.append(f"{collection.time_sql} >= %s")
            params.append(start)
        if end is not None:
            where.append(f"{collection.time_sql} <= %s")
            params.append(end)
    sql = (
        f"SELECT {columns}, {collection.geometry_sql} AS geom FROM {collection_from_sql(collection)} "
        f"WHERE {' AND '.join(where)} ORDER BY t.created_at, t.id"
    )
    return connection.ops.compose_sql(sql, params)


def _pg_source() -> tuple[str, dict[str, str]]:
    """The PG: connection string for ogr2ogr; the password travels in the environment."""
    db = connection.settings_dict
    parts = [f"dbname='{db['NAME']}'"]
    for key, name in (("HOST", "host"), ("PORT", "port"), ("USER", "user")):
        if db.get(key):
            parts.append(f"{name}='{db[key]}'")
    environment = dict(os.environ)
    if db.get("PASSWORD"):
        environment["PGPASSWORD"] = str(db["PASSWORD"])
    return "PG:" + " ".join(parts), environment


def export_root() -> Path:
    return Path(settings.EXPORTS_ROOT)


def export_path(*, export: Export) -> Path:
    return export_root() / str(export.pk) / export.file_name


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) q")
        return int(cursor.fetchone()[0])


def _set(export_id: uuid.UUID, **fields: Any) -> None:
    Export.objects.filter(pk=export_id).update(**fields)


def export_run(*, export_id: uuid.UUID) -> str:
    """Write the export's file; records progress while ogr2ogr runs. Returns the final status."""
    # Claim the job once: a retried or duplicated task finds it running or done.
    claimed = Export.objects.filter(pk=export_id, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING)
    if not claimed:
        return "skipped"
    export = Export.objects.select_related("owner").get(pk=export_id)
    driver, extension, options = DRIVERS[export.format]
    collection = COLLECTIONS[export.collection]
    sql = export_sql(export=export)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    base = f"{export.collection}-{stamp}"
    target_dir = export_root() / str(export.pk)
    target_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="export-", dir=target_dir))
    try:
        rows = _count(sql)
        output = work / f"{base}.{extension}"
        source, environment = _pg_source()
        command = [
            settings.OGR2OGR,
            "-f",
            driver,
            str(output),
            source,
            "-sql",
            sql,
            "-nln",
            export.collection,
            "-a_srs",
            "EPSG:4326",
            "-nlt",
            collection.ogr_geometry_type,
            "-progress",
            *options,
        ]
        _ogr2ogr(command, environment=environment, export_id=export.pk)
        if export.format == ExportFormat.SHP:
            final = work / f"{base}.zip"
            with zipfile.ZipFile(final, "w", zipfile.ZIP_DEFLATED) as archive:
                for part in sorted(work.glob(f"{base}.*")):
                    if part.suffix != ".zip":
                        archive.write(part, arcname=part.name)
        else:
            final = output
        destination = target_dir / final.name
        final.replace(destination)
    except (OSError, subprocess.SubprocessError, ExportToolFailed) as error:
        _set(export.pk, status=JobStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now())
        shutil.rmtree(target_dir, ignore_errors=True)
        return JobStatus.FAILED
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _set(
        export.pk,
        status=JobStatus.DONE,
        progress=100,
        row_count=rows,
        file_name=destination.name,
        file_size=destination.stat().st_size,
        finished_at=timezone.now(),
    )
    return JobStatus.DONE


class ExportToolFailed(Exception):
    pass


def _ogr2ogr(command: list[str], *, environment: dict[str, str], export_id: uuid.UUID) -> None:
    """Run ogr2ogr, turning its `0...10...20` progress output into the export's progress."""
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=environment) as process,
    ):
        reported = 0
        buffer = ""
        assert process.stdout is not None
        while chunk := process.stdout.read(16):
            buffer = (buffer + chunk.decode("ascii", "replace"))[-64:]
            found = [int(n) for n in PROGRESS.findall(buffer)]
            # Hold 100 back until the file is in place.
            current = min(max(found, default=reported), 99)
            if current >= reported + 10:
                reported = current
                _set(export_id, progress=reported)
        try:
            process.wait(timeout=settings.EXPORT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        if process.returncode != 0:
            errors.seek(0)
            raise ExportToolFailed(errors.read()[-2000:].decode("utf-8", "replace"))


def export_for(*, user: User, export_id: uuid.UUID) -> Export:
    """The user's own export; another user's is as absent as a missing one."""
    export = Export.objects.filter(pk=export_id, owner=user).first()
    if export is None:
        raise NotFound("No such export.", code="export_not_found")
    return export


def export_file(*, export: Export) -> Path:
    """The finished file's path, or why there is none."""
    if export.status == JobStatus.EXPIRED or export.expires_at <= timezone.now():
        raise ExportExpired("The export has expired; request it again.")
    if export.status == JobStatus.FAILED:
        raise ExportFailed("The export failed.", extra={"error": export.error[:500]})
    if export.status != JobStatus.DONE:
        raise ExportNotReady(
            f"The export is {export.status} ({export.progress}%).", extra={"progress": export.progress}
        )
    path = export_path(export=export)
    if not path.is_file():
        raise ExportExpired("The export's file is gone; request it again.")
    return path


def exports_expire(*, now: dt.datetime | None = None) -> int:
    """Remove the files of exports past their expiry; returns how many expired."""
    now = now or timezone.now()
    count = 0
    for export in Export.objects.filter(expires_at__lte=now).exclude(status=JobStatus.EXPIRED).only("pk"):
        shutil.rmtree(export_root() / str(export.pk), ignore_errors=True)
        _set(export.pk, status=JobStatus.EXPIRED, file_name="", file_size=None)
        count += 1
    return count
