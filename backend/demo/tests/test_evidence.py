import pytest

from backend.audit.models import AuditEntry
from backend.demo import accounts as accounts_demo
from backend.demo import cases as cases_demo
from backend.demo import evidence as demo
from backend.demo import sites as sites_demo
from backend.demo import surveys as surveys_demo
from backend.evidence.models import Photo

pytestmark = pytest.mark.django_db


def test_demo_without_the_survey_does_nothing():
    demo.seed()

    assert not Photo.all_objects.exists()


def test_demo_photos_on_and_off_site_and_idempotent():
    accounts_demo.seed()
    cases_demo.seed()
    sites_demo.seed()
    surveys_demo.seed()

    demo.seed()
    audit_after_first = AuditEntry.objects.count()
    demo.seed()

    assert AuditEntry.objects.count() == audit_after_first
    rows = sorted(
        (p.record_type, p.location_source, p.within_site, p.processing_status, p.heading) for p in Photo.objects.all()
    )
    assert rows == [
        ("finding", "exif", True, "ready", 135.0),
        ("survey", "device", False, "ready", None),
        ("survey", "exif", True, "ready", 45.0),
    ]
    far = Photo.objects.get(location_source="device")
    assert 1500 < far.distance_to_site_m < 2500
