"""Events are written in the transaction of the change, by every entry point, and never otherwise."""

import pytest
from django.db import transaction

from backend.cases.models import Blzt
from backend.cases.services import approval_item_change_status
from backend.cases.tests.factories import ApprovalItemFactory
from backend.events.catalogue import EVENT_TYPES
from backend.events.models import Event
from backend.events.tests.scenario import EXPECTED_COUNTS, every_event, key_case
from backend.surveys.models import SurveyStatus
from backend.surveys.services import survey_submit
from backend.surveys.tests.factories import SurveyFactory, SurveyParticipantFactory

pytestmark = pytest.mark.django_db


def _counts(case) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event_type in Event.objects.filter(case=case).order_by("id").values_list("type", flat=True):
        counts[event_type] = counts.get(event_type, 0) + 1
    return counts


def test_every_catalogued_type_is_made_by_its_service():
    case = key_case()
    world = every_event(case)
    assert _counts(case) == EXPECTED_COUNTS
    assert set(EXPECTED_COUNTS) == set(EVENT_TYPES)
    signed = Event.objects.get(case=case, type="survey.signed")
    assert signed.external_no == case.external_no
    assert signed.data["record"]["status"] == "signed"
    assert signed.data["record"]["case"] == str(case.pk)
    assert signed.data["conclusion"] == "agree"
    assert [o["opinion"] for o in signed.data["opinions"]] == ["同意"]
    assert len(signed.data["content_hash"]) == 64
    assert "field_versions" not in signed.data["record"]
    reopened = Event.objects.filter(case=case, type="record.reopened").order_by("id")
    assert [(e.data["record_type"], e.data["reason"]) for e in reopened] == [
        ("survey", "补充踏勘意见"),
        ("survey_participant", "补充踏勘意见"),
    ]
    inspection_signed = Event.objects.get(case=case, type="inspection.signed")
    assert {i["result"] for i in inspection_signed.data["items"]} == {"pass", "fail"}
    assert "/api/v1/events/inspection-report/" in inspection_signed.data["report"]["url"]
    item_event = Event.objects.get(case=case, type="case.item.status_changed")
    assert (item_event.data["from_status"], item_event.data["to_status"]) == (Blzt.RECEIVED, Blzt.ACCEPTED)
    assert item_event.data["item"]["id"] == str(world.item.pk)


def test_a_refused_change_leaves_no_event():
    case = key_case()
    survey = SurveyFactory(case=case, status=SurveyStatus.IN_PROGRESS)
    SurveyParticipantFactory(survey=survey, attended=False, opinion="")
    with pytest.raises(Exception):  # noqa: B017 - the survey's own refusal (survey_incomplete)
        survey_submit(survey=survey, by=None, conclusion="agree")
    assert Event.objects.count() == 0


def test_a_rolled_back_change_takes_its_event_with_it():
    item = ApprovalItemFactory(status=Blzt.RECEIVED)
    with transaction.atomic():
        approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
        assert Event.objects.filter(type="case.item.status_changed").count() == 1
        transaction.set_rollback(True)
    assert Event.objects.count() == 0


def test_an_unchanged_status_makes_no_event():
    item = ApprovalItemFactory(status=Blzt.ACCEPTED)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    assert Event.objects.count() == 0
