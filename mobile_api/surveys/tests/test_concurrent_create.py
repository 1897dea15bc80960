"""Twenty devices retrying one create at the same moment leave exactly one row."""

import threading
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.common.models import IdempotencyKey
from backend.surveys.models import Survey, SurveyStatus
from backend.surveys.tests.factories import SurveyFactory

RETRIES = 20


def _race(work) -> list:
    """Run `work()` in RETRIES threads released together; each thread has its own connection."""
    barrier = threading.Barrier(RETRIES)
    results: list = [None] * RETRIES

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work()
        except Exception as error:  # reported through the result list
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RETRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def official_client():
    official = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
        roles=[Role.OFFICIAL],
    )
    return official


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_retries_of_one_create_make_one_row(official_client):
    case = ApprovalCaseFactory()
    record_id = str(uuid.uuid4())
    payload = {
        "id": record_id,
        "case": str(case.pk),
        "scheduled_at": "2026-03-10T09:30:00+08:00",
        "summary": "并发重试",
    }

    def create():
        client = APIClient()
        client.force_authenticate(official_client)
        response = client.post("/api/v1/surveys/", payload, format="json")
        return response.status_code, response.json()

    results = _race(create)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (RETRIES - 1) + [201]
    assert {body["id"] for _, body in results} == {record_id}
    assert {body["version"] for _, body in results} == {1}
    assert Survey.all_objects.filter(pk=record_id).count() == 1
    assert Survey.all_objects.count() == 1
    assert AuditEntry.objects.filter(record_id=record_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_retries_of_one_action_with_an_idempotency_key_apply_once(official_client):
    survey = SurveyFactory(case=ApprovalCaseFactory())

    def start():
        client = APIClient()
        client.force_authenticate(official_client)
        response = client.post(
            f"/api/v1/surveys/{survey.pk}/start", {}, format="json", HTTP_IDEMPOTENCY_KEY="start-once"
        )
        return response.status_code, response.json()

    results = _race(start)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert [status for status, _ in results] == [200] * RETRIES
    assert {body["version"] for _, body in results} == {2}
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.status, stored.version) == (SurveyStatus.IN_PROGRESS, 2)
    assert AuditEntry.objects.filter(record_id=survey.pk).count() == 1
    assert IdempotencyKey.objects.count() == 1
