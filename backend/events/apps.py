from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "backend.events"
    label = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.cases.services import register_item_status_listener
        from backend.events import catalogue
        from backend.events.services import event_item_status_changed, event_record_changed
        from backend.records.registry import register_record_change_listener

        catalogue.register_builtin_event_types()
        register_record_change_listener(event_record_changed)
        register_item_status_listener(event_item_status_changed)
