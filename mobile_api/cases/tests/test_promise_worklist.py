"""`GET promises/`: tolerance promises (容缺) not kept yet, due or overdue, across the cases the
user can see; filtered by state, department, handler and case; paged, soonest first."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import Blzt, Material
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world():
    planning = OrganizationFactory(name="市自然资源和规划局", region="370211")
    far = OrganizationFactory(name="淄博市自然资源局", region="370300")
    me = UserFactory(username="me", organization=planning)
    colleague = UserFactory(username="colleague", organization=planning)
    case = ApprovalCaseFactory(external_no="GG-HERE")
    elsewhere = ApprovalCaseFactory(
        external_no="GG-FAR", project__code="2404-370300-04-01-000009", project__region_code="370300"
    )
    accepted = dt.datetime(2026, 11, 2, 9, tzinfo=SHANGHAI)
    mine = ApprovalItemFactory(
        case=case, name="规划许可", department=planning, handler=me, accepted_at=accepted, modes=["tolerance"]
    )
    theirs = ApprovalItemFactory(
        case=case, name="用地许可", department=planning, handler=colleague, accepted_at=accepted, modes=["tolerance"]
    )
    refused = ApprovalItemFactory(
        case=case, name="已驳回", department=planning, status=Blzt.REFUSED, modes=["tolerance"]
    )
    far_item = ApprovalItemFactory(
        case=elsewhere, name="远处", department=far, accepted_at=accepted, modes=["tolerance"]
    )
    for item, name, promised, received in [
        (mine, "人防图纸", dt.date(2026, 11, 6), None),  # overdue at 11-11
        (mine, "审查意见", dt.date(2026, 11, 11), None),  # due today
        (mine, "下周材料", dt.date(2026, 11, 18), None),  # not yet due
        (mine, "已交材料", dt.date(2026, 11, 5), timezone.now()),  # kept
        (theirs, "地形图", dt.date(2026, 11, 9), None),  # overdue
        (refused, "作废承诺", dt.date(2026, 11, 3), None),  # no longer binds
        (far_item, "远处材料", dt.date(2026, 11, 3), None),  # not visible to me
    ]:
        Material.objects.create(item=item, name=name, promised_by=promised, received_at=received)
    Material.objects.create(item=mine, name="无承诺", promised_by=None)
    return {"me": me, "planning": planning, "far": far, "case": case}


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_due_and_overdue_promises_soonest_first(world):
    response = client_for(world["me"]).get("/api/v1/promises/", {"as_of": "2026-11-11"})
    assert names(response) == ["人防图纸", "地形图", "审查意见"]
    first = response.json()["results"][0]
    assert first["promise_state"] == "overdue"
    assert first["days_overdue"] == 5
    assert (first["item_name"], first["external_no"], first["department_name"]) == (
        "规划许可",
        "GG-HERE",
        "市自然资源和规划局",
    )
    assert response.json()["count"] == 3


def test_filters(world):
    client = client_for(world["me"])
    base = {"as_of": "2026-11-11"}
    assert names(client.get("/api/v1/promises/", {**base, "state": "overdue"})) == ["人防图纸", "地形图"]
    assert names(client.get("/api/v1/promises/", {**base, "state": "pending"})) == ["审查意见"]
    assert names(client.get("/api/v1/promises/", {**base, "handler": "me"})) == ["人防图纸", "审查意见"]
    assert names(client.get("/api/v1/promises/", {**base, "due_by": "2026-11-20"})) == [
        "人防图纸",
        "地形图",
        "审查意见",
        "下周材料",
    ]
    assert names(client.get("/api/v1/promises/", {**base, "department": str(world["far"].pk)})) == []
    assert names(client.get("/api/v1/promises/", {**base, "case": str(world["case"].pk), "limit": 1})) == ["人防图纸"]


def test_scoped_to_visible_cases(world):
    far_user = UserFactory(organization=world["far"])
    assert names(client_for(far_user).get("/api/v1/promises/", {"as_of": "2026-11-11"})) == ["远处材料"]
    stranger = UserFactory(organization=OrganizationFactory(name="烟台市住建局", region="370600"))
    assert names(client_for(stranger).get("/api/v1/promises/", {"as_of": "2026-11-11"})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"due_by": "soon"}, "due_by"),
        ({"state": "kept"}, "state"),
        ({"department": "x"}, "department"),
        ({"case": "x"}, "case"),
        ({"handler": "you"}, "handler"),
        ({"as_of": "today"}, "as_of"),
    ],
)
def test_bad_filters_are_problems(world, params, field):
    response = client_for(world["me"]).get("/api/v1/promises/", params)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert field in response.json()["errors"]
