from django.apps import AppConfig


class GisLayersConfig(AppConfig):
    name = "gis_layers"
