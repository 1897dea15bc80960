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

    decision = _onsite_approval(case)
    _meeting_that_resolves(case, department)
    _booking_requests(case)
    return SimpleNamespace(
        site=site,
        department=department,
        item=item,
        survey=survey,
        inspection=inspection,
        visit=visit,
        decision=decision,
    )


def _onsite_approval(case: ApprovalCase):
    """An intake in the vehicle and a delegate's approval, which issues a certificate."""
    from backend.cases.models import Material
    from backend.onsite.models import Delegation
    from backend.onsite.services import onsite_decision_create, onsite_intake_create
    from backend.onsite.tests.factories import onsite_world, scan_of

    world = onsite_world()
    case.assigned_organizations.add(world.team)
    item = ApprovalItemFactory(case=case, name=world.permit.name, department=world.department)
    form = Material.objects.create(item=item, name="建设工程规划许可申请表", is_required=True)
    delegation = Delegation.objects.create(
        department=world.department,
        delegate=world.approver,
        valid_from=world.start,
        valid_to=world.end,
        granted_by=world.head,
    )
    delegation.items.set([world.permit])
    scan = scan_of(by=world.agent, case=case, item=item, material=form)
    intake, _ = onsite_intake_create(
        by=world.agent, case=case, item=item, materials=[{"material": form, "state": "scanned", "scan": scan.pk}]
    )
    decision, _ = onsite_decision_create(by=world.approver, case=case, intake=intake, outcome="approve")
    return decision


def _meeting_that_resolves(case: ApprovalCase, department) -> None:
    from backend.meetings import services as meetings

    finding, _ = finding_create(by=None, case=case, description="消防通道被占用", responsible_department=department)
    meeting, _ = meetings.meeting_create(
        by=None, case=case, title="项目推进协调会", scheduled_at=timezone.now(), findings=[finding.pk]
    )
    meeting = meetings.meeting_hold(meeting=meeting, by=None, minutes="议定：三日内清理消防通道。")
    meetings.meeting_decision_create(
        by=None, meeting=meeting, text="三日内清理消防通道", finding=finding, resolves_finding=True
    )
    meeting = meetings.meeting_close(meeting=meeting, by=None)


def _booking_requests(case: ApprovalCase) -> None:
    from backend.accounts.models import Role
    from backend.accounts.tests.factories import UserFactory
    from backend.cases.notices import is_working_day
    from backend.visits.bookings import booking_request_confirm, booking_request_create, booking_request_decline
    from backend.visits.tests.factories import VehicleFactory

    builder = UserFactory(organization=case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])
    staff = UserFactory(organization=None, roles=[Role.ADMINISTRATOR])
    day = timezone.localdate() + dt.timedelta(days=3)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    windows = [
        {
            "start": dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).isoformat(),
            "end": dt.datetime(day.year, day.month, day.day, hour + 2, tzinfo=SHANGHAI).isoformat(),
        }
        for hour in (9, 14)
    ]
    wanted, _ = booking_request_create(by=builder, case=case, purpose=["intake"], preferred_windows=windows)
    booking_request_confirm(request=wanted, by=staff, vehicle=VehicleFactory(), window=1)
    other, _ = booking_request_create(by=builder, case=case, purpose=["survey"], preferred_windows=windows)
    booking_request_decline(request=other, by=staff, reason="本周车辆已约满，请改约下周。")


# Types every_event makes, with how many times (two inspections reach results_complete).
EXPECTED_COUNTS = {
    "case.item.status_changed": 1,
    "deadline.level_changed": 1,
    "survey.submitted": 1,
    "survey.signed": 1,
    # The survey and its participant, reopened together.
    "record.reopened": 2,
    "finding.created": 2,
    "finding.resolved": 2,
    "utility_request.responded": 1,
    "utility_point.connected": 1,
    "inspection.results_complete": 2,
    "inspection.signed": 1,
    "rectification.verified": 1,
    # A visit of the case, and the one a confirmed booking request made is not completed.
    "visit.completed": 1,
    "onsite_intake.accepted": 1,
    "onsite_decision.made": 1,
    "certificate.issued": 1,
    # The survey's finding, and the one the meeting took up.
    "meeting.scheduled": 1,
    "meeting.held": 1,
    "meeting.closed": 1,
    "meeting_decision.created": 1,
    "booking_request.filed": 2,
    "booking_request.confirmed": 1,
    "booking_request.declined": 1,
}
