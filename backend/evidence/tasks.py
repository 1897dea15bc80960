"""Background jobs (procrastinate; run by `manage.py procrastinate worker`)."""

from procrastinate.contrib.django import app

from backend.evidence.models import Photo
from backend.evidence.photos import PHOTO_DERIVATIVES_TASK, photo_make_derivatives
from backend.evidence.uploads import uploads_expire


@app.periodic(cron="*/30 * * * *")
@app.task(name="evidence.uploads_expire", queueing_lock="evidence.uploads_expire")
def uploads_expire_task(timestamp: int) -> int:
    """Same as `manage.py uploads_expire`: remove abandoned uploads' data every 30 minutes."""
    return uploads_expire()


@app.task(name=PHOTO_DERIVATIVES_TASK, retry=3)
def photo_make_derivatives_task(photo_id: str) -> str:
    """Thumbnail and preview of one photo, queued when the photo is committed."""
    photo = Photo.all_objects.filter(pk=photo_id).first()
    if photo is None:
        return "gone"
    return photo_make_derivatives(photo=photo).processing_status
