"""`GET items/`: items across the cases the user can see, by level, department, handler, mode."""

import datetime as dt

import pytest
from django.db import connection
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import ApprovalItem, Blzt, ItemStatusEvent
from backend.cases.notices import deadline_notices_run
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory, ProjectFactory
from backend.cases.worklists import worklist_at_level, worklist_items

pytestmark = pytest.mark.django_db

AS_OF = "2026-11-11"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def accepted(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, 9, tzinfo=SHANGHAI)


@pytest.fixture
def world():
    planning = OrganizationFactory(name="市自然资源和规划局", region="370211")
    housing = OrganizationFactory(name="市住房和城乡建设局", region="370211")
    far = OrganizationFactory(name="淄博市自然资源局", region="370300")
    me = UserFactory(username="me", organization=planning)
    colleague = UserFactory(username="colleague", organization=planning)
    here = ApprovalCaseFactory(external_no="GG-HERE")
    there = ApprovalCaseFactory(external_no="GG-THERE")
    elsewhere = ApprovalCaseFactory(
        external_no="GG-FAR", project=ProjectFactory(code="2404-370302-04-01-000001", region_code="370302")
    )
    # As of 2026-11-11 (accepted Monday 11-02, 10 working days: due 11-16, 3 left → supervise3).
    items = {
        "mine_supervise3": ApprovalItemFactory(
            case=here, name="规划许可", department=planning, handler=me, accepted_at=accepted(2), promised_days=10
        ),
        "mine_warn7": ApprovalItemFactory(
            case=there, name="用地规划", department=planning, handler=me, accepted_at=accepted(6), promised_days=10
        ),
        "colleague_overdue": ApprovalItemFactory(
            case=there,
            name="验线",
            department=planning,
            handler=colleague,
            accepted_at=accepted(2),
            promised_days=5,
            modes=["tolerance"],
        ),
        "housing_supervise3": ApprovalItemFactory(
            case=here, name="施工许可", department=housing, accepted_at=accepted(2), promised_days=10
        ),
        "not_started": ApprovalItemFactory(case=here, name="消防审查", department=housing, status=Blzt.RECEIVED),
        "far_supervise3": ApprovalItemFactory(
            case=elsewhere, name="远处事项", department=far, accepted_at=accepted(2), promised_days=10
        ),
    }
    # A paused item (correction since 11-05): its level is kept whatever its stored due date.
    paused = ApprovalItemFactory(
        case=here,
        name="补正中",
        department=planning,
        handler=me,
        accepted_at=accepted(2),
        promised_days=6,
        status=Blzt.CORRECTION_START,
    )
    ItemStatusEvent.objects.create(item=paused, status=Blzt.CORRECTION_START, occurred_at=accepted(5))
    items["mine_paused"] = paused
    deadline_notices_run(as_of=dt.date(2026, 11, 11))  # stores due dates, as the daily run does
    return me, planning, items


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_filters_across_the_cases_i_can_see(world):
    me, planning, items = world
    client = client_for(me)
    # The far case is outside my department's region and has none of my items.
    assert sorted(names(client.get(f"/api/v1/items/?as_of={AS_OF}"))) == sorted(
        ["规划许可", "用地规划", "验线", "施工许可", "消防审查", "补正中"]
    )
    supervise3 = ["规划许可", "施工许可", "补正中"]
    assert names(client.get(f"/api/v1/items/?as_of={AS_OF}&warning_level=supervise3")) == supervise3
    assert names(client.get(f"/api/v1/items/?as_of={AS_OF}&warning_level=supervise3&handler=me")) == [
        "规划许可",
        "补正中",
    ]
    assert names(client.get(f"/api/v1/items/?as_of={AS_OF}&warning_level=warn7&handler=me")) == ["用地规划"]
    assert names(client.get(f"/api/v1/items/?as_of={AS_OF}&warning_level=overdue")) == ["验线"]
    assert names(client.get(f"/api/v1/items/?as_of={AS_OF}&mode=tolerance")) == ["验线"]
    assert sorted(names(client.get(f"/api/v1/items/?as_of={AS_OF}&department={planning.pk}&handler=me"))) == [
        "用地规划",
        "补正中",
        "规划许可",
    ]
    assert names(client.get(f"/api/v1/items/?as_of={AS_OF}&warning_level=remind5")) == []
    # Paused since 11-05 with 3 of 6 days used: 3 left, frozen → supervise3, even when its stored
    # due date is stale (outside the window): paused items are always computed.
    ApprovalItem.objects.filter(pk=items["mine_paused"].pk).update(due_date=dt.date(2026, 11, 5))
    assert names(client.get(f"/api/v1/items/?as_of={AS_OF}&warning_level=supervise3&handler=me")) == [
        "补正中",
        "规划许可",
    ]
    row = client.get(f"/api/v1/items/?as_of={AS_OF}&handler=me&warning_level=supervise3").json()["results"][0]
    assert (row["due_date"], row["remaining_working_days"], row["case"]) == (
        "2026-11-16",
        3,
        str(items["mine_supervise3"].case_id),
    )


def test_paged(world):
    me, _, _ = world
    body = client_for(me).get(f"/api/v1/items/?as_of={AS_OF}&limit=2&offset=1").json()
    assert body["count"] == 6
    assert len(body["results"]) == 2
    body = client_for(me).get(f"/api/v1/items/?as_of={AS_OF}&warning_level=supervise3&limit=1").json()
    assert (body["count"], [r["name"] for r in body["results"]]) == (3, ["规划许可"])


def test_a_builder_sees_only_its_projects_items(world):
    _, _, items = world
    builder = items["far_supervise3"].case.project.builder
    user = UserFactory(organization=builder)
    assert builder.kind == OrganizationKind.BUILDER
    assert names(client_for(user).get(f"/api/v1/items/?as_of={AS_OF}")) == ["远处事项"]


def test_bad_filters_are_refused(world):
    me, _, _ = world
    response = client_for(me).get("/api/v1/items/?warning_level=red&department=x&handler=you&mode=fast")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert sorted(body["errors"]) == ["department", "handler", "mode", "warning_level"]
    response = client_for(me).get("/api/v1/items/?as_of=soon")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


def test_the_level_filter_computes_only_its_due_date_window(world):
    me, _, _ = world
    ApprovalItem.objects.bulk_create(
        ApprovalItem(
            case=world[2]["mine_supervise3"].case,
            name=f"远期{n}",
            department=world[1],
            handler=me,
            statutory_days=60,
            promised_days=40,
            accepted_at=accepted(2),
            status=Blzt.ACCEPTED,
            due_date=dt.date(2026, 12, 30),
        )
        for n in range(200)
    )
    body = client_for(me).get(f"/api/v1/items/?as_of={AS_OF}&warning_level=supervise3&handler=me").json()
    assert [r["name"] for r in body["results"]] == ["规划许可", "补正中"]
    # Of my 203 items only the two in the window (or paused) are computed.
    _, deadlines = worklist_at_level(
        worklist_items(user=me, handler=me), level="supervise3", as_of=dt.date(2026, 11, 11)
    )
    assert sorted(ApprovalItem.objects.filter(pk__in=deadlines).values_list("name", flat=True)) == sorted(
        ["规划许可", "补正中"]
    )
    plan = _explain_uses_index(me)
    # The due-date window is read through an index ((handler, due_date), or due_date alone when
    # every row is this handler's, as here: the planner may take either), never by a scan.
    assert "Seq Scan" not in plan, plan
    assert any("Index Cond" in line and "due_date" in line for line in plan.splitlines()), plan


def _explain_uses_index(me) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM cases_approvalitem WHERE handler_id = %s AND due_date BETWEEN %s AND %s",
            [me.pk, dt.date(2026, 11, 11), dt.date(2026, 11, 16)],
        )
        return "\n".join(row[0] for row in cursor.fetchall())
