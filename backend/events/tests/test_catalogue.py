"""Every catalogued type is emitted by its service, with the record's data; the catalogue is in OpenAPI."""

import pytest
from django.contrib.gis.geos import Point

from backend.acceptance.models import InspectionResult, RectificationStatus
from backend.acceptance.services import (
    inspection_item_record_result,
    inspection_mark_signed,
    inspection_reinspect,
    rectification_create,
    rectification_transition,
)
from backend.acceptance.tests.factories import department_user, make_inspection
from backend.cases.models import Blzt
from backend.cases.services import approval_item_change_status
from backend.cases.tests.factories import ApprovalItemFactory
from backend.events.catalogue import EVENT_TYPES
from backend.events.models import OutboxEvent
from backend.signatures.content import record_content_hash
from backend.surveys.models import SurveyStatus
from backend.surveys.services import finding_create, finding_resolve, survey_mark_signed, survey_reopen
from backend.surveys.tests.factories import SurveyFactory, SurveyParticipantFactory
from backend.utilities.models import UtilityRequest
from backend.utilities.services import (
    utility_application_create,
    utility_point_create,
    utility_point_transition,
    utility_request_respond,
)
from backend.utilities.tests.factories import VALID_DEMANDS, utility_world
from backend.visits.models import VisitStatus
from backend.visits.services import visit_transition
from backend.visits.tests.factories import make_visit, team_user

pytestmark = pytest.mark.django_db


def _types():
    return list(OutboxEvent.objects.order_by("id").values_list("type", flat=True))


def test_item_status_change(official):
    item = ApprovalItemFactory(status=Blzt.RECEIVED)

    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)  # no change: no event

    event = OutboxEvent.objects.get()
    assert event.type == "case.item.status_changed"
    assert event.case_id == item.case_id
    assert (event.data["id"], event.data["status"]) == (str(item.pk), Blzt.ACCEPTED)
    assert event.data["department_name"] == item.department.name


def test_survey_signed_with_content_hash_then_reopened(case, official):
    survey = SurveyFactory(case=case, status=SurveyStatus.SUBMITTED, conclusion="agree")
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")

    signed = survey_mark_signed(survey=survey, by=official)
    survey_reopen(instance=signed, by=official, reason="结论需补充条件")

    events = list(OutboxEvent.objects.order_by("id"))
    assert [event.type for event in events if event.data["record_type"] == "survey"] == [
        "survey.signed",
        "record.reopened",
    ]
    signed_event = events[0]
    assert signed_event.data["status"] == "signed"
    assert signed_event.data["conclusion"] == "agree"
    assert signed_event.data["content_hash"] == record_content_hash(record_type="survey", record=signed)
    reopened = next(
        event for event in events if event.type == "record.reopened" and event.data["record_type"] == "survey"
    )
    assert reopened.data["reason"] == "结论需补充条件"
    assert "content_hash" not in reopened.data


def test_finding_resolved(case, official):
    finding, _ = finding_create(
        by=official, case=case, description="漏水", responsible_department=official.organization
    )

    finding_resolve(finding=finding, by=official, resolution="已修复")

    assert _types() == ["finding.created", "finding.resolved"]
    assert OutboxEvent.objects.last().data["resolution"] == "已修复"


def test_utility_request_responded_and_point_connected():
    world = utility_world()
    utility_application_create(
        case=world.case, site=world.site, demands={"water": VALID_DEMANDS["water"]}, by=world.official
    )
    request = UtilityRequest.objects.get()
    company_user = world.company_users["water"]

    utility_request_respond(request=request, decision="accept", by=company_user)
    point, _ = utility_point_create(
        case=world.case,
        utility_type="water",
        location=Point(120.171, 35.961, srid=4326),
        request=request,
        by=company_user,
    )
    for status in ("surveyed", "agreed", "connected"):
        point = utility_point_transition(point=point, to=status, by=company_user)

    assert _types() == ["utility_request.responded", "utility_point.connected"]
    responded, connected = OutboxEvent.objects.order_by("id")
    assert (responded.data["decision"], responded.data["status"]) == ("accept", "accepted")
    assert (connected.data["id"], connected.data["status"]) == (str(point.pk), "connected")


def test_inspection_results_complete_rectification_verified_and_signed():
    inspection, departments = make_inspection(stage=2)
    codes = sorted(departments)
    failing = codes[0]
    items = {item.code: item for item in inspection.items.all()}
    department = department_user(departments[failing])
    inspection_item_record_result(item=items[failing], result=InspectionResult.FAIL, by=department)
    for code in codes[1:]:
        inspection_item_record_result(
            item=items[code], result=InspectionResult.PASS, by=department_user(departments[code])
        )
    rectification, _ = rectification_create(
        by=department, inspection_item=items[failing], description="整改", due_date=None
    )
    rectification_transition(rectification=rectification, to=RectificationStatus.FIXED, by=department)
    reinspection, _ = inspection_reinspect(inspection=inspection, by=None)
    inspection_item_record_result(item=reinspection.items.get(), result=InspectionResult.PASS, by=department)
    assert _types() == ["inspection.results_complete"]  # the re-inspection's single item
    rectification_transition(rectification=rectification, to=RectificationStatus.VERIFIED, by=department)
    inspection.refresh_from_db()
    inspection_mark_signed(inspection=inspection, by=None)

    events = list(OutboxEvent.objects.order_by("id"))
    assert [(event.type, event.data["id"]) for event in events] == [
        ("inspection.results_complete", str(reinspection.pk)),
        ("inspection.results_complete", str(inspection.pk)),
        ("rectification.verified", str(rectification.pk)),
        ("inspection.signed", str(inspection.pk)),
    ]
    inspection.refresh_from_db()
    assert events[-1].data["content_hash"] == record_content_hash(record_type="inspection", record=inspection)
    assert events[-1].data["status"] == "signed"


def test_visit_completed_only():
    visit = make_visit()
    lead = team_user(visit.vehicle)

    for status in (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE, VisitStatus.COMPLETED):
        visit = visit_transition(visit=visit, to=status, by=lead)

    assert _types() == ["visit.completed"]
    assert OutboxEvent.objects.get().data["ended_at"] == visit.ended_at.isoformat()


def test_openapi_lists_the_catalogue_as_an_enum(client):
    document = client.get("/api/schema/", {"format": "json"}).json()

    assert document["components"]["schemas"]["EventTypeEnum"]["enum"] == list(EVENT_TYPES)
