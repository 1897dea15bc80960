from django.apps import AppConfig


class AcceptanceConfig(AppConfig):
    name = "backend.acceptance"
    label = "acceptance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.acceptance.models import Inspection, InspectionItem, RectificationItem
        from backend.acceptance.selectors import (
            inspection_items_visible_to,
            inspections_visible_to,
            rectifications_visible_to,
        )
        from backend.common.records import RecordType, register_record_type

        register_record_type(
            RecordType(
                name="inspection",
                model=Inspection,
                visible_to=inspections_visible_to,
                label="联合验收",
                summary=lambda record: f"第{record.stage}阶段 {record.get_status_display()}",
            )
        )
        register_record_type(
            RecordType(
                name="inspection_item",
                model=InspectionItem,
                visible_to=inspection_items_visible_to,
                label="验收事项",
                summary=lambda record: f"{record.name}: {record.get_result_display()}",
            )
        )
        register_record_type(
            RecordType(
                name="rectification",
                model=RectificationItem,
                visible_to=rectifications_visible_to,
                label="整改",
                summary=lambda record: f"{record.description[:40]} ({record.get_status_display()})",
            )
        )
