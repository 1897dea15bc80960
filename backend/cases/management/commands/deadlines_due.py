"""List approval items that are due soon (warn7 … supervise3) or overdue, per department.

Also records `first_overdue_on` the first time an item is found overdue, and warns when the
calendar's horizon is near (load the next year's arrangement), telling administrators in-app
once a day. Run daily (cron or a periodic task);
`--as-of` evaluates another day.
"""

import datetime as dt
import json
from collections import defaultdict

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from backend.cases.calendar import calendar_horizon_notify, calendar_status, horizon_warning_text
from backend.cases.deadlines import item_deadlines_record
from backend.cases.selectors import open_items

LEVEL_ORDER = ["overdue", "supervise3", "remind5", "warn7"]


class Command(BaseCommand):
    help = "List items due soon or overdue, per department, and record first overdue dates."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="Evaluate on this date (YYYY-MM-DD); default today.")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")

    def handle(self, *args, **options):
        as_of = timezone.localdate()
        if options["as_of"]:
            try:
                as_of = dt.date.fromisoformat(options["as_of"])
            except ValueError as error:
                raise CommandError(f"--as-of must be a date YYYY-MM-DD, not {options['as_of']!r}.") from error
        with transaction.atomic():
            items = list(open_items())
            deadlines = item_deadlines_record(items=items, as_of=as_of)
        by_department: dict[str, list[dict]] = defaultdict(list)
        errors = []
        for item in items:
            deadline = deadlines[item.pk]
            row = {
                "item": str(item.pk),
                "name": item.name,
                "case": item.case.external_no,
                "project": item.case.project.code,
                "department": item.department.name,
                "due_date": deadline.due_date.isoformat() if deadline.due_date else None,
                "warning_level": deadline.warning_level,
                "remaining_working_days": deadline.remaining_working_days,
                "first_overdue_on": item.first_overdue_on.isoformat() if item.first_overdue_on else None,
            }
            # A level the known days decide is listed even when the calendar ends before the rest.
            if deadline.warning_level in LEVEL_ORDER:
                by_department[item.department.name].append(row)
            elif deadline.warning_level is None and deadline.error:
                errors.append({**row, "deadline_error": deadline.error})
        for rows in by_department.values():
            rows.sort(key=lambda r: (LEVEL_ORDER.index(r["warning_level"]), r["due_date"] or "", r["name"]))
        calendar = calendar_status(today=as_of)
        # The same in-app notice as the daily task; sent once per day whoever runs first.
        calendar_horizon_notify(today=as_of)
        if options["json"]:
            payload = {
                "as_of": as_of.isoformat(),
                "calendar": {
                    **calendar,
                    "horizon": calendar["horizon"].isoformat() if calendar["horizon"] else None,
                    "horizon_warning_text": horizon_warning_text(calendar) if calendar["horizon_warning"] else None,
                },
                "departments": by_department,
                "errors": errors,
            }
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"Deadlines as of {as_of.isoformat()}")
        if calendar["horizon_warning"]:
            self.stdout.write(self.style.WARNING(horizon_warning_text(calendar)))
        for department in sorted(by_department):
            self.stdout.write(f"\n{department}")
            for row in by_department[department]:
                overdue = f" first overdue {row['first_overdue_on']}" if row["first_overdue_on"] else ""
                remaining = "?" if row["remaining_working_days"] is None else row["remaining_working_days"]
                self.stdout.write(
                    f"  {row['warning_level']:<10} due {row['due_date']} "
                    f"({remaining} working days) {row['case']} {row['name']}{overdue}"
                )
        for row in errors:
            self.stdout.write(
                self.style.WARNING(f"\n  cannot compute {row['case']} {row['name']}: {row['deadline_error']['detail']}")
            )
        if not by_department and not errors:
            self.stdout.write("Nothing is due.")
