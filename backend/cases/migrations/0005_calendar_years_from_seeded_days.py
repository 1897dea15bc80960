"""One CalendarYear per year already in CalendarDay (seeded from chinesecalendar by 0003).

Self-contained on purpose, like 0003: the holidays are the runs of named rest days, the make-up
days the worked weekend days.
"""

import datetime as dt

from django.db import migrations
from django.utils import timezone


def years_from_days(apps, schema_editor):
    CalendarDay = apps.get_model("cases", "CalendarDay")
    CalendarYear = apps.get_model("cases", "CalendarYear")
    years: dict[int, tuple[list, list]] = {}
    day_counts: dict[int, int] = {}
    previous = None
    for day, is_workday, name in CalendarDay.objects.order_by("date").values_list("date", "is_workday", "name"):
        holidays, workdays = years.setdefault(day.year, ([], []))
        day_counts[day.year] = day_counts.get(day.year, 0) + 1
        if is_workday and day.weekday() >= 5:
            workdays.append(day.isoformat())
        elif not is_workday and name and not name.endswith("调休上班"):
            if holidays and holidays[-1]["name"] == name and previous == day - dt.timedelta(days=1):
                holidays[-1]["end"] = day.isoformat()
            else:
                holidays.append({"name": name, "start": day.isoformat(), "end": day.isoformat()})
            previous = day
            continue
        previous = None
    from importlib.metadata import version

    source = f"chinesecalendar {version('chinesecalendar')}"
    now = timezone.now()
    CalendarYear.objects.bulk_create(
        [
            CalendarYear(
                year=year,
                origin="seed",
                source=source,
                holidays=holidays,
                workdays=workdays,
                loaded_at=now,
            )
            for year, (holidays, workdays) in years.items()
            # Only whole years: a few days an administrator added past the seed are not a year.
            if day_counts[year] == (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0004_calendar_year"),
    ]

    operations = [
        migrations.RunPython(years_from_days, migrations.RunPython.noop),
    ]
