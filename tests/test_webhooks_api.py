"""The webhook subscription API, deliveries, pausing and the pull feed, through HTTP.

Deliveries are sent in the test process here (the same service the worker runs) to a receiver
process on loopback; tests/test_webhooks_live.py runs the worker itself.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import close_old_connections, transaction
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from backend.accounts.models import CaseOrigin, OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import Blzt
from backend.cases.services import approval_item_change_status
from backend.cases.tests.factories import ApprovalItemFactory
from backend.events.models import Delivery, DeliveryStatus, Event, PauseReason, Subscription
from backend.events.services import deliveries_drain, event_emit, events_relay
from backend.notifications.models import Notification, NotificationKind


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _external_system(region: str = ""):
    org = OrganizationFactory(kind=OrganizationKind.EXTERNAL_SYSTEM, region=region)
    return org, UserFactory(organization=org, roles=[Role.INTEGRATION])


def _admin():
    return UserFactory(is_superuser=True, roles=[Role.ADMINISTRATOR], organization=None)


# --- subscriptions ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_external_system_subscribes_and_sees_its_secret_once(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    org, user = _external_system()
    client = _client(user)
    created = client.post(
        "/api/v1/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "events": ["survey.signed", "inspection.signed"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert (body["organization"], body["events"], body["is_active"]) == (
        str(org.pk),
        ["inspection.signed", "survey.signed"],
        True,
    )
    listed = client.get("/api/v1/webhooks/").json()
    assert listed["count"] == 1 and "secret" not in listed["results"][0]
    assert "secret" not in client.get(f"/api/v1/webhooks/{body['id']}/").json()

    patched = client.patch(f"/api/v1/webhooks/{body['id']}/", {"events": [], "is_active": False}, format="json")
    assert patched.status_code == 200, patched.content
    assert (patched.json()["events"], patched.json()["is_active"]) == ([], False)
    _other_org, other = _external_system()
    assert _client(other).get(f"/api/v1/webhooks/{body['id']}/").status_code == 404
    assert (
        _client(other).patch(f"/api/v1/webhooks/{body['id']}/", {"is_active": True}, format="json").status_code == 404
    )
    assert client.delete(f"/api/v1/webhooks/{body['id']}/").status_code == 204
    assert Subscription.objects.count() == 0


@pytest.mark.django_db
def test_who_may_subscribe(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    department = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="3702")
    official = UserFactory(organization=department, roles=[Role.OFFICIAL])
    url = {"url": "http://127.0.0.1:9/hook"}
    refused = _client(official).post("/api/v1/webhooks/", url, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    admin = _admin()
    nameless = _client(admin).post("/api/v1/webhooks/", url, format="json")
    assert (nameless.status_code, nameless.json()["code"]) == (400, "validation_error")
    unknown_org = _client(admin).post(
        "/api/v1/webhooks/", {**url, "organization": "00000000-0000-0000-0000-000000000000"}, format="json"
    )
    assert unknown_org.status_code == 404
    assert Subscription.objects.count() == 0
    made = _client(admin).post("/api/v1/webhooks/", {**url, "organization": str(department.pk)}, format="json")
    assert made.status_code == 201, made.content
    # The department's own users do not manage it; administrators do.
    assert _client(official).get("/api/v1/webhooks/").json()["count"] == 0
    assert _client(admin).get("/api/v1/webhooks/").json()["count"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "http://127.0.0.1:9/hook", "events": ["survey.exploded"]}, "unknown_event_type"),
        ({"url": "ftp://example.com/hook"}, "webhook_url_not_allowed"),
        ({"url": "http://127.0.0.1:9/hook"}, "webhook_url_not_allowed"),  # loopback not allowed here
        ({"url": "http://169.254.169.254/"}, "webhook_url_not_allowed"),
        ({"url": ""}, "validation_error"),
        ({"events": ["survey.signed"]}, "validation_error"),
        ({"url": "http://127.0.0.1:9/hook", "events": "survey.signed"}, "validation_error"),
    ],
)
def test_bad_subscriptions_are_refused_and_leave_nothing(body, code, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = [] if code == "webhook_url_not_allowed" else ["127.0.0.0/8"]
    _org, user = _external_system()
    response = _client(user).post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert Subscription.objects.count() == 0


@pytest.mark.django_db
def test_the_catalogue_is_served():
    _org, user = _external_system()
    names = [t["name"] for t in _client(user).get("/api/v1/events/types/").json()]
    assert {"case.item.status_changed", "deadline.level_changed", "survey.signed", "record.reopened"} <= set(names)


# --- deliveries (sent in this process to a real receiver) -------------------------------------


def _subscribed(receiver, **fields):
    system, user = _external_system()
    item = ApprovalItemFactory(status=Blzt.RECEIVED)
    CaseOrigin.objects.create(case=item.case, organization=system)
    body = {"url": f"{receiver.url}/hook", **fields}
    subscription = _client(user).post("/api/v1/webhooks/", body, format="json").json()
    return user, item, subscription


def _deliver(subscription, item) -> int:
    events_relay()
    return deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id)


@pytest.mark.django_db(transaction=True)
def test_deliveries_list_and_retry(receiver, seeded_rows):
    user, item, subscription = _subscribed(receiver)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    receiver.answer(status=500)
    assert _deliver(subscription, item) == 0
    listed = _client(user).get(f"/api/v1/webhooks/{subscription['id']}/deliveries/").json()
    assert listed["count"] == 1
    row = listed["results"][0]
    assert (row["status"], row["attempts"], row["last_status_code"], row["type"]) == (
        "pending",
        1,
        500,
        "case.item.status_changed",
    )
    assert row["last_latency_ms"] is not None and row["event"] == str(Event.objects.get().uuid)
    assert row["next_attempt_at"] > row["last_attempt_at"]

    receiver.answer(status=200)
    retried = _client(user).post(f"/api/v1/webhooks/{subscription['id']}/deliveries/{row['id']}/retry")
    assert retried.status_code == 202, retried.content
    assert deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id) == 1
    row = _client(user).get(f"/api/v1/webhooks/{subscription['id']}/deliveries/?status=succeeded").json()["results"][0]
    assert (row["status"], row["last_status_code"], row["last_error"]) == ("succeeded", 200, "")
    assert [a["status_code"] for a in row["attempt_log"]] == [500, 200]
    assert row["delivered_at"] is not None
    entries = receiver.entries()
    assert len(entries) == 2 and len({e["headers"]["webhook-id"] for e in entries}) == 1
    bad = _client(user).get(f"/api/v1/webhooks/{subscription['id']}/deliveries/?status=lost")
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answer", [200, 500])
def test_a_replay_queued_while_the_first_attempt_is_in_flight_is_sent_again(receiver, seeded_rows, monkeypatch, answer):
    """The replay commits between the send and the storing of its outcome: the outcome must not
    overwrite the replay (a first attempt and a replay both start from 0 attempts)."""
    from backend.events import services

    user, item, subscription = _subscribed(receiver)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    events_relay()
    receiver.answer(status=answer)
    real_send = services._send
    queued = []

    def send_then_replay(sub, delivery):
        outcome = real_send(sub, delivery)
        if queued:
            return outcome

        def replay():  # another connection, committed before the sender stores its outcome
            try:
                queued.append(services.subscription_replay(subscription_id=subscription["id"], by=user, since=before))
            finally:
                close_old_connections()

        thread = threading.Thread(target=replay)
        thread.start()
        thread.join()
        return outcome

    monkeypatch.setattr(services, "_send", send_then_replay)
    deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id)
    assert queued == [1]
    # The replayed delivery is due again: the sender sends it at once (after a 200) or the drain the
    # replay queued does (after a 500 the sender stops); only the replay's attempt is counted.
    deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id)
    delivery = Delivery.objects.get()
    assert [e["headers"]["webhook-id"] for e in receiver.entries()] == [str(delivery.event.uuid)] * 2
    assert delivery.attempts == 1
    assert delivery.status == (DeliveryStatus.SUCCEEDED if answer == 200 else DeliveryStatus.PENDING)
    assert [a["status_code"] for a in delivery.attempt_log] == [answer]


@pytest.mark.django_db(transaction=True)
def test_410_disables_the_subscription_and_tells_its_owners(receiver, seeded_rows):
    user, item, subscription = _subscribed(receiver)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    receiver.answer(status=410)
    assert _deliver(subscription, item) == 0
    stored = Subscription.objects.get(pk=subscription["id"])
    assert (stored.is_active, stored.pause_reason) == (False, PauseReason.GONE)
    assert Delivery.objects.get().status == DeliveryStatus.PENDING  # kept for when it comes back
    notice = Notification.objects.get(kind=NotificationKind.WEBHOOK_PAUSED)
    assert notice.recipient == user
    # Nothing more is sent while it is disabled; activating again resumes.
    receiver.answer(status=200)
    assert deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id) == 0
    assert len(receiver.entries()) == 1
    resumed = _client(user).patch(f"/api/v1/webhooks/{subscription['id']}/", {"is_active": True}, format="json")
    assert (resumed.json()["is_active"], resumed.json()["paused_at"]) == (True, None)
    assert deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id) == 1


@pytest.mark.django_db(transaction=True)
def test_a_subscription_failing_for_the_set_time_is_paused(receiver, seeded_rows, settings):
    settings.WEBHOOK_PAUSE_AFTER_SECONDS = 0
    user, item, subscription = _subscribed(receiver)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    receiver.answer(status=503)
    _deliver(subscription, item)
    assert Subscription.objects.get(pk=subscription["id"]).is_active is True  # failing since now
    Delivery.objects.update(next_attempt_at=dt.datetime.now(dt.UTC))
    deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id)
    stored = Subscription.objects.get(pk=subscription["id"])
    assert (stored.is_active, stored.pause_reason) == (False, PauseReason.FAILING)
    assert Notification.objects.filter(kind=NotificationKind.WEBHOOK_PAUSED, recipient=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_dead_lettered_after_the_last_attempt_and_the_case_moves_on(receiver, seeded_rows, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    _user, item, subscription = _subscribed(receiver)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    approval_item_change_status(item=item, status=Blzt.DEPARTMENT_ACCEPTED, by=None)
    receiver.answer(status=500)
    _deliver(subscription, item)
    first = Delivery.objects.order_by("position").first()
    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=dt.datetime.now(dt.UTC))
    receiver.answer(status=500)
    deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id)
    first.refresh_from_db()
    assert (first.status, first.attempts) == (DeliveryStatus.DEAD, 2)
    second = Delivery.objects.exclude(pk=first.pk).get()
    # The second waited while the first was retried, and went once the first was given up.
    assert [e["headers"]["webhook-id"] for e in receiver.entries()] == [
        str(first.event.uuid),
        str(first.event.uuid),
        str(second.event.uuid),
    ]
    receiver.answer(status=200)
    Delivery.objects.filter(pk=second.pk).update(next_attempt_at=dt.datetime.now(dt.UTC))
    assert deliveries_drain(subscription_id=subscription["id"], case_id=item.case_id) == 1


@pytest.mark.django_db(transaction=True)
def test_redirects_are_not_followed(receiver, seeded_rows):
    _user, item, subscription = _subscribed(receiver)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    receiver.answer(status=302, location=f"{receiver.url}/elsewhere")
    _deliver(subscription, item)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.PENDING, 302)
    assert "not followed" in delivery.last_error
    assert [e["path"] for e in receiver.entries()] == ["/hook"]


@pytest.mark.django_db(transaction=True)
def test_a_large_answer_is_read_only_up_to_the_limit(receiver, seeded_rows, settings):
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 1024
    _user, item, subscription = _subscribed(receiver)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    receiver.answer(status=200, repeat=200_000)  # 2.4 MB
    assert _deliver(subscription, item) == 1


@pytest.mark.django_db(transaction=True)
def test_ping_is_signed(receiver, seeded_rows):
    user, _item, subscription = _subscribed(receiver)
    response = _client(user).post(f"/api/v1/webhooks/{subscription['id']}/ping")
    assert response.status_code == 200, response.content
    assert (response.json()["success"], response.json()["status_code"]) == (True, 200)
    entry = receiver.entries()[0]
    assert Webhook(subscription["secret"]).verify(entry["body"], entry["headers"])["type"] == "webhook.ping"


# --- the pull feed ---------------------------------------------------------------------------


def _feed(client, **params) -> dict:
    response = client.get("/api/v1/events/", params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_feed_pages_in_commit_order_scoped_to_the_caller(seeded_rows):
    system, user = _external_system()
    items = [ApprovalItemFactory(status=Blzt.RECEIVED) for _ in range(2)]
    CaseOrigin.objects.create(case=items[0].case, organization=system)
    for step in (Blzt.ACCEPTED, Blzt.DEPARTMENT_ACCEPTED, Blzt.APPROVED):
        for item in items:
            approval_item_change_status(item=item, status=step, by=None)
    client = _client(user)
    first = _feed(client, limit=2)
    assert [e["data"]["to_status"] for e in first["results"]] == [Blzt.ACCEPTED, Blzt.DEPARTMENT_ACCEPTED]
    assert first["has_more"] is True and "cursor=" in first["next"]
    rest = _feed(client, cursor=first["cursor"], limit=2)
    assert [e["data"]["to_status"] for e in rest["results"]] == [Blzt.APPROVED]
    assert rest["has_more"] is False
    assert {e["case"] for e in first["results"] + rest["results"]} == {str(items[0].case_id)}
    assert _feed(client, cursor=rest["cursor"])["results"] == []
    envelope = first["results"][0]
    assert set(envelope) == {"id", "type", "timestamp", "case", "external_no", "data"}
    assert envelope["external_no"] == items[0].case.external_no
    assert _feed(client, types="deadline.level_changed")["results"] == []
    assert len(_feed(_client(_admin()), case=str(items[1].case_id))["results"]) == 3
    _outsider_org, outsider = _external_system(region="1101")
    assert _feed(_client(outsider))["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "abc"}, "invalid_cursor"),
        ({"cursor": "9" * 30}, "invalid_cursor"),
        ({"types": "nope"}, "unknown_event_type"),
        ({"limit": "0"}, "invalid_limit"),
        ({"case": "not-a-uuid"}, "validation_error"),
    ],
)
def test_feed_refuses_bad_parameters(params, code):
    _org, user = _external_system()
    response = _client(user).get("/api/v1/events/", params)
    assert (response.status_code, response.json()["code"]) == (400, code)


@pytest.mark.django_db(transaction=True)
def test_feed_never_skips_a_transaction_that_commits_late(seeded_rows):
    """T1 writes its event first but commits after T2: a reader between the two commits gets
    T2's event, and the next read from its cursor still gets T1's."""
    system, user = _external_system()
    late_item, early_item = ApprovalItemFactory(status=Blzt.RECEIVED), ApprovalItemFactory(status=Blzt.RECEIVED)
    for item in (late_item, early_item):
        CaseOrigin.objects.create(case=item.case, organization=system)
    client = _client(user)
    start = _feed(client)["cursor"]
    wrote, release, errors = threading.Event(), threading.Event(), []

    def late_transaction():
        try:
            with transaction.atomic():
                approval_item_change_status(item=late_item, status=Blzt.ACCEPTED, by=None)
                wrote.set()
                release.wait(30)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            close_old_connections()

    thread = threading.Thread(target=late_transaction)
    thread.start()
    assert wrote.wait(30)
    # (Another status change would queue behind the first on the working-day calendar's lock.)
    with transaction.atomic():
        event_emit(type="case.item.status_changed", case_id=early_item.case_id, data={"to_status": Blzt.ACCEPTED})
    middle = _feed(client, cursor=start)
    release.set()
    thread.join(30)
    after = _feed(client, cursor=middle["cursor"])

    assert errors == []
    assert [e["case"] for e in middle["results"]] == [str(early_item.case_id)]
    assert [e["case"] for e in after["results"]] == [str(late_item.case_id)]
    positions = list(Event.objects.order_by("position").values_list("case_id", flat=True))
    assert positions == [early_item.case_id, late_item.case_id]  # commit order, not write order


@pytest.mark.django_db
def test_the_opinion_pdf_link_works_without_a_token_until_it_expires(settings):
    from backend.acceptance.tests.factories import make_inspection
    from backend.events.catalogue import inspection_report_link

    inspection, _departments = make_inspection(stage=2)
    link = inspection_report_link(inspection.pk)
    path = link["url"].removeprefix(settings.PUBLIC_BASE_URL.rstrip("/"))
    response = APIClient().get(path)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
    tampered = APIClient().get(path[:-3] + "abc")
    assert (tampered.status_code, tampered.json()["code"]) == (404, "not_found")
    settings.WEBHOOK_REPORT_LINK_SECONDS = -1  # every link has expired
    assert APIClient().get(path).status_code == 404
