import datetime as dt

import pytest

from backend.accounts.tests.factories import UserFactory
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.meetings import services
from backend.meetings.models import Meeting
from backend.surveys.tests.factories import SHANGHAI, FindingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(organization=None, roles=[], is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def meeting():
    meeting, _ = services.meeting_create(
        by=None,
        case=ApprovalCaseFactory(),
        further_cases=[ApprovalCaseFactory().pk],
        title="协调会",
        scheduled_at=dt.datetime(2026, 11, 20, 14, 30, tzinfo=SHANGHAI),
    )
    services.meeting_participant_create(by=None, meeting=meeting, person_name="刘红")
    return meeting


def test_admin_pages_render(admin_client, meeting):
    for url in (
        "/admin/meetings/meeting/",
        f"/admin/meetings/meeting/{meeting.pk}/change/",
        "/admin/meetings/meetingparticipant/",
        "/admin/meetings/meetingdecision/",
    ):
        assert admin_client.get(url).status_code == 200, url


def _form_data(admin_client, meeting, **changes):
    form = admin_client.get(f"/admin/meetings/meeting/{meeting.pk}/change/").context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update(
        {
            "scheduled_at_0": "2026-11-20",
            "scheduled_at_1": "14:30:00",
            "further_cases": ",".join(str(c) for c in meeting.further_cases),
            "findings": "",
            "participants-TOTAL_FORMS": "1",
            "participants-INITIAL_FORMS": "1",
            "participants-0-id": str(meeting.participants.get().pk),
            "participants-0-meeting": str(meeting.pk),
            "decisions-TOTAL_FORMS": "0",
            "decisions-INITIAL_FORMS": "0",
            **changes,
        }
    )
    return {k: v for k, v in data.items() if v is not None}


def test_admin_edits_go_through_the_service_and_its_rules(admin_client, meeting):
    admin_client.post(f"/admin/meetings/meeting/{meeting.pk}/change/", _form_data(admin_client, meeting, place="二楼"))
    stored = Meeting.objects.get(pk=meeting.pk)
    assert (stored.place, stored.version) == ("二楼", 2)
    assert AuditEntry.objects.filter(record_id=meeting.pk, action="update").count() == 1
    assert AuditEntry.objects.filter(record_id=meeting.pk, action="mirror:update").count() == 1


def test_admin_refusals_are_the_services_own(admin_client, meeting):
    stranger = FindingFactory()  # of a case that is not the meeting's
    response = admin_client.post(
        f"/admin/meetings/meeting/{meeting.pk}/change/", _form_data(admin_client, meeting, findings=str(stranger.pk))
    )
    messages = [str(m) for m in admin_client.get(response["Location"]).context["messages"]]
    assert any(m.startswith("finding_case_mismatch: ") for m in messages), messages
    assert Meeting.objects.get(pk=meeting.pk).version == 1
    assert stranger.__class__.objects.get(pk=stranger.pk).meeting_id is None
