from django.apps import AppConfig


class OnsiteConfig(AppConfig):
    name = "backend.onsite"
    label = "onsite"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "现场受理与现场审批"
