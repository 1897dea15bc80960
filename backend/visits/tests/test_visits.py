import datetime as dt

import pytest

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.common.errors import ApplicationError, IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from backend.visits.models import Visit, VisitStatus
from backend.visits.services import visit_create, visit_transition, visit_update
from backend.visits.tests.factories import SHANGHAI, VehicleFactory, key_project_case, make_visit, team_user

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI)


def test_booking_a_visit_assigns_the_vehicle_team_to_the_case():
    vehicle = VehicleFactory()
    lead = team_user(vehicle)
    case = key_project_case()
    case.assigned_organizations.add(vehicle.team)  # the team was sent to this case
    case.assigned_organizations.remove(vehicle.team)
    official = UserFactory()

    visit, created = visit_create(
        by=official,
        case=case,
        vehicle=vehicle,
        scheduled_for=WHEN,
        booked_via="wechat",
        purpose=["intake", "approval", "intake"],
        team={"lead": str(lead.pk), "agents": ["王代办"], "approvers": []},
    )

    assert created is True
    assert (visit.status, visit.purpose, visit.version) == (VisitStatus.BOOKED, ["intake", "approval"], 1)
    assert visit.team == {"lead": str(lead.pk), "agents": ["王代办"], "approvers": []}
    assert list(case.assigned_organizations.values_list("pk", flat=True)) == [vehicle.team_id]


def test_only_key_projects_book_the_vehicle():
    with pytest.raises(ValidationFailed) as raised:
        visit_create(
            by=None,
            case=ApprovalCaseFactory(),
            vehicle=VehicleFactory(),
            scheduled_for=WHEN,
            booked_via="phone",
            purpose=["survey"],
        )

    assert raised.value.code == "not_key_project"
    assert Visit.all_objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purpose", []),
        ("purpose", ["picnic"]),
        ("team", {"lead": "x", "drivers": []}),
        ("team", {"agents": "张三"}),
        ("booked_via", "fax"),
    ],
)
def test_invalid_bookings_are_refused(field, value):
    fields = {"scheduled_for": WHEN, "booked_via": "phone", "purpose": ["survey"], field: value}

    with pytest.raises(ValidationFailed):
        visit_create(by=None, case=key_project_case(), vehicle=VehicleFactory(), **fields)

    assert Visit.all_objects.count() == 0


def test_who_books_a_vehicle():
    vehicle = VehicleFactory()
    case = key_project_case()
    other_team = user_of_kind(OrganizationKind.VEHICLE_TEAM, roles=[Role.VEHICLE_LEAD])
    case.assigned_organizations.add(other_team.organization)
    builder = UserFactory(organization=case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])
    stranger = user_of_kind(OrganizationKind.SURVEY_CREW)
    fields = {"case": case, "vehicle": vehicle, "scheduled_for": WHEN, "booked_via": "phone", "purpose": ["survey"]}

    with pytest.raises(PermissionDenied):
        visit_create(by=other_team, **fields)
    with pytest.raises(PermissionDenied):
        visit_create(by=builder, **fields)
    with pytest.raises(NotFound):
        visit_create(by=stranger, **fields)
    assert Visit.all_objects.count() == 0

    case.assigned_organizations.add(vehicle.team)
    visit, _ = visit_create(by=team_user(vehicle), **fields)
    assert visit.status == VisitStatus.BOOKED


def test_visit_goes_booked_en_route_on_site_completed():
    visit = make_visit()
    lead = team_user(visit.vehicle)

    visit = visit_transition(visit=visit, to=VisitStatus.EN_ROUTE, by=lead)
    assert (visit.status, visit.departed_at is not None, visit.started_at) == (VisitStatus.EN_ROUTE, True, None)
    visit = visit_transition(visit=visit, to=VisitStatus.ON_SITE, by=lead)
    assert visit.started_at is not None
    visit = visit_transition(visit=visit, to=VisitStatus.COMPLETED, by=lead)
    assert (visit.status, visit.ended_at is not None, visit.version) == (VisitStatus.COMPLETED, True, 4)


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], VisitStatus.COMPLETED),
        ([VisitStatus.EN_ROUTE], VisitStatus.BOOKED),
        ([VisitStatus.ON_SITE], VisitStatus.CANCELLED),
        ([VisitStatus.ON_SITE], VisitStatus.EN_ROUTE),
        ([VisitStatus.ON_SITE, VisitStatus.COMPLETED], VisitStatus.ON_SITE),
        ([VisitStatus.CANCELLED], VisitStatus.EN_ROUTE),
    ],
)
def test_illegal_visit_transitions_are_refused(path, illegal):
    visit = make_visit()
    for status in path:
        visit = visit_transition(visit=visit, to=status, by=None)

    with pytest.raises(IllegalTransition):
        visit_transition(visit=visit, to=illegal, by=None)

    visit.refresh_from_db()
    assert (visit.status, visit.version) == ((path[-1] if path else VisitStatus.BOOKED), len(path) + 1)


def test_cancel_keeps_the_reason_and_other_teams_cannot_move_the_visit():
    visit = make_visit()
    other_team = user_of_kind(OrganizationKind.VEHICLE_TEAM, roles=[Role.VEHICLE_LEAD])

    with pytest.raises(PermissionDenied):
        visit_transition(visit=visit, to=VisitStatus.CANCELLED, by=other_team)
    cancelled = visit_transition(
        visit=visit, to=VisitStatus.CANCELLED, by=team_user(visit.vehicle), reason="项目方改期"
    )

    assert (cancelled.status, cancelled.cancelled_reason) == (VisitStatus.CANCELLED, "项目方改期")


def test_where_and_when_cannot_change_once_the_vehicle_left():
    visit = make_visit()
    lead = team_user(visit.vehicle)
    visit = visit_update(instance=visit, changes={"scheduled_for": WHEN + dt.timedelta(hours=2)}, by=lead)
    visit = visit_transition(visit=visit, to=VisitStatus.EN_ROUTE, by=lead)

    with pytest.raises(ApplicationError) as raised:
        visit_update(instance=visit, changes={"scheduled_for": WHEN}, by=lead)
    assert raised.value.code == "visit_started"
    updated = visit_update(instance=visit, changes={"remarks": "带扫描仪"}, by=lead)
    assert (updated.remarks, updated.scheduled_for) == ("带扫描仪", WHEN + dt.timedelta(hours=2))
    with pytest.raises(ValidationFailed) as raised:
        visit_update(instance=updated, changes={"status": "completed"}, by=lead)
    assert raised.value.code == "read_only_field"


def test_transition_times_from_an_offline_device_are_kept_in_order():
    visit = make_visit()
    lead = team_user(visit.vehicle)
    departed = dt.datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI)

    visit = visit_transition(visit=visit, to=VisitStatus.EN_ROUTE, by=lead, at=departed)
    with pytest.raises(ValidationFailed) as before:
        visit_transition(visit=visit, to=VisitStatus.ON_SITE, by=lead, at=departed - dt.timedelta(minutes=1))
    with pytest.raises(ValidationFailed) as future:
        visit_transition(visit=visit, to=VisitStatus.ON_SITE, by=lead, at=dt.datetime(2099, 1, 1, tzinfo=SHANGHAI))
    visit.refresh_from_db()
    assert (before.value.code, future.value.code, visit.status) == ("invalid_time", "invalid_time", "en_route")

    visit = visit_transition(visit=visit, to=VisitStatus.ON_SITE, by=lead, at=departed + dt.timedelta(minutes=17))
    assert (visit.departed_at, visit.started_at) == (departed, departed + dt.timedelta(minutes=17))
