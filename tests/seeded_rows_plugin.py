"""Put back the rows migrations seed when a reused test database has lost them.

Transactional tests end with a flush that empties every table, the acceptance catalogue and the
working-day calendar included. A later `--reuse-db` run does not migrate again, so without this it
would start with neither and fail far from the cause.
"""

import importlib

import pytest


@pytest.fixture(scope="session", autouse=True)
def migration_seeded_rows(django_db_setup, django_db_blocker):
    from django.apps import apps

    from backend.acceptance.models import CatalogueItem
    from backend.cases.calendar import calendar_seed
    from backend.cases.models import CalendarDay

    with django_db_blocker.unblock():
        if not CatalogueItem.objects.exists():
            importlib.import_module("backend.acceptance.migrations.0002_seed_acceptance_catalogue").seed(apps, None)
        if not CalendarDay.objects.exists():
            calendar_seed()
