import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import user_of_kind
from backend.cases.models import ItemStatusEvent
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def make_cases(n):
    for i in range(n):
        case = ApprovalCaseFactory()
        for j in range(3):
            item = ApprovalItemFactory(
                case=case, accepted_at=dt.datetime(2026, 3, 2 + j, 10, tzinfo=SHANGHAI), promised_days=5 + i
            )
            ItemStatusEvent.objects.create(item=item, status=3, occurred_at=item.accepted_at)


def test_case_list_query_count_does_not_grow_with_the_page():
    official = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    client = APIClient()
    client.force_authenticate(official)
    make_cases(2)
    with CaptureQueriesContext(connection) as small:
        assert client.get("/api/v1/cases/?as_of=2026-03-20").json()["count"] == 2
    make_cases(10)
    with CaptureQueriesContext(connection) as large:
        assert client.get("/api/v1/cases/?as_of=2026-03-20").json()["count"] == 12
    assert len(large.captured_queries) == len(small.captured_queries)


def test_officials_see_projects_of_their_region_before_any_case():
    official = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="3702")
    crew = user_of_kind(OrganizationKind.SURVEY_CREW)
    own = ProjectFactory()
    ProjectFactory(code="2404-110105-04-01-000001", region_code="110105")
    client = APIClient()
    client.force_authenticate(official)
    assert [p["id"] for p in client.get("/api/v1/projects/").json()["results"]] == [str(own.pk)]
    client.force_authenticate(crew)
    assert client.get("/api/v1/projects/").json()["count"] == 0
    assert client.get(f"/api/v1/projects/{own.pk}/").status_code == 404
