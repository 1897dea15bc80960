"""督办单: opened at supervise3 with whom the chain told, answered by the department, closed when
the item is done, and on the case timeline."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import Blzt
from backend.cases.notices import deadline_notices_run
from backend.cases.services import approval_item_change_status
from backend.cases.tests.factories import SHANGHAI, ApprovalItemFactory
from backend.notifications.models import Supervision

pytestmark = pytest.mark.django_db

D = dt.date


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world():
    department = OrganizationFactory(name="市自然资源和规划局", region="370211")
    people = {
        "handler": UserFactory(username="handler", organization=department),
        "head": UserFactory(username="head", organization=department, roles=[Role.DEPARTMENT_HEAD]),
        "outsider": UserFactory(username="outsider", organization=OrganizationFactory(region="370212")),
        "city_supervisor": UserFactory(
            username="city_supervisor",
            organization=OrganizationFactory(name="青岛市督查室", region="3702"),
            roles=[Role.SUPERVISOR],
        ),
        "far_supervisor": UserFactory(
            username="far_supervisor",
            organization=OrganizationFactory(name="淄博市督查室", region="3703"),
            roles=[Role.SUPERVISOR],
        ),
    }
    # Accepted Monday 2026-11-02, 10 working days: due 2026-11-16, supervise3 from 2026-11-11.
    item = ApprovalItemFactory(
        name="建设工程规划许可",
        department=department,
        handler=people["handler"],
        accepted_at=dt.datetime(2026, 11, 2, 9, tzinfo=SHANGHAI),
        promised_days=10,
    )
    return people, item


def test_supervise3_opens_one_supervision_that_records_each_days_notices(world):
    people, item = world
    deadline_notices_run(as_of=D(2026, 11, 10))
    assert Supervision.objects.count() == 0
    deadline_notices_run(as_of=D(2026, 11, 11))
    deadline_notices_run(as_of=D(2026, 11, 11))
    supervision = Supervision.objects.get()
    assert (supervision.item_id, supervision.case_id, supervision.department_id) == (
        item.pk,
        item.case_id,
        item.department_id,
    )
    assert supervision.opened_on == D(2026, 11, 11)
    assert sorted((n["username"], n["level"], n["day"]) for n in supervision.notified) == [
        ("city_supervisor", "supervise3", "2026-11-11"),
        ("handler", "supervise3", "2026-11-11"),
        ("head", "supervise3", "2026-11-11"),
    ]
    deadline_notices_run(as_of=D(2026, 11, 17))
    supervision.refresh_from_db()
    assert Supervision.objects.count() == 1
    assert [n["level"] for n in supervision.notified].count("overdue") == 3


def test_the_list_is_scoped(world):
    people, item = world
    deadline_notices_run(as_of=D(2026, 11, 11))
    supervision = Supervision.objects.get()
    for name in ("handler", "head", "city_supervisor"):
        body = client_for(people[name]).get("/api/v1/supervisions/").json()
        assert [row["id"] for row in body["results"]] == [str(supervision.pk)], name
        assert body["results"][0]["status"] == "open"
        assert body["results"][0]["item_name"] == "建设工程规划许可"
    for name in ("outsider", "far_supervisor"):
        assert client_for(people[name]).get("/api/v1/supervisions/").json()["count"] == 0, name
    client = client_for(people["handler"])
    assert client.get("/api/v1/supervisions/?open=false").json()["count"] == 0
    response = client.get("/api/v1/supervisions/?open=maybe")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_the_department_responds_and_nobody_else(world):
    people, item = world
    deadline_notices_run(as_of=D(2026, 11, 11))
    supervision = Supervision.objects.get()
    url = f"/api/v1/supervisions/{supervision.pk}/respond"
    refused = [
        (people["city_supervisor"], {"response": "督查要求"}, 403, "permission_denied"),
        (people["outsider"], {"response": "不是我们"}, 404, "not_found"),
        (people["handler"], {"response": "   "}, 400, "validation_error"),
        (people["handler"], {"response": 7}, 400, "validation_error"),
        (people["handler"], {}, 400, "validation_error"),
        (people["handler"], {"response": "长" * 5001}, 400, "validation_error"),
    ]
    for user, body, status, code in refused:
        response = client_for(user).post(url, body, format="json")
        assert (response.status_code, response.json()["code"]) == (status, code), body
    supervision.refresh_from_db()
    assert (supervision.acknowledged_at, supervision.response, supervision.version) == (None, "", 1)

    response = client_for(people["handler"]).post(url, {"response": "已补充材料，明日办结"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["response"], body["version"]) == ("responded", "已补充材料，明日办结", 2)
    assert body["acknowledged_by"] == str(people["handler"].pk)
    acknowledged_at = body["acknowledged_at"]
    body = client_for(people["head"]).post(url, {"response": "明日办结"}, format="json").json()
    assert (body["response"], body["responded_by"], body["acknowledged_at"]) == (
        "明日办结",
        str(people["head"].pk),
        acknowledged_at,
    )


def test_closed_when_the_item_is_done_and_shown_on_the_timeline(world, django_capture_on_commit_callbacks):
    people, item = world
    deadline_notices_run(as_of=D(2026, 11, 11))
    supervision = Supervision.objects.get()
    timeline = client_for(people["handler"]).get(f"/api/v1/cases/{item.case_id}/timeline/").json()
    entries = [row for row in timeline["results"] if row["type"] == "supervision"]
    assert [(row["id"], row["label"], row["status"], row["is_locked"]) for row in entries] == [
        (str(supervision.pk), "督办单", "open", False)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        approval_item_change_status(item=item, status=Blzt.APPROVED, by=None)
    supervision.refresh_from_db()
    assert supervision.closed_at is not None
    assert supervision.status == "closed"
    response = client_for(people["handler"]).post(
        f"/api/v1/supervisions/{supervision.pk}/respond", {"response": "晚了"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "supervision_closed")
    timeline = client_for(people["handler"]).get(f"/api/v1/cases/{item.case_id}/timeline/").json()
    assert [row["status"] for row in timeline["results"] if row["type"] == "supervision"] == ["closed"]
