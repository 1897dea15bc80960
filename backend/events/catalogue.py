"""The catalogue of event types: what each one means, and which record change makes it.

Every field-record write reaches `_audit` in backend.records, which tells
`backend.events.services.event_record_changed`; that function asks this catalogue which event
types the change makes. A record app adds its types from its own `AppConfig.ready()`:

    from backend.events.catalogue import EventType, register_event_types, status_became

    register_event_types(
        EventType(
            name="meeting.scheduled",
            label="协调会已安排",
            description="A coordination meeting was scheduled.",
            record_type="meeting",
            when=status_became("scheduled"),
            extras=lambda meeting: {"attendees": [...]},
        ),
    )

Types without a `record_type` (approval items, deadlines) are made by the service that owns
the change, calling `backend.events.services.event_emit`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

# Any record type (record.reopened).
ANY_RECORD_TYPE = "*"
# Sent by POST webhooks/{id}/ping only; never stored as an event.
PING_EVENT_TYPE = "webhook.ping"


@dataclass(frozen=True, kw_only=True)
class RecordChange:
    instance: Any
    record_type: str
    action: str  # create, update, delete, lock, reopen, transition:<to>
    before: dict[str, Any] | None
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class EventType:
    name: str
    label: str
    description: str
    # The record type whose changes make it; "" for events made by a service (event_emit).
    record_type: str = ""
    when: Callable[[RecordChange], bool] | None = None
    # What the receiver needs beyond the record itself, computed in the change's transaction.
    extras: Callable[[Any], dict[str, Any]] | None = None


EVENT_TYPES: dict[str, EventType] = {}
# The names, sorted, kept in step with EVENT_TYPES: the OpenAPI enum (ENUM_NAME_OVERRIDES) reads it.
EVENT_TYPE_CHOICES: list[str] = []


def register_event_types(*event_types: EventType) -> None:
    for event_type in event_types:
        existing = EVENT_TYPES.get(event_type.name)
        if existing is not None and existing != event_type:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"Two declarations of the event type {event_type.name}.")
        if event_type.record_type and event_type.when is None:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"The record event type {event_type.name} needs `when`.")
        EVENT_TYPES[event_type.name] = event_type
    EVENT_TYPE_CHOICES[:] = sorted(EVENT_TYPES)


def event_type_names() -> list[str]:
    return sorted(EVENT_TYPES)


def event_types_for_change(change: RecordChange) -> list[EventType]:
    return [
        event_type
        for event_type in EVENT_TYPES.values()
        if event_type.record_type in (change.record_type, ANY_RECORD_TYPE) and event_type.when(change)
    ]


# --- predicates ------------------------------------------------------------------------------


def status_became(*values: str, field: str = "status") -> Callable[[RecordChange], bool]:
    """The change moved `field` into one of `values` (or created the record there).

    A reopen that puts the status back (signed → submitted) is record.reopened, not a second
    submission."""

    def when(change: RecordChange) -> bool:
        if change.action in {"delete", "reopen"} or change.after.get(field) not in values:
            return False
        return change.before is None or change.before.get(field) != change.after.get(field)

    return when


def action_is(*actions: str) -> Callable[[RecordChange], bool]:
    return lambda change: change.action in actions


# --- what receivers need beyond the record ---------------------------------------------------


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _survey_extras(survey: Any) -> dict[str, Any]:
    from backend.signatures.content import record_content_hash

    participants = survey.participants.select_related("department").order_by("created_at", "id")
    findings = survey.findings.order_by("created_at", "id")
    return {
        "conclusion": survey.conclusion,
        "conditions": survey.conditions,
        "opinions": [
            {
                "id": str(p.pk),
                "department": str(p.department_id),
                "department_name": p.department.name,
                "person_name": p.person_name,
                "must_attend": p.must_attend,
                "attended": p.attended,
                "opinion": p.opinion,
                "opinion_at": _iso(p.opinion_at),
                "is_waived": p.is_waived,
                "waived_reason": p.waived_reason,
            }
            for p in participants
        ],
        "findings": [
            {
                "id": str(f.pk),
                "description": f.description,
                "responsible_department": str(f.responsible_department_id),
                "due_date": _iso(f.due_date),
                "status": f.status,
            }
            for f in findings
        ],
        "content_hash": record_content_hash(record_type="survey", record=survey),
    }


REPORT_LINK_SALT = "events.inspection_report"


def inspection_report_link(inspection_id: Any) -> dict[str, Any]:
    """A link to the opinion PDF that works without a token until it expires (signed, salted)."""
    from django.urls import reverse

    token = signing.dumps({"inspection": str(inspection_id)}, salt=REPORT_LINK_SALT, compress=True)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.WEBHOOK_REPORT_LINK_SECONDS)
    path = reverse("api:event-inspection-report", kwargs={"token": token})
    return {"url": settings.PUBLIC_BASE_URL.rstrip("/") + path, "expires_at": expires.isoformat()}


def _inspection_extras(inspection: Any) -> dict[str, Any]:
    from backend.signatures.content import record_content_hash

    items = inspection.items.select_related("department").order_by("code", "created_at")
    return {
        "items": [
            {
                "id": str(item.pk),
                "code": item.code,
                "name": item.name,
                "department": str(item.department_id),
                "department_name": item.department.name,
                "result": item.result,
                "remarks": item.remarks,
                "is_final": item.is_final,
                "recorded_at": _iso(item.recorded_at),
            }
            for item in items
        ],
        "content_hash": record_content_hash(record_type="inspection", record=inspection),
        "report": inspection_report_link(inspection.pk),
    }


def register_builtin_event_types() -> None:
    """The types of the record apps that predate the catalogue, and of approval items."""
    register_event_types(
        EventType(
            name="case.item.status_changed",
            label="审批事项状态变更",
            description="An approval item's BLZT status changed (upsert by the approval system or a department).",
        ),
        EventType(
            name="deadline.level_changed",
            label="时限预警等级变更",
            description="The daily run found an approval item at another warning level (ok, warn7, remind5, "
            "supervise3, overdue).",
        ),
        EventType(
            name="survey.submitted",
            label="踏勘已提交",
            description="A joint site survey was submitted with its opinions and conclusion.",
            record_type="survey",
            when=status_became("submitted"),
            extras=_survey_extras,
        ),
        EventType(
            name="survey.signed",
            label="踏勘已签署",
            description="A joint site survey was signed off: conclusion, opinions, findings and content hash.",
            record_type="survey",
            when=status_became("signed"),
            extras=_survey_extras,
        ),
        EventType(
            name="finding.created",
            label="发现问题",
            description="A problem found (问题清单) was recorded.",
            record_type="finding",
            when=action_is("create"),
        ),
        EventType(
            name="finding.resolved",
            label="问题已解决",
            description="A problem found was resolved.",
            record_type="finding",
            when=status_became("resolved"),
        ),
        EventType(
            name="utility_request.responded",
            label="报装已答复",
            description="The utility company answered a connection request (accepted, need_info, rejected).",
            record_type="utility_request",
            when=status_became("accepted", "need_info", "rejected"),
        ),
        EventType(
            name="utility_point.connected",
            label="接入点已接入",
            description="A utility access point was connected.",
            record_type="utility_point",
            when=status_became("connected"),
        ),
        EventType(
            name="inspection.results_complete",
            label="验收结果齐全",
            description="Every item of an acceptance stage has a final result: item results and a short-lived "
            "link to the opinion PDF.",
            record_type="inspection",
            when=status_became("results_complete"),
            extras=_inspection_extras,
        ),
        EventType(
            name="inspection.signed",
            label="验收意见书已签署",
            description="The joint acceptance opinion was signed: item results and a link to the signed PDF.",
            record_type="inspection",
            when=status_became("signed"),
            extras=_inspection_extras,
        ),
        EventType(
            name="rectification.verified",
            label="整改已核验",
            description="A rectification item was verified on re-inspection.",
            record_type="rectification",
            when=status_became("verified"),
        ),
        EventType(
            name="visit.completed",
            label="上门服务已完成",
            description="A service vehicle visit was completed.",
            record_type="visit",
            when=status_became("completed"),
        ),
        EventType(
            name="record.reopened",
            label="记录已重新打开",
            description="A signed record of any type was reopened (its signatures voided); `data.reason` says why.",
            record_type=ANY_RECORD_TYPE,
            when=action_is("reopen"),
        ),
    )
