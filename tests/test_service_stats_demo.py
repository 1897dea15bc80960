"""The figures of the seeds over the demo world: the vehicle's on-site approval with its
certificate and the meeting that resolved findings are counted, and outsiders count nothing."""

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import User
from backend.meetings.models import Meeting, MeetingDecision
from backend.onsite.models import Certificate, OnsiteDecision


def _figures(user, **params):
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/stats/service/", {"from": "2026-01-01", "to": "2026-12-31", **params})
    assert response.status_code == 200, response.content
    return {figure["key"]: figure["rows"] for figure in response.json()["figures"]}


@pytest.mark.django_db
def test_decisions_certificates_and_meetings_are_counted(demo_world):
    rows = _figures(User.objects.get(username="admin"))

    decisions = OnsiteDecision.objects.filter(decided_at__year=2026)
    assert sum(r["decisions"] for r in rows["decided_on_site"]) == decisions.count() > 0
    assert {r["outcome"] for r in rows["decided_on_site"]} == set(decisions.values_list("outcome", flat=True))
    certificates = Certificate.objects.filter(issued_at__year=2026)
    assert sum(r["certificates"] for r in rows["certificates_issued"]) == certificates.count() > 0
    meetings = Meeting.objects.filter(scheduled_at__year=2026)
    assert sum(r["meetings"] for r in rows["meetings"]) == meetings.count() > 0
    assert sum(r["findings_taken_up"] for r in rows["meetings"]) == sum(len(m.findings) for m in meetings)
    resolved = MeetingDecision.objects.filter(meeting__in=meetings, resolves_finding=True).values("finding").distinct()
    assert sum(r["findings_resolved"] for r in rows["meetings"]) == resolved.count() >= 1


@pytest.mark.django_db
def test_a_builder_of_another_project_counts_none_of_them(demo_world):
    from backend.accounts.models import OrganizationKind, Role
    from backend.accounts.tests.factories import user_of_kind

    rows = _figures(user_of_kind(OrganizationKind.BUILDER, roles=[Role.BUILDER_REPRESENTATIVE]))

    assert rows["decided_on_site"] == rows["certificates_issued"] == rows["meetings"] == []
