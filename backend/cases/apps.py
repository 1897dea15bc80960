from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "backend.cases"
    label = "cases"
    default_auto_field = "django.db.models.BigAutoField"
