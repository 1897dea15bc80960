"""A case on which every catalogued event happens, each made by the service that owns the change."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from backend.acceptance.models import InspectionResult, RectificationStatus
from backend.acceptance.services import (
    inspection_item_record_result,
    inspection_mark_signed,
    inspection_reinspect,
    rectification_create,
    rectification_transition,
)
from backend.acceptance.tests.factories import make_inspection
from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import OrganizationFactory
from backend.cases.deadlines import ItemDeadline
from backend.cases.models import ApprovalCase, Blzt, Priority
from backend.cases.services import approval_item_change_status
from backend.cases.tests.factories import ApprovalCaseFactory, ApprovalItemFactory, ProjectFactory
from backend.events.services import deadline_levels_observe
from backend.sites.tests.factories import SiteFactory
from backend.surveys.models import SurveyStatus
from backend.surveys.services import finding_create, finding_resolve, survey_mark_signed, survey_reopen, survey_submit
from backend.surveys.tests.factories import SurveyFactory, SurveyParticipantFactory
from backend.utilities.services import (
    utility_point_create,
    utility_point_transition,
    utility_request_create,
    utility_request_respond,
)
from backend.utilities.tests.factories import VALID_DEMANDS, UtilityCompanyFactory
from backend.visits.models import VisitStatus
from backend.visits.services import visit_transition
from backend.visits.tests.factories import make_visit

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def key_case(*, code_region: str = "370211") -> ApprovalCase:
    project = ProjectFactory(priority=Priority.CITY)
    if code_region != "370211":
        project.code = project.code.replace("370211", code_region)
        project.region_code = code_region
        project.save()
    return ApprovalCaseFactory(project=project)


def every_event(case: ApprovalCase) -> SimpleNamespace:
    """Make each catalogued event on `case` (EXPECTED_COUNTS says how often)."""
    site = SiteFactory(case=case, project=case.project)
    department = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")

    item = ApprovalItemFactory(case=case, department=department, status=Blzt.RECEIVED)
    approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
    with transaction.atomic():
        deadline_levels_observe(
            items=[item],
            deadlines={item.pk: ItemDeadline(clock="running", due_date=dt.date(2026, 4, 1), warning_level="warn7")},
            as_of=timezone.localdate(),
        )

    survey = SurveyFactory(case=case, site=site, status=SurveyStatus.IN_PROGRESS)
    SurveyParticipantFactory(survey=survey, department=department, attended=True, opinion="同意")
    survey_submit(survey=survey, by=None, conclusion="agree")
    survey_mark_signed(survey=survey, by=None)
    survey_reopen(instance=survey, by=None, reason="补充踏勘意见")

    finding, _ = finding_create(by=None, case=case, description="排水沟需改移", responsible_department=department)
    finding_resolve(finding=finding, by=None, resolution="已改移")

    company = UtilityCompanyFactory(utility_types=["water"])
    request, _ = utility_request_create(
        case=case, site=site, utility_type="water", demand=VALID_DEMANDS["water"], company=company, by=None
    )
    utility_request_respond(request=request, decision="accept", plan="市政直供", by=None)
    gas = UtilityCompanyFactory(utility_types=["gas"])
    point, _ = utility_point_create(
        case=case, utility_type="gas", company=gas, location=Point(120.17, 35.96, srid=4326), by=None
    )
    for status in ("surveyed", "agreed", "connected"):
        point = utility_point_transition(point=point, to=status, by=None)

    inspection, departments = make_inspection(case=case, stage=2)
    items = {i.code: i for i in inspection.items.all()}
    for code, inspection_item in items.items():
        result = InspectionResult.FAIL if code == "lightning_protection" else InspectionResult.PASS
        inspection_item_record_result(item=inspection_item, result=result, by=None)
    rectification, _ = rectification_create(
        by=None, inspection_item=items["lightning_protection"], description="避雷带未闭合"
    )
    rectification_transition(rectification=rectification, to=RectificationStatus.FIXED, by=None)
    reinspection, _ = inspection_reinspect(inspection=inspection, by=None)
    inspection_item_record_result(item=reinspection.items.get(), result=InspectionResult.PASS, by=None)
    rectification_transition(rectification=rectification, to=RectificationStatus.VERIFIED, by=None)
    inspection.refresh_from_db()
    inspection_mark_signed(inspection=inspection, by=None)

    visit = make_visit(case=case)
    visit_transition(visit=visit, to=VisitStatus.ON_SITE, by=None)
    visit_transition(visit=visit, to=VisitStatus.COMPLETED, by=None)
    return SimpleNamespace(
        site=site, department=department, item=item, survey=survey, inspection=inspection, visit=visit
    )


# Types every_event makes, with how many times (two inspections reach results_complete).
EXPECTED_COUNTS = {
    "case.item.status_changed": 1,
    "deadline.level_changed": 1,
    "survey.submitted": 1,
    "survey.signed": 1,
    # The survey and its participant, reopened together.
    "record.reopened": 2,
    "finding.created": 1,
    "finding.resolved": 1,
    "utility_request.responded": 1,
    "utility_point.connected": 1,
    "inspection.results_complete": 2,
    "inspection.signed": 1,
    "rectification.verified": 1,
    "visit.completed": 1,
}
