"""A device whose organisation is given a case receives the case's older records.

Those records were audited before the device's cursor, so an incremental pull alone would never
send them: the feed carries a `case_access` change and the client pulls the case with `?case=`.
"""

import datetime as dt
import time
import uuid

import pytest
import requests
from django.core.cache import cache
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import PASSWORD, OrganizationFactory, UserFactory
from backend.audit.models import AuditEntry
from backend.cases.services import case_assign_organizations
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.surveys.models import Finding, Survey
from backend.surveys.services import finding_create, survey_create, survey_delete
from field_client import SyncClient
from mobile_api.sync.pull import parse_cursor
from tests.server_process import ServerProcess

WHEN = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def official():
    """An official whose jurisdiction (370211) covers the factory cases: writes before any crew is sent."""
    return UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
        roles=[Role.OFFICIAL],
    )


def _crew_member(name):
    crew = OrganizationFactory(kind=OrganizationKind.SURVEY_CREW)
    return UserFactory(username=name, organization=crew, roles=[Role.SURVEYOR])


def _older_records(case, official):
    """Two surveys (one deleted) and a finding, written while no crew could see the case."""
    kept, _ = survey_create(by=official, case=case, scheduled_at=WHEN, summary="踏勘 1")
    dropped, _ = survey_create(by=official, case=case, scheduled_at=WHEN, summary="踏勘 2")
    survey_delete(instance=dropped, by=official)
    finding, _ = finding_create(
        by=official, case=case, description="管线未迁改", responsible_department=official.organization, survey=kept
    )
    return kept, dropped, finding


def _pull(api, **params):
    response = api.get("/api/v1/sync/pull", params)
    assert response.status_code == 200, response.content
    return response.json()


def _case_access(case):
    return {
        "type": "case_access",
        "id": str(case.pk),
        "version": 0,
        "deleted": False,
        "data": {"case": str(case.pk), "resync": True},
        "complete": True,
        "missing_attachments": [],
    }


@pytest.mark.django_db(transaction=True)
def test_a_crew_given_a_case_gets_every_older_record_of_it(tmp_path, official):
    own_case, new_case = ApprovalCaseFactory(), ApprovalCaseFactory()
    member = _crew_member("crew1")
    case_assign_organizations(case=own_case, organizations=[member.organization])
    kept, dropped, finding = _older_records(new_case, official)
    own_survey, _ = survey_create(by=official, case=own_case, scheduled_at=WHEN, summary="自己的")
    server = ServerProcess(log_path=tmp_path / "server.log").start()
    try:
        client = SyncClient(
            tmp_path / "crew1.sqlite3", server=server.url, progress=lambda text: None, sleep=lambda s: time.sleep(0.1)
        )
        client.login("crew1", PASSWORD)
        assert client.pull() == 1
        cursor = client.store.get("cursor")
        # The cursor is past the new case's records, which the crew could not see then.
        assert (
            parse_cursor(cursor)
            > (AuditEntry.objects.filter(case_id=new_case.pk).order_by("-txid", "-id").values_list("txid", "id")[0])
        )

        case_assign_organizations(case=new_case, organizations=[member.organization], by=official)

        page = requests.get(
            f"{server.url}/api/v1/sync/pull", params={"cursor": cursor}, headers=client.headers(), timeout=30
        ).json()
        assert page["changes"] == [_case_access(new_case)]
        assert page["has_more"] is False
        assert client.pull() == 3
        rows = client.store.db.execute("SELECT type, id, version, deleted FROM records ORDER BY type, id").fetchall()
        assert sorted(tuple(row) for row in rows) == sorted(
            [
                ("survey", str(own_survey.pk), 1, 0),
                ("survey", str(kept.pk), Survey.objects.get(pk=kept.pk).version, 0),
                ("survey", str(dropped.pk), Survey.all_objects.get(pk=dropped.pk).version, 1),
                ("finding", str(finding.pk), Finding.objects.get(pk=finding.pk).version, 0),
            ]
        )
        assert client.store.record("finding", str(finding.pk))["data"]["description"] == "管线未迁改"
        # The main cursor moved on; the next pull has nothing left.
        assert client.store.get("cursor") == page["cursor"]
        assert client.pull() == 0
        client.close()
    finally:
        server.kill()


def _device_past(member, official, api):
    """The crew works on a case of its own, and its device has pulled: its cursor is now past
    everything written so far, including records of cases it could not see."""
    own_case = ApprovalCaseFactory()
    case_assign_organizations(case=own_case, organizations=[member.organization])
    survey_create(by=official, case=own_case, scheduled_at=WHEN, summary="自己的")
    page = _pull(api)
    assert (len(page["changes"]), page["has_more"]) == (1, False)
    assert parse_cursor(page["cursor"]) == AuditEntry.objects.order_by("-txid", "-id").values_list("txid", "id").first()
    return page["cursor"]


@pytest.mark.django_db
def test_only_the_organisations_given_the_case_are_told(official):
    case = ApprovalCaseFactory()
    member, outsider = _crew_member("crew1"), _crew_member("crew2")
    kept, _dropped, _finding = _older_records(case, official)
    member_api, outsider_api = APIClient(), APIClient()
    member_api.force_authenticate(member)
    outsider_api.force_authenticate(outsider)
    outsider_cursor = _device_past(outsider, official, outsider_api)
    member_cursor = _device_past(member, official, member_api)
    granted_before = AuditEntry.objects.filter(action="case_access_granted").count()

    case_assign_organizations(case=case, organizations=[member.organization], by=official)
    # Assigning again (or with replace) gives the crew nothing new: no second entry.
    case_assign_organizations(case=case, organizations=[member.organization], replace=True, by=official)

    entries = AuditEntry.objects.filter(action="case_access_granted").order_by("id")
    assert entries.count() == granted_before + 1
    entry = entries.last()
    assert (entry.record_type, entry.record_id, entry.case_id, entry.after) == (
        "case",
        case.pk,
        case.pk,
        {"organizations": [str(member.organization.pk)]},
    )
    assert _pull(member_api, cursor=member_cursor)["changes"] == [_case_access(case)]
    # Sent whatever `types` the device asks for: it must not miss the case.
    assert _pull(member_api, cursor=member_cursor, types="finding")["changes"] == [_case_access(case)]
    assert _pull(outsider_api, cursor=outsider_cursor) == {
        "changes": [],
        "cursor": outsider_cursor,
        "has_more": False,
    }
    whole_case = _pull(member_api, case=str(case.pk))
    assert sorted((c["type"], c["id"]) for c in whole_case["changes"]) == sorted(
        [("survey", str(kept.pk)), ("survey", str(_dropped.pk)), ("finding", str(_finding.pk))]
    )
    assert whole_case["has_more"] is False


@pytest.mark.django_db
def test_a_case_pull_of_an_invisible_case_returns_nothing(official):
    case = ApprovalCaseFactory()
    _older_records(case, official)
    outsider = _crew_member("crew2")
    api = APIClient()
    api.force_authenticate(outsider)

    assert _pull(api, case=str(case.pk)) == {"changes": [], "cursor": "0", "has_more": False}
    assert _pull(api, case=str(uuid.uuid4())) == {"changes": [], "cursor": "0", "has_more": False}
    response = api.get("/api/v1/sync/pull", {"case": "not-a-uuid"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_case"


@pytest.mark.django_db
def test_a_case_pull_pages_through_only_that_case(official):
    case, other = ApprovalCaseFactory(), ApprovalCaseFactory()
    member = _crew_member("crew1")
    case_assign_organizations(case=case, organizations=[member.organization])
    case_assign_organizations(case=other, organizations=[member.organization])
    surveys = [survey_create(by=official, case=case, scheduled_at=WHEN, summary=f"踏勘 {n}")[0] for n in range(5)]
    survey_create(by=official, case=other, scheduled_at=WHEN, summary="别的")
    api = APIClient()
    api.force_authenticate(member)

    seen, cursor, pages = [], "", 0
    while True:
        page = _pull(api, case=str(case.pk), cursor=cursor, limit=2)
        seen += [c["id"] for c in page["changes"]]
        cursor, pages = page["cursor"], pages + 1
        if not page["has_more"]:
            break
    assert seen == [str(s.pk) for s in surveys]
    assert pages == 3
