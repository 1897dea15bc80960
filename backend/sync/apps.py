from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "backend.sync"
    label = "sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.common.records import RecordType, register_record_type
        from backend.sync.models import MaterialScan
        from backend.sync.selectors import material_scans_visible_to

        register_record_type(
            RecordType(
                name="material_scan",
                model=MaterialScan,
                visible_to=material_scans_visible_to,
                label="申请材料扫描件",
                summary=lambda scan: scan.filename or scan.content_type,
            )
        )
