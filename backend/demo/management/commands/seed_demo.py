"""Load the demo dataset: a key industrial project in the Qingdao West Coast New Area.

Each module of backend.demo builds one domain app's part (`seed()`); they run in dependency
order, and each is idempotent, so running this again changes nothing.
"""

from importlib import import_module

from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_MODULES = [
    "backend.demo.accounts",
    "backend.demo.cases",
    "backend.demo.sites",
    "backend.demo.surveys",
    "backend.demo.utilities",
    "backend.demo.acceptance",
    "backend.demo.visits",
    "backend.demo.evidence",
    "backend.demo.signatures",
    "backend.demo.onsite",
    "backend.demo.meetings",
]


class Command(BaseCommand):
    help = "Load the demo dataset (idempotent)."

    def handle(self, *args, **options):
        for name in DEMO_MODULES:
            module = import_module(name)
            with transaction.atomic():
                module.seed()
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
