from django.apps import AppConfig


class AcceptanceConfig(AppConfig):
    name = "backend.acceptance"
    label = "acceptance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.acceptance import services
        from backend.acceptance.models import Inspection, InspectionItem, RectificationItem
        from backend.acceptance.selectors import (
            inspection_items_visible_to,
            inspections_visible_to,
            rectifications_visible_to,
        )
        from backend.acceptance.signing import INSPECTION_SIGNABLE
        from backend.records.registry import RecordType, naming_the_record, register_record_type
        from backend.signatures.signable import register_signable

        register_record_type(
            RecordType(
                name="inspection",
                model=Inspection,
                visible_to=inspections_visible_to,
                create=services.inspection_create,
                update=services.inspection_update,
                delete=naming_the_record("inspection", services.inspection_delete),
                label="联合验收",
                summary=lambda record: f"第{record.stage}阶段 {record.get_status_display()}",
            )
        )
        register_record_type(
            RecordType(
                name="inspection_item",
                model=InspectionItem,
                visible_to=inspection_items_visible_to,
                # Created and withdrawn with their inspection, never on their own.
                create=None,
                update=services.inspection_item_update,
                delete=None,
                label="验收事项",
                summary=lambda record: f"{record.name}: {record.get_result_display()}",
            )
        )
        register_record_type(
            RecordType(
                name="rectification",
                model=RectificationItem,
                visible_to=rectifications_visible_to,
                create=services.rectification_create,
                update=services.rectification_update,
                delete=naming_the_record("rectification", services.rectification_delete),
                label="整改",
                summary=lambda record: f"{record.description[:40]} ({record.get_status_display()})",
            )
        )
        register_signable("inspection", INSPECTION_SIGNABLE)
