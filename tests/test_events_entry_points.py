"""Every entry point that writes a record writes its events: REST, sync push and the admin all go
through the record services, whose kernel tells the outbox (backend.records.services._audit).
The daily deadline run writes deadline.level_changed once per change of level."""

import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import ApprovalItem, Blzt
from backend.cases.notices import deadline_notices_run
from backend.cases.tests.factories import ApprovalCaseFactory, ApprovalItemFactory
from backend.events.models import Event
from backend.surveys.models import Finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    department = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    official = UserFactory(organization=department, roles=[Role.OFFICIAL])
    return {"case": ApprovalCaseFactory(), "department": department, "official": official}


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _created_events(finding_id) -> list[tuple[str, str]]:
    return list(Event.objects.filter(record_id=finding_id).values_list("type", "record_type"))


def test_rest_create_writes_the_event(world):
    response = _client(world["official"]).post(
        "/api/v1/findings/",
        {
            "case": str(world["case"].pk),
            "description": "围墙占道",
            "responsible_department": str(world["department"].pk),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert _created_events(response.json()["id"]) == [("finding.created", "finding")]
    event = Event.objects.get()
    assert event.data["record"]["description"] == "围墙占道"
    assert event.data["actor"] == world["official"].username


def test_sync_push_writes_the_event_once(world):
    finding_id = str(uuid.uuid4())
    op = {
        "op_id": str(uuid.uuid4()),
        "type": "finding",
        "action": "upsert",
        "id": finding_id,
        "base_version": None,
        "data": {
            "case": str(world["case"].pk),
            "description": "临时堆土",
            "responsible_department": str(world["department"].pk),
        },
    }
    client = _client(world["official"])
    for _ in range(2):  # the replay of an op_id writes nothing again
        response = client.post("/api/v1/sync/push", {"device_id": "tablet-1", "operations": [op]}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["receipts"][0]["status"] in {"applied", "duplicate"}, response.content
    assert _created_events(finding_id) == [("finding.created", "finding")]


def test_admin_create_writes_the_event(world, client):
    admin = UserFactory(organization=None, roles=[], is_superuser=True, is_staff=True)
    client.force_login(admin)
    response = client.post(
        "/admin/surveys/finding/add/",
        {
            "case": str(world["case"].pk),
            "description": "后台登记的问题",
            "responsible_department": str(world["department"].pk),
            "status": "open",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    finding = Finding.objects.get(description="后台登记的问题")
    assert _created_events(finding.pk) == [("finding.created", "finding")]


def test_a_refused_rest_write_leaves_no_event(world):
    builder = UserFactory(organization=OrganizationFactory(kind=OrganizationKind.BUILDER))
    response = _client(builder).post(
        "/api/v1/findings/",
        {"case": str(world["case"].pk), "description": "x", "responsible_department": str(world["department"].pk)},
        format="json",
    )
    assert response.status_code in {400, 403, 404}
    assert Event.objects.count() == 0


def test_the_daily_run_reports_each_level_change_once():
    item = ApprovalItemFactory(status=Blzt.ACCEPTED, statutory_days=20, promised_days=5)
    accepted = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    ApprovalItem.objects.filter(pk=item.pk).update(accepted_at=accepted)
    item.status_events.create(status=Blzt.ACCEPTED, occurred_at=accepted)
    # A Monday well past the promised five working days: overdue.
    deadline_notices_run(as_of=dt.date(2026, 3, 16))
    deadline_notices_run(as_of=dt.date(2026, 3, 16))  # a repeated run tells nothing new
    events = list(Event.objects.filter(type="deadline.level_changed"))
    assert [(e.data["from_level"], e.data["to_level"]) for e in events] == [("ok", "overdue")]
    assert events[0].data["item"]["id"] == str(item.pk)
    deadline_notices_run(as_of=dt.date(2026, 3, 17))
    assert Event.objects.filter(type="deadline.level_changed").count() == 1
