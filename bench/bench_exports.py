"""A scoped GPKG export of BENCH_EXPORT_POINTS utility points vs ogr2ogr reading the table directly.

Against its own database (BENCH_DATABASE_NAME, default bench_exports: created and migrated when
missing, through bench.harness like every bench; the points are inserted once). The export runs exactly as the worker runs it
(`export_run`: scoped selector SQL, ogr2ogr streaming from PostGIS, progress updates); the
baseline is `ogr2ogr -f GPKG out.gpkg PG:… utilities_utilitypoint`. Prints seconds, the ratio of
speeds, and the worker process's resident memory growth.

Environment: BENCH_EXPORT_POINTS (1 000 000).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import ROOT, recreate_database, use_database  # noqa: E402

DATABASE = use_database("bench_exports")
PYTHON = sys.executable

RUN = r"""
import os, resource, subprocess, tempfile, time
from pathlib import Path
from django.conf import settings
from django.db import connection
from backend.accounts.models import Organization, OrganizationKind, Role, User
from backend.cases.models import ApprovalCase, Project
from backend.exports.models import Export
from backend.exports.services import _pg_source, export_path, export_request, export_run

count = int(os.environ["BENCH_EXPORT_POINTS"])
department, _ = Organization.objects.get_or_create(
    name="bench-exports 审批局", defaults={"kind": OrganizationKind.APPROVAL_DEPARTMENT, "region": "370211"})
company, _ = Organization.objects.get_or_create(
    name="bench-exports 供水公司", defaults={"kind": OrganizationKind.UTILITY_COMPANY})
builder, _ = Organization.objects.get_or_create(name="bench-exports 建设单位", defaults={"kind": OrganizationKind.BUILDER})
user, _ = User.objects.get_or_create(username="bench-exports", defaults={"organization": department, "roles": [Role.OFFICIAL]})
project, _ = Project.objects.get_or_create(
    code="2404-370211-04-01-777777", defaults={"name": "bench", "builder": builder, "region_code": "370211"})
case, _ = ApprovalCase.objects.get_or_create(
    external_no="BENCH-EXPORTS", defaults={"project": project, "opened_at": "2026-03-02T09:00:00+08:00"})
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM utilities_utilitypoint")
    have = cursor.fetchone()[0]
    if have < count:
        cursor.execute(
            "INSERT INTO utilities_utilitypoint (id, case_id, version, created_at, updated_at, device_id, is_locked,"
            " field_versions, client_digest, utility_type, company_id, name, location, status, attributes, note)"
            " SELECT gen_random_uuid(), %s, 1, now() - make_interval(secs => n), now(), '', false, '{}', '',"
            " 'water', %s, '接入点 ' || n, ST_SetSRID(ST_MakePoint(120 + random() * 0.5, 35.8 + random() * 0.4), 4326),"
            " 'proposed', '{}', '备注'"
            " FROM generate_series(%s, %s) n",
            [case.pk, company.pk, have + 1, count],
        )
        cursor.execute("ANALYZE utilities_utilitypoint")
    cursor.execute("SELECT count(*) FROM utilities_utilitypoint")
    total = cursor.fetchone()[0]

settings.EXPORTS_INLINE = False
settings.EXPORTS_ROOT = Path(tempfile.mkdtemp(prefix="bench-exports-"))

def rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

export = export_request(by=user, collection="utility_points", format="gpkg")
before = rss_mib()
started = time.perf_counter()
export_run(export_id=export.pk)
ours = time.perf_counter() - started
after = rss_mib()
export = Export.objects.get(pk=export.pk)
assert export.status == "done", export.error
size = export_path(export=export).stat().st_size

source, environment = _pg_source()
baseline_file = settings.EXPORTS_ROOT / "baseline.gpkg"
started = time.perf_counter()
subprocess.run([settings.OGR2OGR, "-f", "GPKG", str(baseline_file), source, "utilities_utilitypoint"],
               env=environment, check=True, capture_output=True)
baseline = time.perf_counter() - started
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"rows in table {total}, exported {export.row_count} ({size / 2**20:.0f} MiB GPKG)")
print(f"{'':28}{'seconds':>10}{'rows/s':>12}")
print(f"{'export_run (scoped)':28}{ours:10.1f}{export.row_count / ours:12.0f}")
print(f"{'ogr2ogr table → GPKG':28}{baseline:10.1f}{total / baseline:12.0f}")
print(f"speed ratio (export / ogr2ogr): {(export.row_count / ours) / (total / baseline):.2f} (target >= 0.5)")
print(f"worker RSS {before:.0f} → {after:.0f} MiB (growth {after - before:.0f} MiB, target <= 200); "
      f"largest ogr2ogr child {children:.0f} MiB")
"""


def _run(arguments: list[str], environment: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 - fixed commands
        arguments, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=3600, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments[:3])} failed: {result.stderr[-2000:]}")
    return result.stdout


def main() -> None:
    environment = {**os.environ, "BENCH_EXPORT_POINTS": os.environ.get("BENCH_EXPORT_POINTS", "1000000")}
    print(f"preparing database {DATABASE.name} …", flush=True)
    recreate_database(DATABASE, keep=True)
    _run([PYTHON, "manage.py", "migrate", "--noinput"], environment)
    print(_run([PYTHON, "manage.py", "shell", "-c", RUN], environment), end="", flush=True)
