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


def test_an_administrator_loads_a_year_in_the_admin_through_the_same_service():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from backend.cases.models import CalendarYear
    from backend.cases.tests.factories import EXAMPLE_2027

    client = admin_client()
    assert client.get("/admin/cases/calendaryear/load/").status_code == 200
    upload = SimpleUploadedFile("2027.json", EXAMPLE_2027.read_bytes(), content_type="application/json")
    response = client.post("/admin/cases/calendaryear/load/", {"file": upload})
    assert response.status_code == 302
    assert response["Location"] == "/admin/cases/calendaryear/2027/change/"
    row = CalendarYear.objects.get(year=2027)
    assert (row.origin, row.loaded_by.is_superuser) == ("notice", True)


def test_a_malformed_year_uploaded_in_the_admin_lists_every_problem_and_writes_nothing():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from backend.cases.models import CalendarYear

    body = '{"year": 2027, "source": "x", "holidays": [{"name": "", "start": "2027-01-01", "end": "2027-01-03"}], "workdays": ["2027-01-04"]}'
    before = CalendarDay.objects.filter(date__year=2027).count()
    response = admin_client().post(
        "/admin/cases/calendaryear/load/", {"file": SimpleUploadedFile("2027.json", body.encode())}
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "The arrangement for 2027 has 2 problems; nothing was loaded." in text
    assert "holidays[0].name: A holiday needs a name (e.g. 春节)." in text
    assert "workdays[0]: 2027-01-04 is a Monday, already a working day" in text
    assert not CalendarYear.objects.filter(year=2027).exists()
    assert CalendarDay.objects.filter(date__year=2027).count() == before == 0


def test_the_project_form_refuses_a_milestone_without_its_date_or_in_the_future():
    from backend.cases.admin import ProjectAdminForm
    from backend.cases.tests.factories import ProjectFactory

    project = ProjectFactory()
    base = {
        "code": project.code,
        "name": project.name,
        "builder": project.builder_id,
        "investment_type": project.investment_type,
        "category": project.category,
        "priority": project.priority,
    }
    form = ProjectAdminForm(data={**base, "start_milestone": "land_contract"}, instance=project)
    assert not form.is_valid()
    assert "start_milestone_on" in form.errors
    form = ProjectAdminForm(
        data={**base, "start_milestone": "land_contract", "start_milestone_on": "2099-01-01"}, instance=project
    )
    assert not form.is_valid()
    assert "start_milestone_on" in form.errors
    form = ProjectAdminForm(
        data={
            **base,
            "start_milestone": "land_contract",
            "start_milestone_on": "2026-03-01",
            "standard_days_override": 150,
        },
        instance=project,
    )
    assert form.is_valid(), form.errors
    form.save()
    project.refresh_from_db()
    assert (project.start_milestone, project.standard_days_override) == ("land_contract", 150)
