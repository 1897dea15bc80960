"""Background jobs (procrastinate; run by `manage.py procrastinate worker`)."""

from procrastinate.contrib.django import app

from backend.evidence.uploads import uploads_expire


@app.periodic(cron="*/30 * * * *")
@app.task(name="evidence.uploads_expire", queueing_lock="evidence.uploads_expire")
def uploads_expire_task(timestamp: int) -> int:
    """Same as `manage.py uploads_expire`: remove abandoned uploads' data every 30 minutes."""
    return uploads_expire()
