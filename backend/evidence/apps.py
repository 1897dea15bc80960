from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "backend.evidence"
    label = "evidence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.evidence.models import Photo
        from backend.evidence.photos import photo_create, photo_delete, photo_update, photos_visible_to
        from backend.records.registry import RecordType, register_record_type

        register_record_type(
            RecordType(
                name="photo",
                model=Photo,
                visible_to=photos_visible_to,
                create=photo_create,
                update=photo_update,
                delete=photo_delete,
                label="照片",
                summary=lambda photo: f"照片 {photo.width}×{photo.height}（{photo.get_location_source_display()}）",
            )
        )
