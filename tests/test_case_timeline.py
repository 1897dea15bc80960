"""`cases/{id}/timeline/`: every record of the case, oldest first, scoped per reader."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.sites.tests.factories import SiteFactory
from backend.surveys.tests.factories import FindingFactory, SurveyFactory
from backend.sync.models import SyncAttachment

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_timeline_lists_every_record_type_oldest_first_and_pages():
    site = SiteFactory()
    case = site.case
    survey = SurveyFactory(case=case, site=site)
    finding = FindingFactory(case=case, survey=survey)
    site.__class__.all_objects.filter(pk=site.pk).update(created_at=T0)
    survey.__class__.all_objects.filter(pk=survey.pk).update(created_at=T0 + dt.timedelta(hours=1))
    finding.__class__.all_objects.filter(pk=finding.pk).update(created_at=T0 + dt.timedelta(hours=2))
    official = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211")

    body = _client(official).get(f"/api/v1/cases/{case.pk}/timeline/").json()

    assert body["count"] == 3
    assert [(e["type"], e["id"]) for e in body["results"]] == [
        ("site", str(site.pk)),
        ("survey", str(survey.pk)),
        ("finding", str(finding.pk)),
    ]
    assert all(e["complete"] for e in body["results"])

    page = _client(official).get(f"/api/v1/cases/{case.pk}/timeline/?limit=2&offset=2").json()
    assert [e["id"] for e in page["results"]] == [str(finding.pk)]
    assert page["previous"] is not None and page["next"] is None


@pytest.mark.django_db
def test_timeline_marks_records_waiting_for_attachments_incomplete():
    survey = SurveyFactory()
    SyncAttachment.objects.create(record_type="survey", record_id=survey.pk, sha256="a" * 64, kind="photo")
    admin = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.ADMINISTRATOR])

    (entry,) = _client(admin).get(f"/api/v1/cases/{survey.case_id}/timeline/").json()["results"]

    assert entry["complete"] is False
    assert entry["missing_attachments"] == ["a" * 64]


@pytest.mark.django_db
def test_timeline_of_a_case_the_user_cannot_see_is_404():
    survey = SurveyFactory()
    stranger = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])

    response = _client(stranger).get(f"/api/v1/cases/{survey.case_id}/timeline/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
