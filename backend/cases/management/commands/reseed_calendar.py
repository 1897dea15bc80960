"""Refresh the working-day calendar from the installed `chinesecalendar`; admin overrides are kept."""

from django.core.management.base import BaseCommand
from django.db import transaction

from backend.cases.deadlines import calendar_horizon, calendar_seed


class Command(BaseCommand):
    help = "Reseed CalendarDay from chinesecalendar (after upgrading it), keeping administrators' overrides."

    def handle(self, *args, **options):
        with transaction.atomic():
            counts = calendar_seed()
        self.stdout.write(
            f"Seeded {counts['seeded']} days, kept {counts['overrides_kept']} overrides; "
            f"the calendar now ends on {calendar_horizon()}."
        )
