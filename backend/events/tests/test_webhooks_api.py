"""`/api/v1/webhooks/…` and `/api/v1/events/` through the HTTP API."""

import pytest

from backend.accounts.models import Role
from backend.accounts.tests.factories import UserFactory
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from backend.events.tests.conftest import client_for
from backend.surveys.services import finding_create

pytestmark = pytest.mark.django_db


def _create(client, url, events=("finding.created",), **extra):
    return client.post("/api/v1/webhooks/", {"url": url, "events": list(events), **extra}, format="json")


def test_create_shows_the_secret_once(approval_system, receiver):
    client = client_for(approval_system)

    created = _create(client, receiver.url)
    listed = client.get("/api/v1/webhooks/")
    detail = client.get(f"/api/v1/webhooks/{created.json()['id']}/")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["url"] == receiver.url
    assert body["events"] == ["finding.created"]
    assert body["is_active"] is True
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret == body["secret"]
    assert subscription.organization_id == approval_system.organization_id
    assert [item["id"] for item in listed.json()] == [body["id"]]
    assert "secret" not in listed.json()[0]
    assert "secret" not in detail.json()


def test_only_administrators_or_an_external_system_manage_webhooks(official, receiver):
    response = _create(client_for(official), receiver.url)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert WebhookSubscription.objects.count() == 0


def test_an_organisations_administrator_manages_its_webhooks(official, receiver):
    admin = UserFactory(organization=official.organization, roles=[Role.ADMINISTRATOR])

    response = _create(client_for(admin), receiver.url)

    assert response.status_code == 201
    assert WebhookSubscription.objects.get().organization_id == official.organization_id


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "webhook_url_invalid"),
        ("http://user:pass@example.com/hook", "webhook_url_invalid"),
        ("not a url", "webhook_url_invalid"),
        ("http://[::1", "webhook_url_invalid"),
        ("", "webhook_url_invalid"),
    ],
)
def test_bad_urls_are_refused_and_nothing_is_stored(approval_system, url, code):
    response = _create(client_for(approval_system), url)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert WebhookSubscription.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
    ],
)
def test_private_targets_are_refused_unless_allowed(approval_system, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    response = _create(client_for(approval_system), url)

    assert response.status_code == 400
    assert response.json()["code"] == "webhook_target_forbidden"
    assert WebhookSubscription.objects.count() == 0


def test_a_target_that_became_private_is_not_called(case, official, approval_system, receiver, settings):
    _create(client_for(approval_system), receiver.url)
    finding_create(by=official, case=case, description="漏水", responsible_department=official.organization)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    from backend.events.delivery import deliveries_deliver_due

    deliveries_deliver_due()

    delivery = WebhookDelivery.objects.get()
    assert receiver.received == []
    assert delivery.status == "failed"
    assert delivery.last_error == "webhook_target_forbidden"


def test_unknown_event_types_are_refused(approval_system, receiver):
    response = _create(client_for(approval_system), receiver.url, events=["finding.created", "record.created"])

    assert response.status_code == 400
    assert response.json()["code"] == "webhook_events_invalid"
    assert WebhookSubscription.objects.count() == 0


def test_patch_and_delete(approval_system, receiver):
    client = client_for(approval_system)
    subscription_id = _create(client, receiver.url).json()["id"]

    patched = client.patch(
        f"/api/v1/webhooks/{subscription_id}/",
        {"events": ["survey.signed", "finding.created"], "is_active": False},
        format="json",
    )
    refused = client.patch(f"/api/v1/webhooks/{subscription_id}/", {"secret": "whsec_x"}, format="json")
    deleted = client.delete(f"/api/v1/webhooks/{subscription_id}/")

    assert patched.status_code == 200
    assert patched.json()["events"] == ["finding.created", "survey.signed"]
    assert patched.json()["is_active"] is False
    assert refused.status_code == 400
    assert refused.json()["code"] == "read_only_field"
    assert deleted.status_code == 204
    assert WebhookSubscription.objects.count() == 0


def test_another_organisation_cannot_see_or_change_a_subscription(approval_system, other_district_admin, receiver):
    subscription_id = _create(client_for(approval_system), receiver.url).json()["id"]
    other = client_for(other_district_admin)

    assert other.get("/api/v1/webhooks/").json() == []
    assert other.patch(f"/api/v1/webhooks/{subscription_id}/", {"is_active": False}, format="json").status_code == 404
    assert other.delete(f"/api/v1/webhooks/{subscription_id}/").status_code == 404
    assert WebhookSubscription.objects.get().is_active is True


def test_rotate_secret_answers_the_new_secret(approval_system, receiver):
    client = client_for(approval_system)
    created = _create(client, receiver.url).json()

    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")

    assert rotated.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert rotated.json()["secret"] == subscription.secret
    assert subscription.previous_secret == created["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None


def test_ping_deliveries_list_and_retry(approval_system, receiver):
    from django.core.management import call_command

    client = client_for(approval_system)
    created = _create(client, receiver.url).json()
    receiver.secrets = [created["secret"]]
    receiver.script = [500]

    ping = client.post(f"/api/v1/webhooks/{created['id']}/ping")
    call_command("webhooks_deliver", stdout=open("/dev/null", "w"))  # noqa: SIM115
    listed = client.get(f"/api/v1/webhooks/{created['id']}/deliveries/")
    retried = client.post(f"/api/v1/webhooks/{created['id']}/deliveries/{ping.json()['id']}/retry")
    call_command("webhooks_deliver", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert ping.status_code == 202
    assert ping.json()["event_type"] == "webhook.ping"
    row = listed.json()[0]
    assert (row["status"], row["attempts"], row["last_status_code"], row["last_error"]) == (
        "pending",
        1,
        500,
        "HTTP 500",
    )
    assert retried.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 204)
    assert [request.envelope["type"] for request in receiver.received] == ["webhook.ping", "webhook.ping"]
    assert all(request.verified == {created["secret"]: True} for request in receiver.received)
    assert OutboxEvent.objects.count() == 0
    again = client.post(f"/api/v1/webhooks/{created['id']}/deliveries/{ping.json()['id']}/retry")
    assert again.status_code == 409
    assert again.json()["code"] == "delivery_succeeded"


def test_event_feed_pages_by_cursor_and_is_scoped(case, official, other_district_admin):
    other_case = ApprovalCaseFactory(project=ProjectFactory(region_code="370202"))
    for n in range(3):
        finding_create(by=official, case=case, description=f"问题{n}", responsible_department=official.organization)
    client = client_for(official)

    first = client.get("/api/v1/events/?limit=2")
    second = client.get(f"/api/v1/events/?limit=2&cursor={first.json()['next_cursor']}")
    by_case = client.get(f"/api/v1/events/?case={other_case.pk}")
    by_type = client.get("/api/v1/events/?types=survey.signed")

    assert first.status_code == 200
    assert [event["data"]["description"] for event in first.json()["results"]] == ["问题0", "问题1"]
    assert first.json()["has_more"] is True
    assert [event["data"]["description"] for event in second.json()["results"]] == ["问题2"]
    assert second.json()["has_more"] is False
    assert set(first.json()["results"][0]) == {"id", "type", "timestamp", "case", "external_no", "data"}
    assert by_case.json()["results"] == []
    assert by_type.json()["results"] == []


def test_event_feed_of_an_organisation_that_cannot_see_the_case_is_empty(case, official):
    from backend.accounts.models import OrganizationKind
    from backend.accounts.tests.factories import OrganizationFactory

    outsider = UserFactory(organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370202"))
    finding_create(by=official, case=case, description="漏水", responsible_department=official.organization)

    response = client_for(outsider).get("/api/v1/events/")

    assert response.json() == {"results": [], "next_cursor": "0", "has_more": False}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("cursor=-1", "invalid_cursor"),
        ("cursor=abc", "invalid_cursor"),
        ("cursor=" + "9" * 400, "invalid_cursor"),
        ("types=record.created", "invalid_event_type"),
        ("case=nope", "invalid_case"),
        ("limit=0", "invalid_limit"),
    ],
)
def test_event_feed_bad_parameters_are_400(official, query, code):
    response = client_for(official).get(f"/api/v1/events/?{query}")

    assert response.status_code == 400
    assert response.json()["code"] == code
