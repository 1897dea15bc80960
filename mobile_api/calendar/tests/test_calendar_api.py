"""`calendar/years/`: administrators load a year's arrangement; every signed-in user reads them."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.cases.models import CalendarDay, CalendarYear
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory, notice_2027

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def admin():
    return UserFactory(organization=None, roles=[], is_superuser=True, username="calendar-admin")


@pytest.fixture
def official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370211")


def snapshot():
    return (
        list(CalendarYear.objects.order_by("year").values_list()),
        list(CalendarDay.objects.filter(date__gte=dt.date(2026, 1, 1)).order_by("date").values_list()),
    )


def test_administrator_loads_2027_and_gets_its_summary(admin):
    response = client_for(admin).put("/api/v1/calendar/years/2027", notice_2027(), format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["loaded_at"]
    del body["loaded_at"]
    assert body == {
        "year": 2027,
        "origin": "notice",
        "source": notice_2027()["source"],
        "working_days": 250,
        "holidays": [
            {"name": "元旦", "start": "2027-01-01", "end": "2027-01-03", "days": 3},
            {"name": "春节", "start": "2027-02-06", "end": "2027-02-13", "days": 8},
            {"name": "清明节", "start": "2027-04-03", "end": "2027-04-05", "days": 3},
            {"name": "劳动节", "start": "2027-05-01", "end": "2027-05-05", "days": 5},
            {"name": "端午节", "start": "2027-06-09", "end": "2027-06-09", "days": 1},
            {"name": "中秋节", "start": "2027-09-15", "end": "2027-09-15", "days": 1},
            {"name": "国庆节", "start": "2027-10-01", "end": "2027-10-07", "days": 7},
        ],
        "workdays": ["2027-02-14", "2027-02-20", "2027-04-25", "2027-05-08", "2027-09-26", "2027-10-09"],
        "holiday_days": 28,
        "overridden_days": [],
        "loaded_by": "calendar-admin",
    }
    assert client_for(admin).get("/api/v1/calendar/years/2027").json()["working_days"] == 250


def test_an_item_across_the_2027_spring_festival_through_the_api(admin, official):
    case = ApprovalCaseFactory()
    ApprovalItemFactory(case=case, accepted_at=dt.datetime(2027, 2, 4, 10, tzinfo=SHANGHAI), promised_days=10)
    before = client_for(official).get(f"/api/v1/cases/{case.pk}/items/?as_of=2027-02-10").json()["results"][0]
    assert (before["due_date"], before["clock"]) == (None, "unknown")
    assert (before["deadline_error"]["horizon"], before["deadline_error"]["needed"]) == ("2026-12-31", "2027-02-05")
    assert client_for(admin).put("/api/v1/calendar/years/2027", notice_2027(), format="json").status_code == 200
    after = client_for(official).get(f"/api/v1/cases/{case.pk}/items/?as_of=2027-02-10").json()["results"][0]
    assert (after["due_date"], after["remaining_working_days"], after["warning_level"]) == ("2027-02-23", 9, "ok")
    assert after["deadline_error"] is None


def test_only_administrators_load_a_year(official):
    before = snapshot()
    response = client_for(official).put("/api/v1/calendar/years/2027", notice_2027(), format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"
    assert snapshot() == before


def test_a_malformed_year_is_one_problem_listing_every_error(admin):
    document = notice_2027()
    document["holidays"][0]["name"] = ""
    document["holidays"][1]["end"] = "2027-02-05"
    document["workdays"] += ["2027-02-15", "2027-10-03"]
    before = snapshot()
    response = client_for(admin).put("/api/v1/calendar/years/2027", document, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_calendar_year"
    assert body["detail"] == "The arrangement for 2027 has 4 problems; nothing was loaded."
    assert body["errors"] == {
        "holidays[0].name": ["A holiday needs a name (e.g. 春节)."],
        "holidays[1].end": ["The holiday ends (2027-02-05) before it starts (2027-02-06)."],
        "workdays[6]": ["2027-02-15 is a Monday, already a working day; make-up days fall on weekends."],
        "workdays[7]": ["2027-10-03 is inside 国庆节 2027-10-01..2027-10-07; it cannot be worked."],
    }
    assert snapshot() == before


def test_a_year_before_its_predecessor_and_a_body_that_is_not_an_object_are_refused(admin):
    before = snapshot()
    response = client_for(admin).put(
        "/api/v1/calendar/years/2028",
        {"source": "x", "holidays": [{"name": "元旦", "start": "2028-01-01", "end": "2028-01-01"}]},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_calendar_year")
    assert list(response.json()["errors"]) == ["year"]
    response = client_for(admin).put("/api/v1/calendar/years/2027", [1, 2], format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_calendar_year")
    response = client_for(admin).put("/api/v1/calendar/years/1999", notice_2027(), format="json")
    assert response.json()["errors"] == {"year": ["The year is a number from 2000 to 2100, not 1999."]}
    assert snapshot() == before


def test_the_list_is_paged_and_says_how_far_the_calendar_reaches(official):
    response = client_for(official).get("/api/v1/calendar/years/?limit=2&offset=21")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 23  # 2004–2026, seeded from chinesecalendar
    assert [row["year"] for row in body["results"]] == [2025, 2026]
    assert body["results"][1]["origin"] == "seed"
    assert body["results"][1]["working_days"] == 248
    assert body["horizon"] == "2026-12-31"
    assert body["next_year"] == 2027
    today = timezone.localdate()
    assert body["days_to_horizon"] == (dt.date(2026, 12, 31) - today).days
    assert body["horizon_warning"] is (body["days_to_horizon"] <= 60)
    assert body["horizon_warning_days"] == 60


def test_the_list_horizon_moves_when_a_year_is_loaded(admin, settings):
    settings.CALENDAR_HORIZON_WARNING_DAYS = 60
    client_for(admin).put("/api/v1/calendar/years/2027", notice_2027(), format="json")
    body = client_for(admin).get("/api/v1/calendar/years/?limit=1&offset=23").json()
    assert (body["count"], body["results"][0]["year"], body["horizon"]) == (24, 2027, "2027-12-31")


def test_an_unknown_year_is_404_and_anonymous_is_401():
    user = UserFactory()
    assert client_for(user).get("/api/v1/calendar/years/2031").status_code == 404
    assert APIClient().get("/api/v1/calendar/years/").status_code == 401
