"""A finding of a signed survey is still taken up and resolved by a meeting: the meeting, like the
due date, is follow-up, outside what the departments signed."""

import datetime as dt

import pytest

from backend.meetings import services
from backend.signatures.services import signature_verify
from backend.signatures.tests.factories import official_of, sign, submitted_survey
from backend.surveys.models import Finding, Survey
from backend.surveys.tests.factories import SHANGHAI, FindingFactory

pytestmark = pytest.mark.django_db


def test_a_meeting_resolves_a_finding_of_a_signed_survey_and_the_signatures_stay_valid():
    survey, (first, second), _away = submitted_survey(attending=2, absent=0)
    finding = FindingFactory(case=survey.case, survey=survey)
    signatures = [
        sign("survey", survey, official_of(first), seed=1),
        sign("survey", survey, official_of(second), seed=2),
    ]
    assert Survey.objects.get(pk=survey.pk).is_locked
    meeting, _ = services.meeting_create(
        by=None,
        case=survey.case,
        title="协调会",
        number="协调〔2026〕3号",
        scheduled_at=dt.datetime(2026, 11, 20, 14, 30, tzinfo=SHANGHAI),
        findings=[finding.pk],
    )
    meeting = services.meeting_hold(meeting=meeting, by=None)
    services.meeting_decision_create(
        by=None,
        meeting=meeting,
        text="按整改方案实施",
        finding=Finding.objects.get(pk=finding.pk),
        resolves_finding=True,
    )
    stored = Finding.objects.get(pk=finding.pk)
    assert (stored.status, stored.meeting_id, stored.resolution) == (
        "resolved",
        meeting.pk,
        "协调〔2026〕3号议定：按整改方案实施",
    )
    for signature in signatures:
        signature.refresh_from_db()
        assert signature_verify(signature=signature)["valid"] is True
