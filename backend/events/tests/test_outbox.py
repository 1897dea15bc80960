"""An event exists if and only if its change committed; REST and sync push reach the same event."""

import uuid

import pytest
from django.db import transaction

from backend.events.models import OutboxEvent, WebhookDelivery
from backend.events.services import event_envelope, webhook_subscription_create
from backend.events.tests.conftest import client_for
from backend.surveys.models import Finding
from backend.surveys.services import finding_create

pytestmark = pytest.mark.django_db


class Abort(Exception):
    pass


def _finding_body(case, official, **extra):
    return {
        "case": str(case.pk),
        "description": "排水口位置与图纸不符",
        "responsible_department": str(official.organization_id),
        **extra,
    }


def test_a_rolled_back_change_leaves_no_event_and_no_delivery(case, official, approval_system, receiver):
    webhook_subscription_create(by=approval_system, url=receiver.url, events=["finding.created"])

    with pytest.raises(Abort), transaction.atomic():
        finding_create(by=official, case=case, description="漏水", responsible_department=official.organization)
        assert OutboxEvent.objects.count() == 1
        raise Abort

    assert Finding.all_objects.count() == 0
    assert OutboxEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


def test_a_committed_change_has_its_event_with_the_envelope(case, official, approval_system, receiver):
    subscription, _secret = webhook_subscription_create(
        by=approval_system, url=receiver.url, events=["finding.created"]
    )

    finding, created = finding_create(
        by=official, case=case, description="漏水", responsible_department=official.organization
    )

    event = OutboxEvent.objects.get()
    envelope = event_envelope(event)
    assert created is True
    assert set(envelope) == {"id", "type", "timestamp", "case", "external_no", "data"}
    assert envelope["id"] == str(event.event_id)
    assert envelope["type"] == "finding.created"
    assert envelope["case"] == str(case.pk)
    assert envelope["external_no"] == case.external_no
    assert envelope["timestamp"] == event.occurred_at.isoformat()
    assert envelope["data"]["record_type"] == "finding"
    assert envelope["data"]["id"] == str(finding.pk)
    assert envelope["data"]["description"] == "漏水"
    assert envelope["data"]["responsible_department_id"] == str(official.organization_id)
    assert envelope["data"]["status"] == "open"
    delivery = WebhookDelivery.objects.get()
    assert delivery.subscription_id == subscription.pk
    assert delivery.message_id == str(event.event_id)
    assert delivery.status == "pending"


def test_a_replayed_create_records_no_second_event(case, official):
    record_id = uuid.uuid4()
    arguments = {"case": case, "description": "漏水", "responsible_department": official.organization}

    finding_create(by=official, record_id=record_id, digest="d1", **arguments)
    _finding, created = finding_create(by=official, record_id=record_id, digest="d1", **arguments)

    assert created is False
    assert list(OutboxEvent.objects.values_list("type", flat=True)) == ["finding.created"]


def test_finding_created_through_rest_and_through_sync_push(case, official):
    client = client_for(official)

    rest = client.post("/api/v1/findings/", _finding_body(case, official), format="json")
    push_id = str(uuid.uuid4())
    pushed = client.post(
        "/api/v1/sync/push",
        {
            "device_id": "tablet-1",
            "operations": [
                {
                    "op_id": str(uuid.uuid4()),
                    "type": "finding",
                    "action": "upsert",
                    "id": push_id,
                    "base_version": None,
                    "data": _finding_body(case, official, description="井盖破损"),
                }
            ],
        },
        format="json",
    )

    assert rest.status_code == 201, rest.content
    assert pushed.status_code == 200, pushed.content
    assert pushed.json()["receipts"][0]["status"] == "applied", pushed.content
    events = list(OutboxEvent.objects.order_by("id"))
    assert [event.type for event in events] == ["finding.created", "finding.created"]
    assert [event.data["id"] for event in events] == [rest.json()["id"], push_id]
    assert [event.data["description"] for event in events] == ["排水口位置与图纸不符", "井盖破损"]


def test_the_event_is_queued_for_the_worker_on_commit(
    case, official, approval_system, receiver, django_capture_on_commit_callbacks
):
    from procrastinate.contrib.django.models import ProcrastinateJob

    webhook_subscription_create(by=approval_system, url=receiver.url, events=["finding.created"])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        finding_create(by=official, case=case, description="漏水", responsible_department=official.organization)

    delivery = WebhookDelivery.objects.get()
    assert len(callbacks) == 1
    job = ProcrastinateJob.objects.get(task_name="events.webhook_deliver")
    assert job.args == {"delivery_id": str(delivery.pk)}
    assert receiver.received == []
