"""Load a year's holiday arrangement from a file: the JSON document of `PUT calendar/years/{year}`
(with its `year`, or `--year`), or an iCalendar holiday feed (`.ics`)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.accounts.models import User
from backend.cases.calendar import (
    InvalidCalendarYear,
    calendar_status,
    calendar_year_load,
    calendar_year_summaries,
    document_from_file,
    horizon_warning_text,
)


class Command(BaseCommand):
    help = "Load (or replace) one year of the working-day calendar from a JSON notice or an .ics feed."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A JSON document {year, source, holidays, workdays} or an .ics file.")
        parser.add_argument("--year", type=int, help="The year to load (required for a feed of several years).")
        parser.add_argument("--source", default="", help="The notice it comes from (for .ics; default the feed name).")
        parser.add_argument("--by", default="", help="Username of the administrator to record as loader.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        by = None
        if options["by"]:
            by = User.objects.filter(username=options["by"]).first()
            if by is None or not by.is_administrator:
                raise CommandError(f"{options['by']!r} is not an administrator.")
        try:
            year, document = document_from_file(content, name=path.name, year=options["year"], source=options["source"])
            row = calendar_year_load(year=year, document=document, by=by)
        except InvalidCalendarYear as error:
            lines = [error.message]
            for field, messages in (error.errors or {}).items():
                lines.extend(f"  {field}: {message}" for message in messages)
            raise CommandError("\n".join(lines)) from error
        summary = calendar_year_summaries([row])[row.year]
        self.stdout.write(
            f"Loaded {row.year} from {summary['source']}: {summary['working_days']} working days, "
            f"{len(summary['holidays'])} holidays ({summary['holiday_days']} days), "
            f"{len(summary['workdays'])} make-up workdays."
        )
        for holiday in summary["holidays"]:
            self.stdout.write(f"  {holiday['name']} {holiday['start']}..{holiday['end']}")
        if summary["workdays"]:
            self.stdout.write(f"  make-up workdays: {', '.join(summary['workdays'])}")
        if summary["overridden_days"]:
            self.stdout.write(f"  kept administrators' overrides on {', '.join(summary['overridden_days'])}")
        status = calendar_status()
        self.stdout.write(f"The calendar now ends on {status['horizon']}.")
        if status["horizon_warning"]:
            self.stdout.write(self.style.WARNING(horizon_warning_text(status)))
