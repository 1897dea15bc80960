"""`stats/service/`: the figures the seeds report about the approval service and its vehicle.

Each figure is one function registered with `@figure(key, label, dimensions, measures)`: it gets
the scope (the user's visible records, the period, the region) and returns flat rows of its
dimensions and measures, computed set-based in PostgreSQL. Adding a figure is adding a function;
the JSON, CSV and XLSX forms are built from the registry.

Figures that would need records the system does not hold are listed in `MISSING` (and in every
answer's `missing`); today there are none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db.models import Count, Exists, F, Func, IntegerField, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from backend.accounts.models import User
from backend.cases.models import ApprovalCase, ApprovalItem, ItemMode, Material
from backend.cases.selectors import cases_visible_to
from backend.common.errors import ValidationFailed
from backend.stats.periods import Period, completed_in, working_days_used_rows


@dataclass(frozen=True)
class Scope:
    user: User
    period: Period
    region: str | None = None

    @cached_property
    def cases(self) -> QuerySet[ApprovalCase]:
        cases = cases_visible_to(user=self.user)
        if self.region:
            cases = cases.filter(project__region_code__startswith=self.region)
        return cases

    def in_cases(self, qs: QuerySet) -> QuerySet:
        return qs.filter(case__in=self.cases)

    @cached_property
    def items(self) -> QuerySet[ApprovalItem]:
        return self.in_cases(ApprovalItem.objects.all())


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    compute: Callable[[Scope], list[dict[str, Any]]]


FIGURES: list[Figure] = []

# Figures the seeds report that need records not held yet: key → (label, why).
MISSING: dict[str, tuple[str, str]] = {}


def figure(key: str, label: str, *, dimensions: tuple[str, ...], measures: tuple[str, ...]):
    def register(compute: Callable[[Scope], list[dict[str, Any]]]) -> Callable[[Scope], list[dict[str, Any]]]:
        FIGURES.append(Figure(key, label, dimensions, measures, compute))
        return compute

    return register


def region_from(raw: str | None) -> str | None:
    """A region is the leading 2, 4 or 6 digits of the administrative division code (37, 3702, 370211)."""
    if not raw:
        return None
    if not (raw.isdigit() and len(raw) in (2, 4, 6)):
        message = "region is 2, 4 or 6 digits of the administrative division code (37, 3702, 370211)."
        raise ValidationFailed(message, errors={"region": [message]})
    return raw


# --- the figures ---------------------------------------------------------------------------


@figure(
    "visits",
    "直通车上门服务（按目的和状态）",
    dimensions=("purpose", "status"),
    measures=("visits",),
)
def visits_by_purpose_and_status(scope: Scope) -> list[dict[str, Any]]:
    from backend.visits.models import VisitPurpose
    from backend.visits.selectors import visits_visible_to

    visits = scope.in_cases(visits_visible_to(user=scope.user)).filter(scope.period.contains("scheduled_for"))
    counts = (
        visits.order_by()
        .values("status")
        .annotate(**{purpose: Count("pk", filter=Q(purpose__contains=[purpose])) for purpose in VisitPurpose.values})
    )
    rows = []
    for row in sorted(counts, key=lambda r: r["status"]):
        for purpose in VisitPurpose.values:
            if row[purpose]:
                rows.append({"purpose": purpose, "status": row["status"], "visits": row[purpose]})
    return rows


@figure(
    "on_site_items",
    "现场受理和可现场审批事项（按部门）",
    dimensions=("department",),
    measures=("accepted", "accepted_on_site", "decidable_completed"),
)
def on_site_items(scope: Scope) -> list[dict[str, Any]]:
    """Per department, from the on-site catalogue (backend.onsite): items accepted in the period
    whose entry allows on-site acceptance, those of them accepted while a vehicle visit for intake
    was on the case's site (between its arrival and its end), and items the catalogue lets a
    delegate decide on site that were done with a result in the period."""
    from backend.onsite.models import OnsiteItem
    from backend.visits.models import Visit, VisitPurpose

    def in_catalogue(flag: str) -> Exists:
        return Exists(
            OnsiteItem.objects.filter(
                department_id=OuterRef("department_id"), name=OuterRef("name"), active=True, **{flag: True}
            )
        )

    during_intake = Exists(
        Visit.objects.filter(
            case_id=OuterRef("case_id"),
            purpose__contains=[VisitPurpose.INTAKE],
            started_at__lte=OuterRef("accepted_at"),
        ).filter(Q(ended_at__isnull=True) | Q(ended_at__gte=OuterRef("accepted_at")))
    )
    accepted = (
        scope.items.filter(scope.period.contains("accepted_at"))
        .filter(in_catalogue("accept_on_site"))
        .values("department__name")
        .annotate(accepted=Count("pk"), accepted_on_site=Count("pk", filter=during_intake))
    )
    decided = (
        completed_in(scope.items, scope.period)
        .filter(in_catalogue("decide_on_site"))
        .values("department__name")
        .annotate(decidable_completed=Count("pk"))
    )
    rows: dict[str, dict[str, Any]] = {}
    for row in accepted:
        rows[row["department__name"]] = {
            "department": row["department__name"],
            "accepted": row["accepted"],
            "accepted_on_site": row["accepted_on_site"],
            "decidable_completed": 0,
        }
    for row in decided:
        entry = rows.setdefault(
            row["department__name"],
            {"department": row["department__name"], "accepted": 0, "accepted_on_site": 0, "decidable_completed": 0},
        )
        entry["decidable_completed"] = row["decidable_completed"]
    return [rows[name] for name in sorted(rows)]


@figure("surveys", "联合踏勘（按状态和结论）", dimensions=("status", "conclusion"), measures=("surveys",))
def surveys_by_status(scope: Scope) -> list[dict[str, Any]]:
    from backend.surveys.selectors import surveys_visible_to

    surveys = scope.in_cases(surveys_visible_to(user=scope.user)).filter(scope.period.contains("scheduled_at"))
    rows = (
        surveys.order_by().values("status", "conclusion").annotate(surveys=Count("pk")).order_by("status", "conclusion")
    )
    return [{"status": r["status"], "conclusion": r["conclusion"] or None, "surveys": r["surveys"]} for r in rows]


@figure(
    "findings",
    "问题清单（新增、解决、超期）",
    dimensions=(),
    measures=("opened", "resolved", "overdue", "open_at_end"),
)
def findings_counts(scope: Scope) -> list[dict[str, Any]]:
    from backend.surveys.models import FindingStatus
    from backend.surveys.selectors import findings_visible_to

    findings = scope.in_cases(findings_visible_to(user=scope.user))
    as_of = scope.period.as_of
    _, end = scope.period.bounds()
    open_at_end = Q(created_at__lt=end) & (Q(status=FindingStatus.OPEN) | Q(resolved_at__gte=end))
    counts = findings.aggregate(
        opened=Count("pk", filter=scope.period.contains("created_at")),
        resolved=Count("pk", filter=scope.period.contains("resolved_at")),
        overdue=Count("pk", filter=open_at_end & Q(due_date__lt=as_of)),
        open_at_end=Count("pk", filter=open_at_end),
    )
    return [counts]


@figure(
    "inspections",
    "竣工联合验收事项（按阶段和结果）",
    dimensions=("stage", "result"),
    measures=("items",),
)
def inspection_results(scope: Scope) -> list[dict[str, Any]]:
    from backend.acceptance.selectors import inspection_items_visible_to

    items = scope.in_cases(inspection_items_visible_to(user=scope.user)).annotate(
        when=Coalesce("inspection__scheduled_at", "inspection__created_at")
    )
    rows = (
        items.filter(scope.period.contains("when"))
        .order_by()
        .values("inspection__stage", "result")
        .annotate(items=Count("pk"))
        .order_by("inspection__stage", "result")
    )
    return [{"stage": r["inspection__stage"], "result": r["result"], "items": r["items"]} for r in rows]


@figure(
    "tolerance_and_commitment",
    "容缺受理和告知承诺事项",
    dimensions=("mode",),
    measures=("items", "promised_materials", "received_on_time", "received_late", "pending", "overdue"),
)
def tolerance_and_commitment(scope: Scope) -> list[dict[str, Any]]:
    """Items accepted in the period under tolerance acceptance (容缺) or notification-commitment
    (告知承诺); for tolerance, the materials promised and how the promises were kept at the end."""
    accepted = scope.items.filter(scope.period.contains("accepted_at"))
    as_of = scope.period.as_of
    _, end = Period(start=as_of, end=as_of).bounds()
    zone = timezone.get_default_timezone()
    rows = []
    for mode in (ItemMode.TOLERANCE, ItemMode.COMMITMENT):
        items = accepted.filter(modes__contains=[mode])
        row: dict[str, Any] = {"mode": mode, "items": items.count()}
        materials = Material.objects.filter(item__in=items, promised_by__isnull=False).annotate(
            received_on=TruncDate("received_at", tzinfo=zone)
        )
        received = Q(received_at__lt=end)
        missing = Q(received_at__isnull=True) | Q(received_at__gte=end)
        row.update(
            materials.aggregate(
                promised_materials=Count("pk"),
                received_on_time=Count("pk", filter=received & Q(received_on__lte=F("promised_by"))),
                received_late=Count("pk", filter=received & Q(received_on__gt=F("promised_by"))),
                pending=Count("pk", filter=missing & Q(promised_by__gte=as_of)),
                overdue=Count("pk", filter=missing & Q(promised_by__lt=as_of)),
            )
        )
        rows.append(row)
    return rows


@figure(
    "working_days_by_item",
    "办理用时与法定时限（按事项）",
    dimensions=("item",),
    measures=(
        "items",
        "average_used_working_days",
        "average_statutory_days",
        "average_promised_days",
        "used_of_statutory",
        "over_statutory",
        "over_promised",
    ),
)
def working_days_by_item(scope: Scope) -> list[dict[str, Any]]:
    """Items done with a result in the period, per item (by name): working days used against the
    statutory and promised limits (pauses excluded)."""
    rows = working_days_used_rows(completed_in(scope.items, scope.period), by="name")
    return [{"item": row.pop("key"), **row} for row in rows]


# --- the whole -----------------------------------------------------------------------------


@figure(
    "decided_on_site",
    "现场审批（按部门和结果）",
    dimensions=("department", "outcome"),
    measures=("decisions",),
)
def decided_on_site(scope: Scope) -> list[dict[str, Any]]:
    """On-site decisions (现场审批) made in the period by the departments' delegates."""
    from backend.onsite.selectors import onsite_decisions_visible_to

    decisions = scope.in_cases(onsite_decisions_visible_to(user=scope.user)).filter(scope.period.contains("decided_at"))
    rows = (
        decisions.order_by()
        .values("department__name", "outcome")
        .annotate(decisions=Count("pk"))
        .order_by("department__name", "outcome")
    )
    return [{"department": r["department__name"], "outcome": r["outcome"], "decisions": r["decisions"]} for r in rows]


@figure("certificates_issued", "现场出证（按部门）", dimensions=("department",), measures=("certificates",))
def certificates_issued(scope: Scope) -> list[dict[str, Any]]:
    from backend.onsite.selectors import certificates_visible_to

    certificates = scope.in_cases(certificates_visible_to(user=scope.user)).filter(scope.period.contains("issued_at"))
    rows = (
        certificates.order_by().values("department_name").annotate(certificates=Count("pk")).order_by("department_name")
    )
    return [{"department": r["department_name"], "certificates": r["certificates"]} for r in rows]


@figure(
    "meetings",
    "协调会（按类型）及解决问题",
    dimensions=("kind",),
    measures=("meetings", "held", "findings_taken_up", "findings_resolved"),
)
def meetings_and_findings(scope: Scope) -> list[dict[str, Any]]:
    """Meetings scheduled in the period (counted under their convening case), those held, the
    findings they took up and those their decisions resolved."""
    from backend.meetings.models import MeetingDecision, MeetingStatus
    from backend.meetings.selectors import meetings_visible_to

    meetings = scope.in_cases(meetings_visible_to(user=scope.user)).filter(scope.period.contains("scheduled_at"))
    counts = {
        row["kind"]: row
        for row in meetings.order_by()
        .values("kind")
        .annotate(
            meetings=Count("pk"),
            held=Count("pk", filter=Q(status__in=[MeetingStatus.HELD, MeetingStatus.CLOSED])),
            findings_taken_up=Coalesce(
                Sum(Func(F("findings"), function="cardinality", output_field=IntegerField())), 0
            ),
        )
    }
    resolved = {
        row["meeting__kind"]: row["resolved"]
        for row in MeetingDecision.objects.filter(meeting__in=meetings, resolves_finding=True, finding__isnull=False)
        .order_by()
        .values("meeting__kind")
        .annotate(resolved=Count("finding", distinct=True))
    }
    return [
        {
            "kind": kind,
            "meetings": counts[kind]["meetings"],
            "held": counts[kind]["held"],
            "findings_taken_up": counts[kind]["findings_taken_up"],
            "findings_resolved": resolved.get(kind, 0),
        }
        for kind in sorted(counts)
    ]


def service_stats(*, user: User, period: Period, region: str | None = None) -> dict[str, Any]:
    scope = Scope(user=user, period=period, region=region)
    return {
        "from": period.start,
        "to": period.end,
        "as_of": period.as_of,
        "region": region,
        "figures": [
            {
                "key": item.key,
                "label": item.label,
                "dimensions": list(item.dimensions),
                "measures": list(item.measures),
                "rows": item.compute(scope),
            }
            for item in FIGURES
        ],
        "missing": [{"key": key, "label": label, "reason": reason} for key, (label, reason) in MISSING.items()],
    }


def stats_table_rows(stats: dict[str, Any]) -> list[list[Any]]:
    """The figures as one long table (CSV): figure, label, group, measure, value."""
    table: list[list[Any]] = [["figure", "label", "group", "measure", "value"]]
    for item in stats["figures"]:
        for row in item["rows"]:
            group = "; ".join(f"{name}={_cell(row.get(name))}" for name in item["dimensions"])
            for measure in item["measures"]:
                table.append([item["key"], item["label"], group, measure, _cell(row.get(measure))])
    return table


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
