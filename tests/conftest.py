"""Fixtures shared by the cross-app tests in this directory (the demo world: tests/demo_world_plugin.py)."""

from tests.webhook_fixtures import receiver, seeded_rows, worker  # noqa: F401 - the webhook tests' fixtures
