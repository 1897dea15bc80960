"""`GET stats/deadlines/`: open items by level, done on time or late, working days used against
the limits, supervision counts; over the cases the user can see."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.deadlines import item_deadlines_record
from backend.cases.models import ApprovalItem, Blzt
from backend.cases.notices import deadline_notices_run
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory
from backend.notifications.models import Supervision

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 9, tzinfo=SHANGHAI)


@pytest.fixture
def world():
    planning = OrganizationFactory(name="市自然资源和规划局", region="370211")
    housing = OrganizationFactory(name="市住房和城乡建设局", region="370211")
    case = ApprovalCaseFactory()
    # Accepted Monday 2026-11-02; on Wednesday 2026-11-11 (7 working days later):
    for promised, level in [(5, "overdue"), (10, "supervise3"), (12, "remind5"), (14, "warn7"), (20, "ok")]:
        ApprovalItemFactory(case=case, name=level, department=planning, accepted_at=at(11, 2), promised_days=promised)
    ApprovalItemFactory(case=case, name="未受理", department=planning, accepted_at=None, status=Blzt.RECEIVED)
    # Done: accepted Monday 2026-10-19; 10 days due 11-02, done 10-27 (6 used); 5 days due 10-26,
    # done 10-29 (8 used, 3 late).
    ApprovalItemFactory(
        case=case,
        name="规划许可",
        department=planning,
        accepted_at=at(10, 19),
        promised_days=10,
        statutory_days=20,
        status=Blzt.APPROVED,
        completed_at=at(10, 27),
    )
    ApprovalItemFactory(
        case=case,
        name="施工许可",
        department=housing,
        accepted_at=at(10, 19),
        promised_days=5,
        statutory_days=20,
        status=Blzt.APPROVED_WITH_TOLERANCE,
        completed_at=at(10, 29),
    )
    # Done before the period: not counted.
    ApprovalItemFactory(
        case=case,
        name="早期事项",
        department=housing,
        accepted_at=at(9, 1),
        promised_days=5,
        status=Blzt.APPROVED,
        completed_at=at(9, 3),
    )
    item_deadlines_record(
        items=list(ApprovalItem.objects.prefetch_related("status_events")), as_of=dt.date(2026, 11, 11)
    )
    deadline_notices_run(as_of=dt.date(2026, 11, 11))  # opens the supervisions of supervise3 and overdue
    admin = UserFactory(username="admin", organization=None, roles=[Role.ADMINISTRATOR])
    return {"planning": planning, "housing": housing, "admin": admin, "case": case}


def stats(user, **params):
    return client_for(user).get("/api/v1/stats/deadlines/", {"from": "2026-10-01", "to": "2026-11-11", **params})


def test_levels_completions_working_days_and_supervisions(world):
    response = stats(world["admin"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from"], body["to"], body["as_of"]) == ("2026-10-01", "2026-11-11", "2026-11-11")
    assert body["levels"] == {
        "ok": 1,
        "warn7": 1,
        "remind5": 1,
        "supervise3": 1,
        "overdue": 1,
        "unknown": 0,
        "not_started": 1,
    }
    assert body["completed"] == {"total": 2, "on_time": 1, "late": 1, "unknown": 0}
    assert body["working_days"] == {
        "items": 2,
        "average_used_working_days": 7.0,
        "average_statutory_days": 20.0,
        "average_promised_days": 7.5,
        "used_of_statutory": 0.35,
        "over_statutory": 0,
        "over_promised": 1,
    }
    assert [(row["department"], row["average_used_working_days"]) for row in body["working_days_by_department"]] == [
        ("市住房和城乡建设局", 8.0),
        ("市自然资源和规划局", 6.0),
    ]
    assert body["supervisions"] == {"opened": 2, "closed": 0, "acknowledged": 0, "responded": 0, "open_at_end": 2}


def test_levels_agree_with_the_item_list(world):
    # The figures read recorded due dates; the case's item list computes them: the same levels.
    items = client_for(world["admin"]).get(f"/api/v1/cases/{world['case'].pk}/items/", {"as_of": "2026-11-11"}).json()
    open_levels = sorted(
        row["warning_level"] for row in items["results"] if row["status"] not in (11, 12) and row["accepted_at"]
    )
    levels = stats(world["admin"]).json()["levels"]
    assert open_levels == sorted(
        level for level in ("ok", "warn7", "remind5", "supervise3", "overdue") for _ in range(levels[level])
    )


def test_a_department_and_an_earlier_period(world):
    body = stats(world["admin"], department=str(world["housing"].pk)).json()
    assert body["levels"]["overdue"] == 0
    assert body["completed"] == {"total": 1, "on_time": 0, "late": 1, "unknown": 0}
    assert body["supervisions"]["opened"] == 0
    # At the end of October the November items were not accepted yet (not counted) and the
    # October ones were done; on 2026-10-26 one was on its due day, the other 5 working days ahead.
    body = stats(world["admin"], to="2026-10-31").json()
    assert body["levels"] == {**dict.fromkeys(body["levels"], 0), "not_started": 1}
    levels = stats(world["admin"], to="2026-10-26").json()["levels"]
    assert levels == {**dict.fromkeys(levels, 0), "supervise3": 1, "remind5": 1, "not_started": 1}
    assert body["supervisions"] == {"opened": 0, "closed": 0, "acknowledged": 0, "responded": 0, "open_at_end": 0}
    Supervision.objects.update(closed_at=at(11, 12))
    assert stats(world["admin"], to="2026-11-12").json()["supervisions"]["closed"] == 2


def test_scoped_to_the_cases_the_user_sees(world):
    far = UserFactory(organization=OrganizationFactory(name="淄博市自然资源局", region="370300"))
    body = stats(far).json()
    assert sum(body["levels"].values()) == 0
    assert body["completed"]["total"] == 0
    assert body["working_days"]["items"] == 0
    assert body["supervisions"]["opened"] == 0
    official = UserFactory(organization=world["planning"])
    assert stats(official).json()["completed"]["total"] == 2


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"from": "2026-13-01"}, "from", "validation_error"),
        ({"to": "tomorrow"}, "to", "validation_error"),
        ({"from": "2026-11-12", "to": "2026-11-11"}, "from", "invalid_period"),
        ({"from": "2000-01-01", "to": "2026-11-11"}, "to", "invalid_period"),
        ({"department": "planning"}, "department", "validation_error"),
    ],
)
def test_bad_parameters_are_problems(world, params, field, code):
    response = stats(world["admin"], **params)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert field in response.json()["errors"]


def test_anonymous_is_refused():
    assert APIClient().get("/api/v1/stats/deadlines/").status_code == 401
