"""A statement PostgreSQL cancels inside a sync push (DATABASE_STATEMENT_TIMEOUT_MS) answers the
whole push 503 query_timeout with Retry-After and writes nothing of it: no record, no receipt, no
audit entry. It is the server that failed, not an operation, so no operation is `rejected`: the
device retries the same push later and every operation is applied once."""

import uuid

import pytest
from django.db import connection

from backend.audit.models import AuditEntry
from backend.surveys.models import Survey
from backend.sync.models import SyncReceipt
from tests.test_sync_push_memo import _survey_op, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

SLOW_TRIGGER = """
CREATE FUNCTION test_slow_survey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.summary = 'slow' THEN PERFORM pg_sleep(2); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_slow_survey BEFORE INSERT OR UPDATE ON surveys_survey
    FOR EACH ROW EXECUTE FUNCTION test_slow_survey();
"""


def _push(client, ops):
    return client.post("/api/v1/sync/push", {"device_id": "tablet-t", "operations": ops}, format="json")


@pytest.mark.parametrize("slow_at", [0, 2])
def test_a_cancelled_statement_in_a_push_is_503_and_writes_nothing(world, slow_at):  # noqa: F811
    case, client = world["case"], world["client"]
    ops = [_survey_op(case, summary=f"survey {n}") for n in range(3)]
    ops[slow_at]["data"]["summary"] = "slow"
    with connection.cursor() as cursor:
        cursor.execute(SLOW_TRIGGER)
        cursor.execute("SET LOCAL statement_timeout = 300")
    before = (Survey.all_objects.count(), SyncReceipt.objects.count(), AuditEntry.objects.count())

    response = _push(client, ops)

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "query_timeout"
    assert (Survey.all_objects.count(), SyncReceipt.objects.count(), AuditEntry.objects.count()) == before
    assert not Survey.all_objects.filter(pk__in=[uuid.UUID(op["id"]) for op in ops]).exists()

    # The database is fast again: the device's retry of the same push applies every operation once.
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_slow_survey ON surveys_survey")
        cursor.execute("SET LOCAL statement_timeout = 0")
    retried = _push(client, ops)
    assert retried.status_code == 200, retried.content
    assert [receipt["status"] for receipt in retried.json()["receipts"]] == ["applied"] * 3
    assert Survey.objects.filter(pk__in=[uuid.UUID(op["id"]) for op in ops]).count() == 3
    again = _push(client, ops)
    assert [receipt["status"] for receipt in again.json()["receipts"]] == ["duplicate"] * 3
