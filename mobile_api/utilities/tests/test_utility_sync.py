import uuid

from backend.utilities.models import UtilityPoint, UtilityRequest
from backend.utilities.services import utility_application_create
from backend.utilities.tests.factories import VALID_DEMANDS

PUSH = "/api/v1/sync/push"


def push(api_client, user, *operations):
    api_client.force_authenticate(user)
    response = api_client.post(PUSH, {"device_id": "tablet-1", "operations": list(operations)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["receipts"]


def test_sync_push_creates_a_point_through_the_same_rules(world, api_client):
    point_id = str(uuid.uuid4())
    operation = {
        "op_id": str(uuid.uuid4()),
        "type": "utility_point",
        "action": "upsert",
        "id": point_id,
        "base_version": None,
        "data": {
            "case": str(world.case.pk),
            "utility_type": "telecom",
            "location": {"type": "Point", "coordinates": [120.171, 35.961]},
            "attributes": {"operator": "china_unicom"},
        },
    }
    (receipt,) = push(api_client, world.surveyor, operation)
    assert (receipt["status"], receipt["id"], receipt["version"]) == ("applied", point_id, 1)
    point = UtilityPoint.objects.get()
    assert (point.company, point.device_id) == (world.companies["telecom"], "tablet-1")
    bad = {**operation, "op_id": str(uuid.uuid4()), "id": str(uuid.uuid4())}
    bad["data"] = {**operation["data"], "attributes": {"operator": "att"}}
    (rejected,) = push(api_client, world.surveyor, bad)
    assert rejected["status"] == "rejected"
    assert list(rejected["errors"]) == ["attributes.operator"]
    assert UtilityPoint.all_objects.count() == 1


def test_sync_push_delete_of_a_request_by_its_company_is_refused(world, api_client):
    utility_application_create(case=world.case, site=world.site, demands={"water": VALID_DEMANDS["water"]}, by=None)
    request = UtilityRequest.objects.get()
    operation = {
        "op_id": str(uuid.uuid4()),
        "type": "utility_request",
        "action": "delete",
        "id": str(request.pk),
        "base_version": 1,
        "data": {},
    }
    (receipt,) = push(api_client, world.company_users["water"], operation)
    assert receipt["status"] == "rejected"
    request.refresh_from_db()
    assert (request.deleted_at, request.version) == (None, 1)
