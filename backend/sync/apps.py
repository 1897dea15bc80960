from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "backend.sync"
    label = "sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.cases.materials import MaterialScan
        from backend.evidence.blobs import FILE_ARRIVED_LISTENERS
        from backend.evidence.uploads import UPLOAD_COMPLETED_LISTENERS
        from backend.records.registry import RecordType, register_record_type
        from backend.sync.scans import material_scan_files_judge, material_scan_upload_completed
        from backend.sync.selectors import material_scans_visible_to
        from backend.sync.services import (
            material_scan_create,
            material_scan_delete,
            material_scan_update,
            sync_attachments_arrived,
        )

        # A scan's file is judged before its arrival is noted, so a refused file never announces
        # its scan complete.
        if material_scan_files_judge not in FILE_ARRIVED_LISTENERS:
            FILE_ARRIVED_LISTENERS.insert(0, material_scan_files_judge)
        if sync_attachments_arrived not in FILE_ARRIVED_LISTENERS:
            FILE_ARRIVED_LISTENERS.append(sync_attachments_arrived)
        if material_scan_upload_completed not in UPLOAD_COMPLETED_LISTENERS:
            UPLOAD_COMPLETED_LISTENERS.append(material_scan_upload_completed)

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
