"""Background jobs of the deadline engine (procrastinate; run by `manage.py procrastinate worker`)."""

import datetime as dt

from django.conf import settings
from django.utils import timezone
from procrastinate.contrib.django import app

from backend.cases.notices import deadline_notices_run


def daily_cron_utc(local_time: str) -> str:
    """The cron line (procrastinate reads it in UTC) for `local_time` HH:MM in settings.TIME_ZONE."""
    hours, minutes = (int(part) for part in local_time.split(":"))
    local = dt.datetime.combine(timezone.localdate(), dt.time(hours, minutes), tzinfo=timezone.get_default_timezone())
    utc = local.astimezone(dt.UTC)
    return f"{utc.minute} {utc.hour} * * *"


@app.periodic(cron=daily_cron_utc(settings.DEADLINE_NOTIFY_TIME))
@app.task(name="cases.deadline_notices", queueing_lock="cases.deadline_notices")
def deadline_notices_task(timestamp: int) -> int:
    """Every morning: the deadline notices of open items (working days), and administrators told
    when the working-day calendar ends within 60 days. Returns how many notices were sent."""
    result = deadline_notices_run(keep_sent=False)
    return result["sent_count"] + len(result["horizon_sent"])
