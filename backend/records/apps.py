from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """The field-record kernel: abstract models, the record-type registry and the record services."""

    name = "backend.records"
    label = "records"
