"""The full-chain plan of a project (全流程计划): its total standard time across its cases.

Seed 003: the standard time (民营和外资 160, 简易低风险厂房 60, 国有 210 days; the project's
`standard_days_override` when set) runs from the project's start milestone (the land contract, or
for projects without land the project approval) to the construction permit; the completion
acceptance stage is not counted in it. Days are calendar days unless `STANDARD_DAYS_UNIT` is
`working` (then working days of the national calendar, nothing guessed past its horizon).

The construction permit is obtained when the project has a construction-permit case and every item
of it is done with a result (approved, approved with tolerance or refused): its date is the last
item's completion. A user sees the plan of a project they may see, built from the cases they may
see (`cases_visible_to`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

from backend.accounts.models import User
from backend.cases.deadlines import (
    CLOCK_STOPPING_STATUSES,
    WorkingCalendar,
    add_working_days,
    calendar_load,
    deadline_error_of,
    item_accepted_on,
    items_deadlines,
    standard_days_for,
    working_days_between,
)
from backend.cases.models import TERMINAL_BLZT, ApprovalItem, Project, Stage
from backend.cases.selectors import cases_visible_to
from backend.common.errors import CalendarHorizonExceeded

STAGE_ORDER = [
    Stage.LAND_USE_PLANNING,
    Stage.ENGINEERING_PLANNING,
    Stage.CONSTRUCTION_PERMIT,
    Stage.COMPLETION_ACCEPTANCE,
]
# Stages the total standard time runs across (seed 003: 立项到取得施工许可).
COUNTED_STAGES = frozenset({Stage.LAND_USE_PLANNING, Stage.ENGINEERING_PLANNING, Stage.CONSTRUCTION_PERMIT})
UNITS = ("calendar", "working")


def project_standard_days(project: Project) -> int:
    return standard_days_for(
        investment_type=project.investment_type,
        is_simple_low_risk=project.is_simple_low_risk,
        override=project.standard_days_override,
    )


class _Days:
    """Days between dates in the standard's unit; past the calendar's horizon, None and the error."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self._calendar: WorkingCalendar | None = None
        self.error: dict[str, Any] | None = None

    @property
    def calendar(self) -> WorkingCalendar:
        if self._calendar is None:
            self._calendar = calendar_load()
        return self._calendar

    def between(self, start: dt.date, end: dt.date) -> int | None:
        if self.unit == "calendar":
            return (end - start).days
        if end < start:
            return -self.between(end, start) if self.between(end, start) is not None else None
        try:
            return working_days_between(self.calendar, start, end, purpose="standard time")
        except CalendarHorizonExceeded as error:
            self.error = self.error or deadline_error_of(error)
            return None

    def add(self, start: dt.date, days: int) -> dt.date | None:
        if self.unit == "calendar":
            return start + dt.timedelta(days=days)
        try:
            return add_working_days(self.calendar, start, days, purpose="standard end")
        except CalendarHorizonExceeded as error:
            self.error = self.error or deadline_error_of(error)
            return None


def _item_row(item: ApprovalItem, deadline: Any) -> dict[str, Any]:
    accepted_on = item_accepted_on(item)
    completed_on = (
        timezone.localdate(item.completed_at)
        if item.completed_at is not None and item.status in CLOCK_STOPPING_STATUSES
        else None
    )
    remaining = deadline.remaining_working_days
    return {
        "id": item.pk,
        "name": item.name,
        "department": item.department_id,
        "department_name": item.department.name,
        "status": item.status,
        "statutory_days": item.statutory_days,
        "promised_days": item.promised_days,
        "standard_start": accepted_on,
        "standard_end": deadline.due_date,
        "actual_start": accepted_on,
        "actual_end": completed_on,
        "elapsed_working_days": item.promised_days - remaining if remaining is not None else None,
        "remaining_working_days": remaining,
        "warning_level": deadline.warning_level,
        "first_overdue_on": item.first_overdue_on or deadline.first_overdue_on,
    }


def _stage_row(stage: str, cases: list[Any], items: list[dict[str, Any]], *, days: _Days, as_of: dt.date) -> dict:
    starts = [d for d in (row["actual_start"] for row in items) if d is not None]
    starts += [timezone.localdate(case.opened_at) for case in cases]
    actual_start = min(starts) if starts else None
    is_done = bool(cases) and bool(items) and all(row["status"] in TERMINAL_BLZT for row in items)
    actual_end = max(row["actual_end"] for row in items) if is_done else None
    due_dates = [row["standard_end"] for row in items]
    standard_end = max(due_dates) if due_dates and all(d is not None for d in due_dates) else None
    elapsed = days.between(actual_start, actual_end or as_of) if actual_start and actual_start <= as_of else None
    return {
        "stage": stage,
        "label": Stage(stage).label,
        "is_counted": stage in COUNTED_STAGES,
        "status": "done" if is_done else ("running" if actual_start else "not_started"),
        "cases": [
            {"id": case.pk, "external_no": case.external_no, "status": case.status, "opened_at": case.opened_at}
            for case in cases
        ],
        "standard_start": actual_start,
        "standard_end": standard_end,
        "actual_start": actual_start,
        "actual_end": actual_end,
        "elapsed_days": elapsed,
        "items": items,
    }


def project_plan(*, project: Project, user: User, as_of: dt.date) -> dict[str, Any]:
    """The project's plan at `as_of` from the cases `user` may see (the project must be visible)."""
    unit = settings.STANDARD_DAYS_UNIT
    days = _Days(unit)
    cases = list(cases_visible_to(user=user).filter(project=project).order_by("opened_at", "external_no"))
    items = list(
        ApprovalItem.objects.filter(case__in=[case.pk for case in cases])
        .select_related("department")
        .prefetch_related("status_events")
        .order_by("accepted_at", "created_at", "id")
    )
    deadlines = items_deadlines(items=items, as_of=as_of)
    stage_of_case = {case.pk: case.stage for case in cases}
    stages = []
    for stage in STAGE_ORDER:
        stage_cases = [case for case in cases if case.stage == stage]
        rows = [_item_row(item, deadlines[item.pk]) for item in items if stage_of_case[item.case_id] == stage]
        stages.append(_stage_row(stage, stage_cases, rows, days=days, as_of=as_of))
    permit = next(row for row in stages if row["stage"] == Stage.CONSTRUCTION_PERMIT)
    permit_on = permit["actual_end"]
    standard_days = project_standard_days(project)
    start_on = project.start_milestone_on
    elapsed = remaining = standard_end = None
    status = "no_start_milestone"
    if start_on is not None:
        standard_end = days.add(start_on, standard_days)
        end = permit_on or as_of
        elapsed = days.between(start_on, end) if end >= start_on else 0
        remaining = standard_days - elapsed if elapsed is not None else None
        status = "permit_obtained" if permit_on else "running"
    return {
        "project": project.pk,
        "code": project.code,
        "name": project.name,
        "as_of": as_of,
        "start_milestone": project.start_milestone or None,
        "start_milestone_label": project.get_start_milestone_display() if project.start_milestone else None,
        "start_milestone_on": start_on,
        "standard_days": standard_days,
        "standard_days_unit": unit,
        "is_standard_days_overridden": project.standard_days_override is not None,
        "standard_end": standard_end,
        "construction_permit_on": permit_on,
        "status": status,
        "elapsed_days": elapsed,
        "remaining_days": remaining,
        "is_over_standard": remaining is not None and remaining < 0,
        "error": days.error,
        "stages": stages,
    }
