"""Every field record of a case, oldest first, across all registered record types."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import CharField, Value

from backend.records.registry import RECORD_TYPES

if TYPE_CHECKING:  # cases' own records (material scans) import the kernel
    from backend.cases.models import ApprovalCase


@dataclass(frozen=True)
class TimelineSource:
    """Records on the timeline that are not field records (e.g. supervisions): a model with
    `case_id`, `created_at`, `updated_at`, `version`, `is_locked`, `created_by_id`."""

    name: str
    model: Any
    visible_to: Callable[..., Any]
    label: str = ""


TIMELINE_SOURCES: dict[str, TimelineSource] = {}


def register_timeline_source(source: TimelineSource) -> None:
    TIMELINE_SOURCES[source.name] = source


def _sources() -> dict[str, Any]:
    return {**RECORD_TYPES, **TIMELINE_SOURCES}


@dataclass(frozen=True)
class TimelineEntry:
    type: str
    label: str
    record: Any


def case_timeline_page(*, case: "ApprovalCase", user: Any, offset: int, limit: int) -> tuple[int, list[TimelineEntry]]:
    """One page of the case's records visible to `user`, ordered by creation time.

    The order and the page are decided by one UNION ALL query over (created_at, id) only, so
    the cost is bounded by the page, not by the number of records in the case.
    """
    sources = _sources()
    parts = []
    for name, record_type in sources.items():
        visible = record_type.visible_to(user=user)
        # Records of several cases (a coordination meeting) say which of them are the case's.
        of_case = visible.of_case(case.pk) if hasattr(visible, "of_case") else visible.filter(case_id=case.pk)
        parts.append(
            of_case.annotate(timeline_record_type=Value(name, output_field=CharField()))
            .values_list("created_at", "id", "timeline_record_type")
            .order_by()
        )
    if not parts:
        return 0, []
    union = parts[0].union(*parts[1:], all=True)
    total = union.count()
    keys = list(union.order_by("created_at", "id")[offset : offset + limit])
    by_type: dict[str, list] = {}
    for _created, record_id, name in keys:
        by_type.setdefault(name, []).append(record_id)
    records = {}
    for name, ids in by_type.items():
        for record in sources[name].model.objects.filter(pk__in=ids):
            records[(name, record.pk)] = record
    entries = [
        TimelineEntry(type=name, label=sources[name].label, record=records[(name, record_id)])
        for _created, record_id, name in keys
        if (name, record_id) in records
    ]
    return total, entries
