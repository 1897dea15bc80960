from datetime import datetime, timedelta

import pytest
from drf_spectacular.settings import spectacular_settings

from backend.audit.models import AuditEntry
from backend.onsite.models import Delegation, OnsiteItem
from backend.onsite.services import delegation_grant, delegation_revoke

ITEMS = "/api/v1/onsite-items/"
DELEGATIONS = "/api/v1/delegations/"
CHECK = "/api/v1/delegations/check/"
PROBLEM = "application/problem+json"


def body(w, **overrides):
    data = {
        "department": str(w.department.pk),
        "delegate": str(w.approver.pk),
        "items": [str(w.permit.pk)],
        "valid_from": w.start.isoformat(),
        "valid_to": w.end.isoformat(),
    }
    data.update(overrides)
    return data


def grant(w):
    return delegation_grant(
        by=w.head, department=w.department, delegate=w.approver, items=[w.permit], valid_from=w.start, valid_to=w.end
    )


# --- catalogue ---------------------------------------------------------------------------


def test_catalogue_lists_active_entries_for_everyone(world, api_client):
    api_client.force_authenticate(world.builder)
    response = api_client.get(ITEMS, {"decide_on_site": "true", "department": str(world.department.pk)})
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "id": str(world.permit.pk),
            "department": str(world.department.pk),
            "department_name": "市自然资源和规划局",
            "name": "建设工程规划许可证核发",
            "accept_on_site": True,
            "decide_on_site": True,
            "active": True,
        }
    ]


def test_catalogue_needs_a_signed_in_user(world, api_client):
    assert api_client.get(ITEMS).status_code == 401


def test_administrator_writes_the_catalogue(world, api_client):
    api_client.force_authenticate(world.admin)
    response = api_client.post(
        ITEMS, {"department": str(world.other.pk), "name": "施工图审查", "accept_on_site": True}, format="json"
    )
    assert response.status_code == 201
    created = OnsiteItem.objects.get(pk=response.json()["id"])
    assert (created.name, created.accept_on_site, created.decide_on_site) == ("施工图审查", True, False)
    response = api_client.patch(f"{ITEMS}{created.pk}/", {"decide_on_site": True}, format="json")
    assert (response.status_code, response.json()["decide_on_site"]) == (200, True)
    assert api_client.delete(f"{ITEMS}{created.pk}/").status_code == 204
    assert not OnsiteItem.objects.filter(pk=created.pk).exists()


@pytest.mark.parametrize("who", ["head", "approver", "builder"])
def test_others_cannot_write_the_catalogue(world, api_client, who):
    api_client.force_authenticate(getattr(world, who))
    response = api_client.post(
        ITEMS, {"department": str(world.other.pk), "name": "x", "accept_on_site": True}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert api_client.patch(f"{ITEMS}{world.permit.pk}/", {"name": "y"}, format="json").status_code == 403
    assert api_client.delete(f"{ITEMS}{world.accept_only.pk}/").status_code == 403
    assert OnsiteItem.objects.count() == 4
    world.permit.refresh_from_db()
    assert world.permit.name == "建设工程规划许可证核发"


def test_catalogue_refusals_are_problems(world, api_client):
    api_client.force_authenticate(world.admin)
    response = api_client.post(ITEMS, {"department": str(world.team.pk), "name": "x", "accept_on_site": True})
    assert (response.status_code, response["Content-Type"], response.json()["code"]) == (
        400,
        PROBLEM,
        "not_approval_department",
    )
    response = api_client.post(ITEMS, {"department": str(world.department.pk), "name": "x"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    grant(world)
    response = api_client.delete(f"{ITEMS}{world.permit.pk}/")
    assert (response.status_code, response.json()["code"]) == (409, "in_use")
    assert OnsiteItem.objects.count() == 4


# --- delegations -------------------------------------------------------------------------


def test_head_grants_through_the_api(world, api_client):
    api_client.force_authenticate(world.head)
    response = api_client.post(DELEGATIONS, body(world), format="json", HTTP_X_DEVICE_ID="pad-1")
    assert response.status_code == 201
    data = response.json()
    delegation = Delegation.objects.get(pk=data["id"])
    assert data["granted_by"] == str(world.head.pk)
    assert data["delegate_name"] == "王审批"
    assert (data["items"], data["revoked"], data["revoked_at"]) == ([str(world.permit.pk)], False, None)
    entry = AuditEntry.objects.get(record_id=delegation.pk)
    assert (entry.action, entry.actor_id, entry.device_id) == ("delegation_granted", world.head.pk, "pad-1")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        (lambda w: {"delegate": str(w.agent.pk)}, "not_vehicle_approver"),
        (lambda w: {"items": [str(w.accept_only.pk)]}, "item_not_delegable"),
        (lambda w: {"items": [str(w.other_item.pk)]}, "item_not_delegable"),
        (lambda w: {"valid_to": w.start.isoformat()}, "invalid_period"),
        (lambda w: {"items": []}, "validation_error"),
        (lambda w: {"valid_from": "soon"}, "validation_error"),
    ],
)
def test_grant_refusals(world, api_client, overrides, code):
    api_client.force_authenticate(world.head)
    response = api_client.post(DELEGATIONS, body(world, **overrides(world)), format="json")
    assert (response.status_code, response["Content-Type"], response.json()["code"]) == (400, PROBLEM, code)
    assert Delegation.objects.count() == 0
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize("who", ["official", "approver", "lead"])
def test_only_the_head_or_an_administrator_grants(world, api_client, who):
    api_client.force_authenticate(getattr(world, who))
    response = api_client.post(DELEGATIONS, body(world), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert Delegation.objects.count() == 0


def test_who_sees_delegations(world, api_client):
    delegation = grant(world)
    for user, seen in [
        (world.admin, [str(delegation.pk)]),
        (world.official, [str(delegation.pk)]),
        (world.approver, [str(delegation.pk)]),
        (world.lead, [str(delegation.pk)]),
        (world.agent, []),
        (world.builder, []),
    ]:
        api_client.force_authenticate(user)
        assert [d["id"] for d in api_client.get(DELEGATIONS).json()["results"]] == seen
    api_client.force_authenticate(world.builder)
    assert api_client.get(f"{DELEGATIONS}{delegation.pk}/").status_code == 404


def test_revoke_through_the_api(world, api_client):
    delegation = grant(world)
    api_client.force_authenticate(world.approver)
    response = api_client.post(f"{DELEGATIONS}{delegation.pk}/revoke/", {"reason": "x"}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    api_client.force_authenticate(world.head)
    response = api_client.post(f"{DELEGATIONS}{delegation.pk}/revoke/", {"reason": "调岗"}, format="json")
    assert response.status_code == 200
    assert (response.json()["revoked"], response.json()["revoked_by"], response.json()["revoke_reason"]) == (
        True,
        str(world.head.pk),
        "调岗",
    )
    assert AuditEntry.objects.filter(record_id=delegation.pk).values_list("action", flat=True).order_by("id")[::1] == [
        "delegation_granted",
        "delegation_revoked",
    ]
    response = api_client.post(f"{DELEGATIONS}{delegation.pk}/revoke/", {}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "already_revoked")
    assert AuditEntry.objects.filter(record_id=delegation.pk).count() == 2


def test_delegations_are_not_changed_or_deleted(world, api_client):
    delegation = grant(world)
    api_client.force_authenticate(world.admin)
    assert api_client.patch(f"{DELEGATIONS}{delegation.pk}/", {}, format="json").status_code == 405
    assert api_client.delete(f"{DELEGATIONS}{delegation.pk}/").status_code == 405
    assert Delegation.objects.filter(pk=delegation.pk).exists()


# --- check -------------------------------------------------------------------------------


def check(api_client, w, **query):
    params = {"department": str(w.department.pk), "item": str(w.permit.pk)}
    params.update(query)
    return api_client.get(CHECK, params)


def test_check_allows_the_delegate(world, api_client):
    delegation = grant(world)
    api_client.force_authenticate(world.approver)
    response = check(api_client, world)
    assert response.status_code == 200
    data = response.json()
    assert (data["allowed"], data["delegation"]) == (True, str(delegation.pk))
    assert datetime.fromisoformat(data["valid_to"]) == world.end


def test_check_refusals(world, api_client):
    api_client.force_authenticate(world.approver)
    response = check(api_client, world)
    assert (response.status_code, response["Content-Type"], response.json()["code"]) == (403, PROBLEM, "not_delegated")
    delegation = grant(world)
    later = (world.end + timedelta(minutes=1)).isoformat()
    response = check(api_client, world, at=later)
    assert (response.status_code, response.json()["code"]) == (403, "delegation_expired")
    assert response.json()["delegation"] == str(delegation.pk)
    earlier = (world.start - timedelta(minutes=1)).isoformat()
    assert check(api_client, world, at=earlier).json()["code"] == "delegation_not_yet_valid"
    assert check(api_client, world, item=str(world.accept_only.pk)).json()["code"] == "item_not_decidable_on_site"
    delegation_revoke(by=world.head, delegation=delegation)
    assert check(api_client, world).json()["code"] == "delegation_revoked"
    api_client.force_authenticate(world.agent)
    assert check(api_client, world).json()["code"] == "not_vehicle_approver"


def test_check_input_errors(world, api_client):
    api_client.force_authenticate(world.approver)
    response = api_client.get(CHECK, {"department": str(world.department.pk)})
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert set(response.json()["errors"]) == {"item"}
    response = check(api_client, world, at="tomorrow")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["at"])


# --- the OpenAPI document ----------------------------------------------------------------


@pytest.fixture(scope="module")
def document(django_db_blocker):
    with django_db_blocker.unblock():
        return spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)


def test_the_schema_documents_the_refusals(document):
    paths = document["paths"]
    problem = {"$ref": "#/components/schemas/Problem"}
    check_answers = paths["/api/v1/delegations/check/"]["get"]["responses"]
    assert set(check_answers) == {"200", "400", "401", "403", "429", "503"}
    for code in ["not_delegated", "delegation_expired", "delegation_revoked", "delegation_not_yet_valid"]:
        assert f"`{code}`" in check_answers["403"]["description"]
    assert check_answers["403"]["content"][PROBLEM]["schema"] == problem
    grant_answers = paths["/api/v1/delegations/"]["post"]["responses"]
    for code in ["not_approval_department", "not_vehicle_approver", "item_not_delegable", "invalid_period"]:
        assert f"`{code}`" in grant_answers["400"]["description"]
    assert {"201", "400", "401", "403", "413", "415"} <= set(grant_answers)
    revoke_answers = paths["/api/v1/delegations/{id}/revoke/"]["post"]["responses"]
    assert "`already_revoked`" in revoke_answers["409"]["description"]
    assert {"200", "401", "403", "404", "409"} <= set(revoke_answers)
    assert "`in_use`" in paths["/api/v1/onsite-items/{id}/"]["delete"]["responses"]["409"]["description"]
    assert set(paths["/api/v1/delegations/{id}/"]) == {"get"}
