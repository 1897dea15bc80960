from datetime import timedelta

import pytest
from django.utils import timezone

from backend.accounts.tests.factories import UserFactory
from backend.evidence.models import Upload
from backend.evidence.tasks import uploads_expire_task
from backend.evidence.uploads import upload_create

pytestmark = pytest.mark.django_db


def test_the_periodic_task_removes_expired_uploads(settings):
    upload = upload_create(owner=UserFactory(), length=10, expected_sha256="a" * 64)
    part = settings.UPLOAD_ROOT / f"{upload.id}.part"
    assert part.exists()
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert uploads_expire_task(timestamp=0) == 1

    assert Upload.objects.count() == 0
    assert not part.exists()
    assert uploads_expire_task.name == "evidence.uploads_expire"
