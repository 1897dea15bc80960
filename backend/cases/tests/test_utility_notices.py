"""Utility requests (报装) unanswered after UTILITY_UNANSWERED_WORKING_DAYS working days: the
addressed company's users are told every working day until it answers, in-app and by e-mail."""

import datetime as dt

import pytest

from backend.accounts.models import UtilityType
from backend.accounts.tests.factories import UserFactory
from backend.cases.notices import deadline_notices_run
from backend.cases.tests.factories import SHANGHAI
from backend.notifications.models import Notification
from backend.utilities.models import UtilityRequest
from backend.utilities.services import utility_request_create, utility_request_respond
from backend.utilities.tests.factories import VALID_DEMANDS, utility_world

pytestmark = pytest.mark.django_db

D = dt.date


def made_at(request: UtilityRequest, when: dt.datetime) -> None:
    UtilityRequest.all_objects.filter(pk=request.pk).update(created_at=when)


@pytest.fixture
def world():
    world = utility_world()
    water = world.companies[UtilityType.WATER]
    world.water_staff = world.company_users[UtilityType.WATER]
    world.water_staff.email = "water@example.cn"
    world.water_staff.save(update_fields=["email"])
    world.water_colleague = UserFactory(username="water_colleague", organization=water, email="w2@example.cn")
    UserFactory(username="water_retired", organization=water, is_active=False, email="gone@example.cn")
    requests = {}
    for utility_type in (UtilityType.WATER, UtilityType.POWER, UtilityType.GAS):
        requests[utility_type], _ = utility_request_create(
            case=world.case,
            site=world.site,
            utility_type=utility_type,
            demand=VALID_DEMANDS[utility_type],
            by=None,
        )
    # Water and power made on Monday 2026-11-02 (late evening), gas on Tuesday 2026-11-03.
    made_at(requests[UtilityType.WATER], dt.datetime(2026, 11, 2, 23, 30, tzinfo=SHANGHAI))
    made_at(requests[UtilityType.POWER], dt.datetime(2026, 11, 2, 9, tzinfo=SHANGHAI))
    made_at(requests[UtilityType.GAS], dt.datetime(2026, 11, 3, 0, 10, tzinfo=SHANGHAI))
    world.requests = requests
    return world


def told(day: dt.date) -> list[tuple[str, str]]:
    rows = Notification.objects.filter(day=day, kind="utility_unanswered")
    return sorted((n.recipient.username, n.data["utility_type"]) for n in rows.select_related("recipient"))


def test_the_company_is_told_after_the_limit_daily_until_it_answers(world, settings):
    settings.UTILITY_UNANSWERED_WORKING_DAYS = 5
    water, power = world.water_staff.username, world.company_users[UtilityType.POWER].username
    # Friday 2026-11-06: four working days after Monday.
    deadline_notices_run(as_of=D(2026, 11, 6))
    assert told(D(2026, 11, 6)) == []
    # Monday 2026-11-09: the fifth (the weekend does not count); gas (Tuesday) not yet.
    deadline_notices_run(as_of=D(2026, 11, 9))
    assert told(D(2026, 11, 9)) == sorted([(power, "power"), (water, "water"), ("water_colleague", "water")])
    notice = Notification.objects.get(day=D(2026, 11, 9), recipient=world.water_staff)
    assert notice.subject == f"utility_request:{world.requests[UtilityType.WATER].pk}"
    assert notice.title == f"报装申请未答复：供水（{world.case.external_no}），2026-11-02 提交"
    assert notice.data["made_on"] == "2026-11-02"
    # A repeat the same day tells nobody twice.
    assert [n for n in deadline_notices_run(as_of=D(2026, 11, 9))["sent"] if n.kind == "utility_unanswered"] == []
    # Water answers; the next working day only power and (now due) gas are told.
    utility_request_respond(request=world.requests[UtilityType.WATER], decision="need_info", note="缺水表位置", by=None)
    deadline_notices_run(as_of=D(2026, 11, 10))
    gas = world.company_users[UtilityType.GAS].username
    assert told(D(2026, 11, 10)) == sorted([(gas, "gas"), (power, "power")])
    # Not on a weekend.
    assert deadline_notices_run(as_of=D(2026, 11, 14))["working_day"] is False
    assert told(D(2026, 11, 14)) == []


def test_the_limit_is_a_setting_and_holidays_do_not_count(world, settings):
    settings.UTILITY_UNANSWERED_WORKING_DAYS = 1
    deadline_notices_run(as_of=D(2026, 11, 3))
    assert {kind for _, kind in told(D(2026, 11, 3))} == {"water", "power"}
    Notification.objects.all().delete()
    # National Day 2026 (10-01..10-07 off, 09-27 / 10-10 make-up Saturdays): a request made on
    # Wednesday 09-30 has its first working day on Thursday 10-08.
    made_at(world.requests[UtilityType.WATER], dt.datetime(2026, 9, 30, 10, tzinfo=SHANGHAI))
    settings.UTILITY_UNANSWERED_WORKING_DAYS = 2
    deadline_notices_run(as_of=D(2026, 10, 8))
    assert told(D(2026, 10, 8)) == []
    deadline_notices_run(as_of=D(2026, 10, 9))
    assert {kind for _, kind in told(D(2026, 10, 9))} == {"water"}
    settings.UTILITY_UNANSWERED_WORKING_DAYS = 0
    assert [n for n in deadline_notices_run(as_of=D(2026, 10, 12))["sent"] if n.kind == "utility_unanswered"] == []


def test_a_deleted_or_rejected_request_is_not_told(world, settings):
    settings.UTILITY_UNANSWERED_WORKING_DAYS = 5
    utility_request_respond(request=world.requests[UtilityType.POWER], decision="reject", note="容量不足", by=None)
    UtilityRequest.all_objects.filter(pk=world.requests[UtilityType.WATER].pk).update(
        deleted_at=dt.datetime(2026, 11, 4, tzinfo=SHANGHAI)
    )
    deadline_notices_run(as_of=D(2026, 11, 10))
    assert {kind for _, kind in told(D(2026, 11, 10))} == {"gas"}


def test_unanswered_requests_are_e_mailed(world, settings, smtp_server, django_capture_on_commit_callbacks):
    settings.UTILITY_UNANSWERED_WORKING_DAYS = 5
    with django_capture_on_commit_callbacks(execute=True):
        deadline_notices_run(as_of=D(2026, 11, 9))
    subject = f"报装申请未答复：供水（{world.case.external_no}），2026-11-02 提交"
    assert sorted(smtp_server.messages) == [
        ("deadlines@example.cn", ["w2@example.cn"], subject),
        ("deadlines@example.cn", ["water@example.cn"], subject),
    ]
