from django.apps import AppConfig


class OnsiteConfig(AppConfig):
    name = "backend.onsite"
    label = "onsite"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "现场受理与现场审批"

    def ready(self) -> None:
        from backend.onsite import services
        from backend.onsite.models import OnsiteDecision, OnsiteIntake
        from backend.onsite.selectors import onsite_decisions_visible_to, onsite_intakes_visible_to
        from backend.records.registry import RecordType, register_record_type

        register_record_type(
            RecordType(
                name="onsite_intake",
                model=OnsiteIntake,
                visible_to=onsite_intakes_visible_to,
                create=services.onsite_intake_create,
                update=services.onsite_intake_update,
                delete=services.onsite_intake_delete,
                label="现场受理",
                summary=lambda intake: f"现场受理：{intake.onsite_item.name}（{intake.applicant}）",
            )
        )
        # Final once made: no update, no delete (the approval system revokes, not the vehicle).
        register_record_type(
            RecordType(
                name="onsite_decision",
                model=OnsiteDecision,
                visible_to=onsite_decisions_visible_to,
                create=services.onsite_decision_create,
                update=None,
                delete=None,
                label="现场审批",
                summary=lambda decision: f"现场审批{decision.get_outcome_display()}：{decision.onsite_item.name}",
            )
        )
        from backend.onsite import events

        events.register()
