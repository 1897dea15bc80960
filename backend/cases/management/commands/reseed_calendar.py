"""Refresh the working-day calendar from the installed `chinesecalendar`.

Administrators' overrides and the years loaded from a State Council notice are kept.
"""

from django.core.management.base import BaseCommand

from backend.cases.calendar import calendar_seed
from backend.cases.deadlines import calendar_horizon


class Command(BaseCommand):
    help = "Reseed CalendarDay from chinesecalendar (after upgrading it), keeping overrides and loaded years."

    def handle(self, *args, **options):
        counts = calendar_seed()
        self.stdout.write(
            f"Seeded {counts['seeded']} days, kept {counts['overrides_kept']} overrides and "
            f"{counts['notice_years_kept']} years loaded from a notice; "
            f"the calendar now ends on {calendar_horizon()}."
        )
