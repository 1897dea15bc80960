from django.apps import AppConfig


class SignaturesConfig(AppConfig):
    name = "backend.signatures"
    label = "signatures"
    default_auto_field = "django.db.models.BigAutoField"
