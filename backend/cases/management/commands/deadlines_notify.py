"""Send the day's deadline notices by hand: the same run as the daily periodic task.

Records due dates and first overdue dates of open items, and tells handlers, department heads
and supervisors (in-app and by e-mail) once per item, level and day. `--as-of` runs another day.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backend.cases.notices import deadline_notices_run


class Command(BaseCommand):
    help = "Send the day's deadline notices (warn7, remind5, supervise3, overdue)."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="Run for this date (YYYY-MM-DD); default today.")

    def handle(self, *args, **options):
        as_of = timezone.localdate()
        if options["as_of"]:
            try:
                as_of = dt.date.fromisoformat(options["as_of"])
            except ValueError as error:
                raise CommandError(f"--as-of must be a date YYYY-MM-DD, not {options['as_of']!r}.") from error
        result = deadline_notices_run(as_of=as_of, keep_sent=False)
        if not result["working_day"]:
            self.stdout.write(f"{as_of.isoformat()} is not a working day: no item notices.")
            return
        self.stdout.write(
            f"{as_of.isoformat()}: {result['items']} open items, {result['sent_count']} notices sent"
            f" ({len(result['horizon_sent'])} calendar notices)."
        )
