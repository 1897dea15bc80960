import datetime as dt

import pytest
from django.test import Client

from backend.accounts.tests.factories import UserFactory
from backend.cases.models import CalendarDay

pytestmark = pytest.mark.django_db


def admin_client():
    user = UserFactory(organization=None, roles=[], is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def test_changing_a_day_in_the_admin_makes_it_an_override():
    response = admin_client().post(
        "/admin/cases/calendarday/2026-03-09/change/",
        {"date": "2026-03-09", "is_workday": "", "name": "台风停工"},
    )
    assert response.status_code == 302, response.content[:2000]
    day = CalendarDay.objects.get(date=dt.date(2026, 3, 9))
    assert (day.is_workday, day.name, day.source) == (False, "台风停工", "override")


def test_revert_action_restores_the_seeded_day():
    CalendarDay.objects.filter(date=dt.date(2026, 3, 9)).update(is_workday=False, name="台风停工", source="override")
    response = admin_client().post(
        "/admin/cases/calendarday/",
        {"action": "revert_to_seed", "_selected_action": ["2026-03-09"]},
    )
    assert response.status_code == 302
    day = CalendarDay.objects.get(date=dt.date(2026, 3, 9))
    assert (day.is_workday, day.name, day.source) == (True, "", "seed")


def test_admin_pages_render():
    client = admin_client()
    for url in [
        "/admin/cases/project/",
        "/admin/cases/approvalcase/",
        "/admin/cases/calendarday/",
        "/admin/cases/project/add/",
    ]:
        assert client.get(url).status_code == 200, url
