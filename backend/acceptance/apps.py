from django.apps import AppConfig


class AcceptanceConfig(AppConfig):
    name = "backend.acceptance"
    label = "acceptance"
    default_auto_field = "django.db.models.BigAutoField"
