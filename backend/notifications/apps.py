from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "backend.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.notifications.models import Supervision
        from backend.notifications.selectors import supervisions_visible_to
        from backend.records.timeline import TimelineSource, register_timeline_source

        # Not a field record (no sync, photos or signatures), but part of the case's history.
        register_timeline_source(
            TimelineSource(name="supervision", model=Supervision, visible_to=supervisions_visible_to, label="督办单")
        )
