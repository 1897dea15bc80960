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


def test_the_admin_shows_each_year_read_only_and_warns_about_the_horizon(settings):
    settings.CALENDAR_HORIZON_WARNING_DAYS = 100_000  # whatever the day the test runs
    client = admin_client()
    response = client.get("/admin/cases/calendaryear/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "The working-day calendar ends on 2026-12-31, in " in text
    assert "load the State Council&#x27;s 2027 arrangement" in text
    detail = client.get("/admin/cases/calendaryear/2026/change/").content.decode()
    assert "春节 2026-02-15..2026-02-23 (9)" in detail
    assert "2026-02-14, 2026-02-28" in detail
    assert 'name="_save"' not in detail  # nothing to save: a year is loaded through the service
    assert client.get("/admin/cases/calendaryear/add/").status_code == 403


def test_days_come_only_with_their_year():
    client = admin_client()
    assert client.get("/admin/cases/calendarday/add/").status_code == 403
    before = CalendarDay.objects.count()
    response = client.post("/admin/cases/calendarday/2026-03-09/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert CalendarDay.objects.count() == before
