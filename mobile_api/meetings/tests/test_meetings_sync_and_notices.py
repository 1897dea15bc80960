"""A meeting pushed by a device is the REST meeting (same serializer, same service); departments
asked to a scheduled meeting are told, and told again when it moves."""

import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.meetings.models import Meeting
from backend.notifications.models import Notification, NotificationKind
from backend.surveys.models import Finding
from backend.surveys.tests.factories import SHANGHAI, FindingFactory

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 11, 20, 14, 30, tzinfo=SHANGHAI)


def _push(client, operation) -> dict:
    operation = {"op_id": str(uuid.uuid4()), "action": "upsert", **operation}
    response = client.post("/api/v1/sync/push", {"device_id": "tablet-9", "operations": [operation]}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["receipts"][0]


def test_a_pushed_meeting_takes_up_findings_and_a_repeat_changes_nothing(api, case):
    other_case = ApprovalCaseFactory()
    finding = FindingFactory(case=other_case)
    meeting_id = str(uuid.uuid4())
    data = {
        "case": str(case.pk),
        "further_cases": [str(other_case.pk)],
        "title": "现场协调会",
        "scheduled_at": WHEN.isoformat(),
        "findings": [str(finding.pk)],
    }
    receipt = _push(api, {"type": "meeting", "id": meeting_id, "base_version": None, "data": data})
    assert (receipt["status"], receipt["version"]) == ("applied", 1), receipt
    meeting = Meeting.objects.get(pk=meeting_id)
    assert (meeting.further_cases, meeting.findings, meeting.device_id) == ([other_case.pk], [finding.pk], "tablet-9")
    assert Finding.objects.get(pk=finding.pk).meeting_id == meeting.pk
    # The same lists again (in another order, with a repeat): not a change.
    again = {**data, "findings": [str(finding.pk), str(finding.pk)], "title": "现场协调会"}
    receipt = _push(api, {"type": "meeting", "id": meeting_id, "base_version": 1, "data": again})
    assert (receipt["status"], receipt["version"]) == ("applied", 1), receipt
    # A finding of a case that is not the meeting's: rejected with the service's code, nothing changed.
    stranger = FindingFactory()
    receipt = _push(
        api,
        {"type": "meeting", "id": meeting_id, "base_version": 1, "data": {"findings": [str(stranger.pk)]}},
    )
    assert (receipt["status"], receipt["code"]) == ("rejected", "finding_case_mismatch")
    assert Meeting.objects.get(pk=meeting_id).version == 1
    entries = AuditEntry.objects.filter(record_id=meeting.pk).values_list("action", "case_id")
    assert sorted(entries) == sorted([("create", case.pk), ("mirror:create", other_case.pk)])


def test_departments_asked_to_a_scheduled_meeting_are_told_and_told_again_when_it_moves(api, case):
    department = OrganizationFactory(name="水务局", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    UserFactory(username="water_head", organization=department, roles=[Role.DEPARTMENT_HEAD])
    UserFactory(username="water_staff", organization=department, roles=[Role.OFFICIAL])
    response = api.post(
        "/api/v1/meetings/",
        {"case": str(case.pk), "title": "联席会议", "kind": "joint", "scheduled_at": WHEN.isoformat()},
        format="json",
    )
    meeting = response.json()
    api.post("/api/v1/meeting-participants/", {"meeting": meeting["id"], "person_name": "外聘专家"}, format="json")
    api.post(
        "/api/v1/meeting-participants/", {"meeting": meeting["id"], "department": str(department.pk)}, format="json"
    )
    notices = Notification.objects.filter(kind=NotificationKind.MEETING_SCHEDULED)
    assert [(n.recipient.username, n.title) for n in notices] == [
        ("water_head", "联席会议通知：联席会议 2026-11-20 14:30")
    ]
    # The department now sees the case (and the meeting).
    head = APIClient()
    head.force_authenticate(UserFactory(organization=department, roles=[Role.OFFICIAL]))
    assert head.get(f"/api/v1/meetings/{meeting['id']}/").status_code == 200
    moved = (WHEN + dt.timedelta(days=1)).isoformat()
    api.patch(f"/api/v1/meetings/{meeting['id']}/", {"scheduled_at": moved}, format="json", HTTP_IF_MATCH='"1"')
    assert sorted(notices.values_list("title", flat=True)) == [
        "联席会议通知：联席会议 2026-11-20 14:30",
        "联席会议通知：联席会议 2026-11-21 14:30",
    ]
    # Another change than the time tells no one.
    response = api.patch(f"/api/v1/meetings/{meeting['id']}/", {"place": "二楼"}, format="json", HTTP_IF_MATCH='"2"')
    assert response.status_code == 200
    assert notices.all().count() == 2
