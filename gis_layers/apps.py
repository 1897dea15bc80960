from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GisLayersConfig(AppConfig):
    name = "gis_layers"

    def ready(self) -> None:
        from backend.layers.changes import install_triggers

        post_migrate.connect(install_triggers, sender=self, dispatch_uid="gis_layers_change_triggers")
