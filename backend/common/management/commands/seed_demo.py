"""Load the demo dataset: a key industrial project in the Qingdao West Coast New Area.

Each domain app contributes `demo.seed()`; they run in dependency order, and each is
idempotent, so running this again changes nothing.
"""

from importlib import import_module

from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_MODULES = [
    "backend.accounts.demo",
    "backend.cases.demo",
    "backend.sites.demo",
    "backend.surveys.demo",
    "backend.utilities.demo",
    "backend.acceptance.demo",
    "backend.visits.demo",
    "backend.evidence.demo",
    "backend.signatures.demo",
    "backend.onsite.demo",
    "backend.meetings.demo",
]


class Command(BaseCommand):
    help = "Load the demo dataset (idempotent)."

    def handle(self, *args, **options):
        for name in DEMO_MODULES:
            try:
                module = import_module(name)
            except ModuleNotFoundError as error:
                if error.name == name:
                    continue
                raise
            with transaction.atomic():
                module.seed()
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
