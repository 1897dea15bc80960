import datetime as dt

import factory

from backend.accounts.models import OrganizationKind, Role, User
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import ApprovalCase, Priority
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.visits.models import BookingChannel, Vehicle, Visit, VisitPurpose
from backend.visits.services import visit_create

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    plate = factory.Sequence(lambda n: f"鲁B·T{n:04d}")
    name = "审批服务直通车"
    team = factory.SubFactory(OrganizationFactory, kind=OrganizationKind.VEHICLE_TEAM)


def team_user(vehicle: Vehicle, *, roles: list[str] | None = None) -> User:
    return UserFactory(organization=vehicle.team, roles=roles or [Role.VEHICLE_LEAD])


def key_project_case() -> ApprovalCase:
    return ApprovalCaseFactory(project=ProjectFactory(priority=Priority.DISTRICT))


def make_visit(*, vehicle: Vehicle | None = None, case: ApprovalCase | None = None, **kwargs) -> Visit:
    visit, _ = visit_create(
        by=None,
        case=case or key_project_case(),
        vehicle=vehicle or VehicleFactory(),
        scheduled_for=kwargs.pop("scheduled_for", dt.datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI)),
        booked_via=kwargs.pop("booked_via", BookingChannel.PHONE),
        purpose=kwargs.pop("purpose", [VisitPurpose.INTAKE]),
        **kwargs,
    )
    return visit
