from django.apps import AppConfig


class UtilitiesConfig(AppConfig):
    name = "backend.utilities"
    label = "utilities"
    default_auto_field = "django.db.models.BigAutoField"
