"""Seed the working-day calendar from the installed `chinesecalendar` (2004 up to its horizon).

Self-contained on purpose: later edits to the deadline module must not change this migration.
`manage.py reseed_calendar` refreshes the days after a package upgrade, keeping admin overrides.
"""

import datetime as dt

from django.db import migrations

HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def seed_calendar(apps, schema_editor):
    import chinese_calendar

    CalendarDay = apps.get_model("cases", "CalendarDay")
    overrides = set(CalendarDay.objects.filter(source="override").values_list("date", flat=True))
    rows = []
    year = 2004
    while True:
        try:
            chinese_calendar.is_workday(dt.date(year, 1, 1))
        except NotImplementedError:
            break
        day = dt.date(year, 1, 1)
        while day.year == year:
            if day not in overrides:
                is_workday = chinese_calendar.is_workday(day)
                _, holiday = chinese_calendar.get_holiday_detail(day)
                name = HOLIDAY_NAMES.get(holiday or "", holiday or "")
                if name and is_workday:
                    name = f"{name}调休上班"
                rows.append(CalendarDay(date=day, is_workday=is_workday, name=name, source="seed"))
            day += dt.timedelta(days=1)
        year += 1
    CalendarDay.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["date"],
        update_fields=["is_workday", "name", "source"],
    )


def unseed_calendar(apps, schema_editor):
    apps.get_model("cases", "CalendarDay").objects.filter(source="seed").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0002_item_external_id_and_event_uniqueness"),
    ]

    operations = [
        migrations.RunPython(seed_calendar, unseed_calendar),
    ]
