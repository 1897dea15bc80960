from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Development only: no models, only the demo builders and their two commands."""

    name = "backend.demo"
    label = "demo"
