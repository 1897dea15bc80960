import pytest

from backend.audit.models import AuditEntry
from backend.demo import accounts as accounts_demo
from backend.demo import cases as cases_demo
from backend.demo import meetings as demo
from backend.demo import sites as sites_demo
from backend.demo import surveys as surveys_demo
from backend.meetings.models import Meeting, MeetingDecision
from backend.surveys.models import Finding

pytestmark = pytest.mark.django_db


def test_demo_without_the_surveys_does_nothing():
    demo.seed()
    assert not Meeting.all_objects.exists()


def test_demo_seeds_a_meeting_that_resolved_findings_of_two_cases_and_is_idempotent():
    accounts_demo.seed()
    cases_demo.seed()
    sites_demo.seed()
    surveys_demo.seed()
    demo.seed()
    audit_after_first = AuditEntry.objects.count()
    demo.seed()
    assert AuditEntry.objects.count() == audit_after_first
    held = Meeting.objects.get(number=demo.NUMBER)
    assert (held.status, held.kind, held.case.external_no) == ("held", "coordination", "GG-370211-2026-000101")
    assert len(held.further_cases) == 1 and len(held.findings) == 2
    resolved = Finding.objects.filter(pk__in=held.findings)
    assert sorted(resolved.values_list("status", "meeting_id")) == [("resolved", held.pk), ("resolved", held.pk)]
    assert all(f.resolution.startswith(demo.NUMBER + "议定：") for f in resolved)
    assert MeetingDecision.objects.filter(meeting=held, resolves_finding=True).count() == 2
    assert held.participants.filter(attended=True).count() == 3
    assert Meeting.objects.filter(status="scheduled", kind="joint").count() == 1
    # Every change also under the further case, for the devices that see only it.
    assert AuditEntry.objects.filter(record_id=held.pk, case_id=held.further_cases[0]).exists()
