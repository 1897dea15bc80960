"""Free text is bounded in the record kernel (every entry point refuses alike), and a pull page
is bounded in bytes as well as rows."""

import uuid

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from backend.audit.models import AuditEntry
from backend.cases.materials import MaterialScan
from backend.common.errors import ValidationFailed
from backend.surveys.models import Survey
from backend.surveys.services import survey_update
from backend.surveys.tests.factories import SurveyFactory
from backend.sync.models import SyncReceipt
from backend.sync.services import material_scan_create
from backend.visits.models import Visit
from backend.visits.services import visit_update
from backend.visits.tests.factories import make_visit, team_user
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, sha, vehicle_user_on

pytestmark = pytest.mark.django_db

TOO_LONG = "字" * 10_001


@pytest.fixture
def crew():
    case, item, _material = case_with_item()
    client = APIClient()
    client.force_authenticate(vehicle_user_on(case))
    return item, client


def _scan_body(item, **fields):
    return {
        "case": str(item.case_id),
        "item": str(item.pk),
        "sha256": sha(str(uuid.uuid4())),
        "content_type": "application/pdf",
        "filename": "a.pdf",
        **fields,
    }


def test_rest_refuses_text_beyond_the_limit_naming_the_field(crew):
    item, client = crew
    audit_before = AuditEntry.objects.count()

    response = client.post("/api/v1/material-scans/", _scan_body(item, note=TOO_LONG), format="json")
    at_limit = client.post("/api/v1/material-scans/", _scan_body(item, note="字" * 10_000), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == {"note": ["At most 10000 characters (this has 10001)."]}
    assert at_limit.status_code == 201
    assert MaterialScan.objects.count() == 1
    assert AuditEntry.objects.count() == audit_before + 1


def test_rest_refuses_an_update_beyond_the_limit_and_changes_nothing(crew):
    item, client = crew
    created = client.post("/api/v1/material-scans/", _scan_body(item, note="短"), format="json").json()

    response = client.patch(
        f"/api/v1/material-scans/{created['id']}/", {"note": TOO_LONG}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert list(response.json()["errors"]) == ["note"]
    scan = MaterialScan.objects.get(pk=created["id"])
    assert (scan.note, scan.version) == ("短", 1)


def test_sync_push_rejects_the_operation_and_keeps_the_others(crew):
    item, client = crew
    bad = scan_op(item=item, data=_scan_body(item, note=TOO_LONG))
    good = scan_op(item=item)

    receipts = push(client, bad, good).json()["receipts"]

    assert receipts[0]["status"] == "rejected"
    assert receipts[0]["code"] == "validation_error"
    assert receipts[0]["errors"] == {"note": ["At most 10000 characters (this has 10001)."]}
    assert receipts[1]["status"] == "applied"
    assert not MaterialScan.all_objects.filter(pk=bad["id"]).exists()
    assert MaterialScan.objects.filter(pk=good["id"]).exists()
    assert SyncReceipt.objects.get(op_id=bad["op_id"]).status == "rejected"


def test_a_field_with_its_own_limit_holds_more_and_the_service_refuses_beyond_it():
    survey = SurveyFactory()

    updated = survey_update(instance=survey, changes={"minutes": "记" * 50_000}, by=None)
    with pytest.raises(ValidationFailed) as refused:
        survey_update(instance=updated, changes={"minutes": "记" * 100_001, "summary": TOO_LONG}, by=None)
    with override_settings(RECORD_TEXT_MAX_CHARS_BY_FIELD={}):
        with pytest.raises(ValidationFailed):
            survey_update(instance=updated, changes={"minutes": "记" * 10_001}, by=None)

    assert len(updated.minutes) == 50_000
    assert refused.value.code == "validation_error"
    assert sorted(refused.value.errors) == ["minutes", "summary"]
    survey = Survey.objects.get(pk=survey.pk)
    assert (len(survey.minutes), survey.version) == (50_000, updated.version)


# --- pull pages in bytes --------------------------------------------------------------------


def _pull_all(client, **params):
    pages, cursor = [], ""
    while True:
        page = client.get("/api/v1/sync/pull", {"cursor": cursor, "types": "material_scan", **params}).json()
        pages.append(page)
        cursor = page["cursor"]
        if not page["has_more"]:
            return pages


def test_a_pull_page_stops_at_the_byte_limit_and_the_rest_follows(crew):
    item, client = crew
    scans = [
        material_scan_create(
            by=None, case=item.case, item=item, sha256=sha(f"{n}"), content_type="application/pdf", note="注" * 3000
        )[0]
        for n in range(5)
    ]

    with override_settings(SYNC_PULL_MAX_BYTES=20_000):  # a change here is about 9.4 kB
        pages = _pull_all(client, limit=100)

    assert [len(page["changes"]) for page in pages] == [2, 2, 1]
    assert [page["has_more"] for page in pages] == [True, True, False]
    delivered = [change["id"] for page in pages for change in page["changes"]]
    assert delivered == [str(scan.pk) for scan in scans]


def test_a_change_bigger_than_the_byte_limit_still_comes_alone(crew):
    item, client = crew
    for n in range(2):
        material_scan_create(
            by=None, case=item.case, item=item, sha256=sha(f"{n}"), content_type="application/pdf", note="注" * 3000
        )

    with override_settings(SYNC_PULL_MAX_BYTES=100):
        pages = _pull_all(client)

    assert [len(page["changes"]) for page in pages] == [1, 1]
    assert [page["has_more"] for page in pages] == [True, False]


# --- structured fields in bytes -------------------------------------------------------------
# Each JSON field also has its own shape rules (a visit's team: at most 50 agents); the kernel's
# byte bound holds whatever those allow, so the tests lower it.

TEAM = {"lead": "班长", "agents": ["代办员甲", "代办员乙"], "approvers": []}  # 73 bytes of canonical JSON
SMALL_LIMIT = override_settings(RECORD_JSON_MAX_BYTES=60, RECORD_JSON_MAX_BYTES_BY_FIELD={})


@pytest.fixture
def visit_and_team_client():
    visit = make_visit()
    client = APIClient()
    client.force_authenticate(team_user(visit.vehicle))
    return visit, client


def test_rest_refuses_json_beyond_the_limit_and_changes_nothing(visit_and_team_client):
    visit, client = visit_and_team_client

    with SMALL_LIMIT:
        response = client.patch(f"/api/v1/visits/{visit.pk}/", {"team": TEAM}, format="json", HTTP_IF_MATCH='"1"')
        small = client.patch(
            f"/api/v1/visits/{visit.pk}/", {"team": {"lead": "班长"}}, format="json", HTTP_IF_MATCH='"1"'
        )

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert response.json()["errors"] == {"team": ["At most 60 bytes of JSON (this has 73)."]}
    assert small.status_code == 200, small.content
    assert Visit.objects.get(pk=visit.pk).team == {"lead": "班长", "agents": [], "approvers": []}


def test_sync_push_rejects_json_beyond_the_limit(visit_and_team_client):
    visit, client = visit_and_team_client
    op = {
        "op_id": str(uuid.uuid4()),
        "type": "visit",
        "action": "upsert",
        "id": str(visit.pk),
        "base_version": 1,
        "data": {"team": TEAM},
    }

    with SMALL_LIMIT:
        receipt = push(client, op).json()["receipts"][0]

    assert (receipt["status"], receipt["code"]) == ("rejected", "validation_error")
    assert receipt["errors"] == {"team": ["At most 60 bytes of JSON (this has 73)."]}
    assert Visit.objects.get(pk=visit.pk).version == 1


def test_a_json_field_with_its_own_limit_holds_more():
    visit = make_visit()

    with override_settings(RECORD_JSON_MAX_BYTES=60, RECORD_JSON_MAX_BYTES_BY_FIELD={"visit.team": 100}):
        updated = visit_update(instance=visit, changes={"team": TEAM}, by=None)
        with pytest.raises(ValidationFailed) as refused:
            visit_update(instance=updated, changes={"team": {**TEAM, "approvers": ["审批员甲", "审批员乙"]}}, by=None)

    assert updated.team == TEAM
    assert list(refused.value.errors) == ["team"]
