"""Deliveries to a real receiver that verifies signatures with the standardwebhooks library."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from backend.events.delivery import delivery_attempt, retry_delay_seconds
from backend.events.models import WebhookDelivery, WebhookSubscription
from backend.events.services import webhook_secret_rotate, webhook_subscription_create
from backend.surveys.services import finding_create

pytestmark = pytest.mark.django_db


def _finding(case, official, description="漏水"):
    finding, _created = finding_create(
        by=official, case=case, description=description, responsible_department=official.organization
    )
    return finding


def _deliver():
    call_command("webhooks_deliver", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_delivery_is_signed_and_verified_by_the_receiver(case, official, approval_system, receiver):
    _subscription, secret = webhook_subscription_create(
        by=approval_system, url=receiver.url, events=["finding.created"]
    )
    receiver.secrets = [secret]
    finding = _finding(case, official)

    _deliver()

    assert len(receiver.received) == 1
    request = receiver.received[0]
    delivery = WebhookDelivery.objects.get()
    assert request.verified == {secret: True}
    assert request.headers["webhook-id"] == delivery.message_id
    assert request.headers["webhook-signature"].startswith("v1,")
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert request.envelope["type"] == "finding.created"
    assert request.envelope["data"]["id"] == str(finding.pk)
    assert request.body == delivery.body.encode()
    assert delivery.status == "succeeded"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 204
    assert delivery.last_error == ""
    assert delivery.last_latency_ms is not None
    assert delivery.delivered_at is not None


def test_a_signature_with_another_secret_does_not_verify(case, official, approval_system, receiver):
    webhook_subscription_create(by=approval_system, url=receiver.url, events=["finding.created"])
    wrong = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    receiver.secrets = [wrong]
    _finding(case, official)

    _deliver()

    assert receiver.received[0].verified == {wrong: False}


def test_receiver_500_is_retried_with_backoff_then_delivered_with_the_same_id(
    case, official, approval_system, receiver, settings
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    _subscription, secret = webhook_subscription_create(
        by=approval_system, url=receiver.url, events=["finding.created"]
    )
    receiver.secrets = [secret]
    receiver.script = [500, 503]
    _finding(case, official)

    before = timezone.now()
    _deliver()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert delivery.last_error == "HTTP 500"
    assert len(delivery.retry_delays) == 1
    assert 8 <= delivery.retry_delays[0] <= 12
    assert before + dt.timedelta(seconds=8) <= delivery.next_attempt_at <= timezone.now() + dt.timedelta(seconds=12)

    _deliver()  # not due yet: nothing sent
    assert len(receiver.received) == 1

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    _deliver()
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.last_status_code == 503
    assert 32 <= delivery.retry_delays[1] <= 48

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    _deliver()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert delivery.attempts == 3
    assert [request.headers["webhook-id"] for request in receiver.received] == [delivery.message_id] * 3
    assert all(request.verified == {secret: True} for request in receiver.received)


def test_the_retry_schedule_spans_about_a_day_over_at_least_eight_attempts(settings):
    assert settings.WEBHOOK_MAX_ATTEMPTS >= 8
    low = sum(retry_delay_seconds(n) / 1.2 for n in range(1, settings.WEBHOOK_MAX_ATTEMPTS)) / 3600
    # Without jitter: 10 s * 4**(n-1), capped at 10 h: 23.8 h of waiting over 9 attempts.
    nominal = sum(min(10 * 4 ** (n - 1), 36000) for n in range(1, settings.WEBHOOK_MAX_ATTEMPTS)) / 3600
    assert round(nominal, 1) == 23.8
    assert 0.8 * nominal * 0.8 <= low <= nominal * 1.2


def test_after_the_last_attempt_the_delivery_is_dead_lettered(case, official, approval_system, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    webhook_subscription_create(by=approval_system, url=receiver.url, events=["finding.created"])
    receiver.script = [500, 500, 500]
    _finding(case, official)

    _deliver()
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    _deliver()
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    _deliver()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.attempts == 2
    assert len(receiver.received) == 2


def test_410_disables_the_subscription(case, official, approval_system, receiver):
    subscription, _secret = webhook_subscription_create(
        by=approval_system, url=receiver.url, events=["finding.created"]
    )
    receiver.script = [410]
    _finding(case, official)

    _deliver()

    subscription.refresh_from_db()
    assert subscription.is_active is False
    assert subscription.disabled_reason == "The receiver answered 410 Gone."
    assert WebhookDelivery.objects.get().status == "failed"
    _finding(case, official, "另一个")
    assert WebhookDelivery.objects.count() == 1


def test_rotation_sends_both_signatures_until_the_overlap_ends(case, official, approval_system, receiver, settings):
    settings.WEBHOOK_SECRET_OVERLAP_HOURS = 2
    subscription, old = webhook_subscription_create(by=approval_system, url=receiver.url, events=["finding.created"])
    subscription, new = webhook_secret_rotate(subscription=subscription, by=approval_system)
    receiver.secrets = [old, new]
    _finding(case, official)

    _deliver()

    request = receiver.received[0]
    assert new != old
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert request.verified == {old: True, new: True}
    expires = subscription.previous_secret_expires_at
    assert dt.timedelta(hours=1, minutes=59) < expires - timezone.now() <= dt.timedelta(hours=2)

    WebhookSubscription.objects.filter(pk=subscription.pk).update(previous_secret_expires_at=timezone.now())
    _finding(case, official, "另一个")
    _deliver()
    request = receiver.received[1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert request.verified == {old: False, new: True}


def test_an_organisation_that_cannot_see_the_case_gets_nothing(
    case, official, approval_system, other_district_admin, receiver
):
    webhook_subscription_create(by=other_district_admin, url=receiver.url, events=["finding.created"])
    _finding(case, official)

    _deliver()

    assert WebhookDelivery.objects.count() == 0
    assert receiver.received == []


def test_per_case_order_a_later_event_waits_for_an_earlier_undelivered_one(case, official, approval_system, receiver):
    webhook_subscription_create(by=approval_system, url=receiver.url, events=["finding.created"])
    receiver.script = [500]
    first = _finding(case, official, "第一")
    second = _finding(case, official, "第二")

    _deliver()
    assert [request.envelope["data"]["id"] for request in receiver.received] == [str(first.pk)]

    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    _deliver()
    ids = [request.envelope["data"]["id"] for request in receiver.received]
    assert ids == [str(first.pk), str(first.pk), str(second.pk)]


def test_a_delivery_held_by_another_worker_is_skipped(case, official, approval_system, receiver):
    webhook_subscription_create(by=approval_system, url=receiver.url, events=["finding.created"])
    _finding(case, official)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="succeeded")

    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert receiver.received == []
