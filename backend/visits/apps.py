from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "backend.visits"
    label = "visits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.common.records import RecordType, naming_the_record, register_record_type
        from backend.visits.models import Visit
        from backend.visits.selectors import visits_visible_to
        from backend.visits.services import visit_create, visit_delete, visit_update

        register_record_type(
            RecordType(
                name="visit",
                model=Visit,
                visible_to=visits_visible_to,
                create=visit_create,
                update=visit_update,
                delete=naming_the_record("visit", visit_delete),
                label="直通车上门服务",
                summary=lambda record: f"{record.get_status_display()} {record.scheduled_for:%Y-%m-%d %H:%M}",
            )
        )
