"""Each approval item has a handler (承办人) of its department; the approval system's upsert names them."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role, User
from backend.accounts.tests.factories import OrganizationFactory, UserFactory, user_of_kind
from backend.cases.models import ApprovalCase, ApprovalItem, Project
from backend.cases.tests.factories import ApprovalItemFactory
from mobile_api.cases.tests.factories import upsert_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases/by-external/GG-2026-0100"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def integration():
    return user_of_kind(OrganizationKind.EXTERNAL_SYSTEM, roles=[Role.INTEGRATION], region="")


@pytest.fixture
def planning():
    return OrganizationFactory(name="自然资源局", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")


def body_with_handler(handler):
    body = upsert_body()
    body["items"][0]["handler"] = handler
    return body


def test_the_upsert_names_the_handler_by_username_within_the_department(integration, planning):
    handler = UserFactory(username="zhang.wei", organization=planning, full_name="张伟")
    response = client_for(integration).put(URL, body_with_handler("zhang.wei"), format="json")
    assert response.status_code == 201, response.json()
    item = ApprovalItem.objects.get(case__external_no="GG-2026-0100")
    assert item.handler == handler
    case = ApprovalCase.objects.get(external_no="GG-2026-0100")
    row = client_for(integration).get(f"/api/v1/cases/{case.pk}/items/").json()["results"][0]
    assert (row["handler"], row["handler_username"], row["handler_name"]) == (str(handler.pk), "zhang.wei", "张伟")


def test_omitting_the_handler_keeps_it_and_null_clears_it(integration, planning):
    handler = UserFactory(username="zhang.wei", organization=planning)
    client = client_for(integration)
    assert client.put(URL, body_with_handler("zhang.wei"), format="json").status_code == 201
    assert client.put(URL, upsert_body(), format="json").status_code == 200
    assert ApprovalItem.objects.get().handler == handler
    assert client.put(URL, body_with_handler(None), format="json").status_code == 200
    assert ApprovalItem.objects.get().handler is None


@pytest.mark.parametrize("where", ["nowhere", "other_department", "inactive"])
def test_an_unknown_handler_is_refused_and_nothing_is_written(integration, planning, where):
    if where == "other_department":
        UserFactory(username="li.na", organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT))
    elif where == "inactive":
        UserFactory(username="li.na", organization=planning, is_active=False)
    response = client_for(integration).put(URL, body_with_handler("li.na"), format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "unknown_handler"
    if where == "inactive":
        assert body["errors"] == {"items[0].handler": ["li.na is not an active user."]}
    else:
        assert body["errors"] == {
            "items[0].handler": [
                "No user 'li.na' in 自然资源局: the handler is named by username within it.",
            ]
        }
    assert (ApprovalCase.objects.count(), ApprovalItem.objects.count(), Project.objects.count()) == (0, 0, 0)


def test_the_admin_refuses_a_handler_outside_the_department(planning):
    item = ApprovalItemFactory(department=planning)
    outsider = UserFactory(organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT))
    admin = UserFactory(organization=None, roles=[], is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/admin/cases/approvalitem/{item.pk}/change/",
        {
            "case": str(item.case_id),
            "name": item.name,
            "department": str(planning.pk),
            "handler": str(outsider.pk),
            "statutory_days": "20",
            "promised_days": "10",
            "status": "3",
            "modes": "",
            "external_id": "",
            "status_events-TOTAL_FORMS": "0",
            "status_events-INITIAL_FORMS": "0",
            "materials-TOTAL_FORMS": "0",
            "materials-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert f"{outsider.username} is not a member of 自然资源局" in response.content.decode()
    item.refresh_from_db()
    assert item.handler is None


def test_department_head_and_supervisor_are_roles(planning):
    admin = UserFactory(organization=None, roles=[], is_superuser=True)
    response = client_for(admin).post(
        "/api/v1/users/",
        {
            "username": "head",
            "password": "a-long-pass-2026",
            "organization": str(planning.pk),
            "roles": ["department_head"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert User.objects.get(username="head").roles == ["department_head"]
    assert Role.SUPERVISOR.label == "督查人员"
    assert Role.DEPARTMENT_HEAD.label == "部门负责人"
