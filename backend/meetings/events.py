"""What the approval system hears of coordination meetings (registered in MeetingsConfig.ready)."""

from __future__ import annotations

from typing import Any

from backend.events.catalogue import EventType, action_is, register_event_types, status_became


def _meeting_extras(meeting: Any) -> dict[str, Any]:
    return {
        "further_cases": [str(case_id) for case_id in meeting.further_cases],
        "findings": [str(finding_id) for finding_id in meeting.findings],
        "decisions": [
            {
                "id": str(decision.pk),
                "text": decision.text,
                "responsible_department": str(decision.responsible_department_id or "") or None,
                "due_date": decision.due_date.isoformat() if decision.due_date else None,
                "finding": str(decision.finding_id) if decision.finding_id else None,
                "resolves_finding": decision.resolves_finding,
            }
            for decision in meeting.decisions.order_by("created_at", "id")
        ],
    }


def register() -> None:
    register_event_types(
        EventType(
            name="meeting.scheduled",
            label="协调会已安排",
            description="A coordination or joint meeting (协调会 / 联席会议) was scheduled.",
            record_type="meeting",
            when=status_became("scheduled"),
            extras=_meeting_extras,
        ),
        EventType(
            name="meeting.held",
            label="协调会已召开",
            description="A meeting was held: the findings it took up and its decisions so far.",
            record_type="meeting",
            when=status_became("held"),
            extras=_meeting_extras,
        ),
        EventType(
            name="meeting.closed",
            label="协调会已归档",
            description="A meeting's minutes were closed: its decisions and the findings they resolved.",
            record_type="meeting",
            when=status_became("closed"),
            extras=_meeting_extras,
        ),
        EventType(
            name="meeting_decision.created",
            label="议定事项",
            description="A meeting decided something (议定事项), possibly resolving a finding.",
            record_type="meeting_decision",
            when=action_is("create"),
        ),
    )
