from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "backend.cases"
    label = "cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The record kernel checks the case of every write against who may see it; it cannot
        # import cases (material scans are field records), so cases hands it the rule.
        from backend.cases.selectors import cases_visible_to
        from backend.records.registry import register_cases_visible_to

        register_cases_visible_to(cases_visible_to)
