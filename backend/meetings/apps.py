from django.apps import AppConfig


class MeetingsConfig(AppConfig):
    name = "backend.meetings"
    label = "meetings"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "协调会"

    def ready(self) -> None:
        from backend.meetings import services
        from backend.meetings.models import Meeting, MeetingDecision, MeetingParticipant
        from backend.meetings.selectors import (
            meeting_decisions_visible_to,
            meeting_participants_visible_to,
            meetings_visible_to,
        )
        from backend.meetings.signing import MEETING_SIGNABLE
        from backend.records.registry import RecordType, register_record_type
        from backend.signatures.signable import register_signable

        register_record_type(
            RecordType(
                name="meeting",
                model=Meeting,
                visible_to=meetings_visible_to,
                create=services.meeting_create,
                update=services.meeting_update,
                delete=services.meeting_delete,
                label="协调会",
                summary=lambda meeting: (
                    f"{meeting.get_kind_display()} {meeting.scheduled_at:%Y-%m-%d}"
                    f"（{meeting.get_status_display()}）{meeting.title}"
                ),
            )
        )
        register_record_type(
            RecordType(
                name="meeting_participant",
                model=MeetingParticipant,
                visible_to=meeting_participants_visible_to,
                create=services.meeting_participant_create,
                update=services.meeting_participant_update,
                delete=services.meeting_participant_delete,
                label="参会单位",
                summary=lambda participant: f"{participant}（{'出席' if participant.attended else '未出席'}）",
            )
        )
        register_record_type(
            RecordType(
                name="meeting_decision",
                model=MeetingDecision,
                visible_to=meeting_decisions_visible_to,
                create=services.meeting_decision_create,
                update=services.meeting_decision_update,
                delete=services.meeting_decision_delete,
                label="议定事项",
                summary=lambda decision: decision.text[:40],
            )
        )
        register_signable("meeting", MEETING_SIGNABLE)
        from backend.meetings import events

        events.register()
