from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "backend.sync"
    label = "sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.common.records import RecordType, register_record_type
        from backend.sync.models import MaterialScan
        from backend.sync.selectors import material_scans_visible_to
        from backend.sync.services import material_scan_create, material_scan_delete, material_scan_update

        register_record_type(
            RecordType(
                name="material_scan",
                model=MaterialScan,
                visible_to=material_scans_visible_to,
                create=material_scan_create,
                update=material_scan_update,
                delete=material_scan_delete,
                label="申请材料扫描件",
                summary=lambda scan: scan.filename or scan.content_type,
            )
        )
