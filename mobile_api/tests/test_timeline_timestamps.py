"""The case timeline renders date-times exactly as every REST serializer does (server time zone, offset)."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_timeline_timestamps_match_the_records_rest_representation():
    site = SiteFactory()
    type(site).all_objects.filter(pk=site.pk).update(
        created_at=dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC),
        updated_at=dt.datetime(2026, 3, 2, 9, 0, 0, 500000, tzinfo=dt.UTC),
    )
    client = APIClient()
    client.force_authenticate(user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL]))

    (entry,) = client.get(f"/api/v1/cases/{site.case_id}/timeline/").json()["results"]
    rest = client.get(f"/api/v1/sites/{site.pk}/").json()

    assert entry["created_at"] == "2026-03-02T17:00:00+08:00"
    assert entry["updated_at"] == "2026-03-02T17:00:00.500000+08:00"
    assert (entry["created_at"], entry["updated_at"]) == (rest["created_at"], rest["updated_at"])
