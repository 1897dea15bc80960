"""The first notice: administrators are told, once a day, from 60 days before the calendar's horizon."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from backend.accounts.models import Role
from backend.accounts.tests.factories import UserFactory
from backend.cases.calendar import calendar_horizon_notify, calendar_year_load
from backend.cases.tasks import daily_cron_utc, deadline_notices_task
from backend.cases.tests.factories import notice_2027
from backend.notifications.models import Notification

pytestmark = pytest.mark.django_db

D = dt.date


@pytest.fixture
def people():
    return {
        "superuser": UserFactory(organization=None, roles=[], is_superuser=True),
        "administrator": UserFactory(roles=[Role.ADMINISTRATOR]),
        "official": UserFactory(roles=[Role.OFFICIAL]),
        "retired": UserFactory(roles=[Role.ADMINISTRATOR], is_active=False),
    }


def test_every_active_administrator_is_told_once_a_day(people):
    sent = calendar_horizon_notify(today=D(2026, 11, 1))
    assert sorted(n.recipient.username for n in sent) == sorted(
        [people["superuser"].username, people["administrator"].username]
    )
    notice = Notification.objects.get(recipient=people["administrator"])
    assert (notice.kind, notice.subject, notice.day) == ("calendar_horizon", "calendar:2026-12-31", D(2026, 11, 1))
    assert notice.title == "工作日历将于 2026-12-31 到期，请加载 2027 年节假日安排"
    assert notice.body.startswith("The working-day calendar ends on 2026-12-31, in 60 days")
    assert notice.data == {"horizon": "2026-12-31", "days_to_horizon": 60, "next_year": 2027}
    assert calendar_horizon_notify(today=D(2026, 11, 1)) == []
    assert Notification.objects.count() == 2
    assert len(calendar_horizon_notify(today=D(2026, 11, 2))) == 2
    assert Notification.objects.count() == 4


def test_nobody_is_told_earlier_or_once_the_next_year_is_loaded(people):
    assert calendar_horizon_notify(today=D(2026, 10, 31)) == []
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    assert calendar_horizon_notify(today=D(2026, 12, 1)) == []
    assert Notification.objects.count() == 0


def test_the_daily_task_and_deadlines_due_send_the_same_notice_once(people, settings):
    settings.CALENDAR_HORIZON_WARNING_DAYS = 100_000  # whatever the day the test runs
    today = timezone.localdate()
    call_command("deadlines_due", "--as-of", today.isoformat(), stdout=io.StringIO())
    call_command("deadlines_due", "--as-of", today.isoformat(), stdout=io.StringIO())
    assert Notification.objects.filter(day=today).count() == 2
    assert deadline_notices_task(timestamp=0) == 0
    assert Notification.objects.count() == 2


def test_the_daily_run_is_at_08_30_shanghai_time():
    assert daily_cron_utc("08:30") == "30 0 * * *"
    assert daily_cron_utc("07:05") == "5 23 * * *"
