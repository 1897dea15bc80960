"""What the sync benches share: COPY in and out (their raw baselines and bulk loads) and the
survey crew's case they push to and pull from. Django is imported when called, after the bench
has chosen its database (bench.harness.use_database)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any


def copy_text(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_in(sql: str, lines: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write("".join(lines))


def copy_out(sql: str) -> tuple[int, int]:
    """Rows and bytes COPY sends for `sql` (read and dropped)."""
    from django.db import connection

    rows = size = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for data in copy:
            chunk = bytes(data)
            rows += chunk.count(b"\n")
            size += len(chunk)
    return rows, size


def copy_rows(model: Any, rows: list[dict]) -> None:
    """COPY rows (attname → value) into the model's table, every concrete column."""
    columns = [f.attname for f in model._meta.concrete_fields]
    column_list = ", ".join(f'"{c}"' for c in columns)
    lines = ["\t".join(copy_text(row.get(c)) for c in columns) + "\n" for row in rows]
    copy_in(f'COPY "{model._meta.db_table}" ({column_list}) FROM STDIN', lines)


def crew_case() -> tuple[Any, Any, Any]:
    """A survey crew member, a case of a key project assigned to the crew, and a department."""
    from backend.accounts.models import Organization, OrganizationKind, Role, User
    from backend.cases.models import ApprovalCase, Project

    suffix = uuid.uuid4().hex[:8]
    builder = Organization.objects.create(name=f"建设单位{suffix}", kind=OrganizationKind.BUILDER)
    crew = Organization.objects.create(name=f"踏勘组{suffix}", kind=OrganizationKind.SURVEY_CREW)
    department = Organization.objects.create(
        name=f"规划部门{suffix}", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"
    )
    user = User.objects.create(username=f"bench{suffix}", organization=crew, roles=[Role.SURVEYOR])
    project = Project.objects.create(
        code=f"2404-370211-04-01-{uuid.uuid4().int % 1_000_000:06d}",
        name="青岛西海岸新区重点工业项目",
        builder=builder,
        investment_type="private",
        category="social_investment",
        region_code="370211",
    )
    case = ApprovalCase.objects.create(
        external_no=f"BENCH-{suffix}",
        project=project,
        stage="engineering_planning",
        status=3,
        opened_at="2026-03-02T09:00:00+08:00",
    )
    case.assigned_organizations.add(crew)
    return user, case, department


def copy_audit_entries(rows: list[tuple[str, dict]], *, user) -> None:
    """Hash-chained audit entries for rows written by COPY, so the feed carries them."""
    import datetime as dt

    from django.db import transaction

    from backend.audit.models import AuditEntry
    from backend.audit.services import GENESIS_HASH, entry_hash, entry_payload

    # Each row is a new record: its chain starts at the genesis (txid and chain: database defaults).
    skipped = {"id", "txid", "chain"}
    with transaction.atomic():
        entries = []
        for record_type, row in rows:
            entry = AuditEntry(
                occurred_at=dt.datetime.now(dt.UTC),
                actor_id=user.pk,
                actor_username=user.username,
                device_id="bench",
                action="create",
                record_type=record_type,
                record_id=row["id"],
                case_id=row["case_id"],
                version=1,
                before=None,
                after={"id": str(row["id"])},
                reason="",
                prev_hash=GENESIS_HASH,
            )
            entry.hash = entry_hash(prev_hash=GENESIS_HASH, payload=entry_payload(entry))
            entries.append(
                {
                    f.attname: getattr(entry, f.attname)
                    for f in AuditEntry._meta.concrete_fields
                    if f.attname not in skipped
                }
            )
        columns = [f.attname for f in AuditEntry._meta.concrete_fields if f.attname not in skipped]
        lines = ["\t".join(copy_text(entry[c]) for c in columns) + "\n" for entry in entries]
        copy_in(f"COPY audit_auditentry ({', '.join(columns)}) FROM STDIN", lines)


# --- the run -----------------------------------------------------------------------------
