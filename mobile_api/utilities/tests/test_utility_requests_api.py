import pytest

from backend.accounts.models import UtilityType
from backend.audit.models import AuditEntry
from backend.utilities.models import UtilityRequest
from backend.utilities.services import utility_application_create
from backend.utilities.tests.factories import VALID_DEMANDS

URL = "/api/v1/utility-requests/"


@pytest.fixture
def requests_by_type(world):
    utility_application_create(case=world.case, site=world.site, demands=VALID_DEMANDS, by=world.official)
    return {r.utility_type: r for r in UtilityRequest.objects.all()}


def respond(api_client, user, request, **body):
    api_client.force_authenticate(user)
    return api_client.post(f"{URL}{request.pk}/respond/", body, format="json")


def test_single_request_goes_to_the_company_serving_the_type(world, api_client):
    api_client.force_authenticate(world.builder)
    body = {
        "case": str(world.case.pk),
        "site": str(world.site.pk),
        "utility_type": "gas",
        "demand": VALID_DEMANDS["gas"],
    }
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response["ETag"] == '"1"'
    data = response.json()
    assert (data["company"], data["company_name"], data["status"], data["version"]) == (
        str(world.companies["gas"].pk),
        "gas公司",
        "submitted",
        1,
    )
    assert world.case.assigned_organizations.filter(pk=world.companies["gas"].pk).exists()


def test_invalid_single_request_errors_are_keyed_by_demand_field(world, api_client):
    api_client.force_authenticate(world.builder)
    body = {
        "case": str(world.case.pk),
        "site": str(world.site.pk),
        "utility_type": "water",
        "demand": {**VALID_DEMANDS["water"], "daily_m3": 0},
    }
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == {"demand.daily_m3": ["Must be greater than 0 m³/d."]}
    assert UtilityRequest.all_objects.count() == 0


def test_addressed_company_accepts_with_plan_and_date(world, api_client, requests_by_type):
    water = requests_by_type["water"]
    user = world.company_users["water"]
    response = respond(
        api_client, user, water, decision="accept", plan="DN100 接市政管网", planned_connection_date="2026-06-30"
    )
    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"2"'
    water.refresh_from_db()
    assert (water.status, water.plan, str(water.planned_connection_date), water.responded_by_id, water.version) == (
        "accepted",
        "DN100 接市政管网",
        "2026-06-30",
        user.pk,
        2,
    )
    assert water.responded_at is not None
    assert AuditEntry.objects.filter(record_id=water.pk, action="transition:accepted").count() == 1


def test_respond_by_another_company_is_404_and_changes_nothing(world, api_client, requests_by_type):
    water = requests_by_type["water"]
    response = respond(api_client, world.company_users["power"], water, decision="accept")
    assert response.status_code == 404
    water.refresh_from_db()
    assert (water.status, water.version) == ("submitted", 1)


@pytest.mark.parametrize("who", ["official", "builder", "surveyor"])
def test_respond_by_a_visible_non_company_user_is_403(world, api_client, requests_by_type, who):
    water = requests_by_type["water"]
    response = respond(api_client, getattr(world, who), water, decision="accept")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    water.refresh_from_db()
    assert (water.status, water.version) == ("submitted", 1)


@pytest.mark.parametrize("decision", ["reject", "need_info"])
def test_reject_and_need_info_need_a_note(world, api_client, requests_by_type, decision):
    gas = requests_by_type["gas"]
    response = respond(api_client, world.company_users["gas"], gas, decision=decision, note="  ")
    assert response.status_code == 400
    assert response.json()["errors"] == {"note": ["Required: tell the applicant why or what is missing."]}
    gas.refresh_from_db()
    assert (gas.status, gas.version) == ("submitted", 1)


def test_unknown_decision_is_refused(world, api_client, requests_by_type):
    gas = requests_by_type["gas"]
    response = respond(api_client, world.company_users["gas"], gas, decision="maybe")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert sorted(response.json()["errors"]) == ["decision"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("reject", "accept"),
        ("reject", "need_info"),
        ("accept", "reject"),
        ("accept", "accept"),
        ("need_info", "need_info"),
    ],
)
def test_illegal_response_transitions_are_refused(world, api_client, requests_by_type, first, second):
    heating = requests_by_type["heating"]
    user = world.company_users["heating"]
    assert respond(api_client, user, heating, decision=first, note="原因").status_code == 200
    heating.refresh_from_db()
    before = (heating.status, heating.version)
    response = respond(api_client, user, heating, decision=second, note="原因")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    heating.refresh_from_db()
    assert (heating.status, heating.version) == before


def test_need_info_then_resubmission_then_accept(world, api_client, requests_by_type):
    telecom = requests_by_type["telecom"]
    company_user = world.company_users["telecom"]
    assert respond(api_client, company_user, telecom, decision="need_info", note="请补充端口规划").status_code == 200
    api_client.force_authenticate(world.builder)
    patched = api_client.patch(
        f"{URL}{telecom.pk}/",
        {"demand": {**VALID_DEMANDS["telecom"], "ports": 400}},
        format="json",
        HTTP_IF_MATCH='"2"',
    )
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["status"], patched.json()["version"]) == ("submitted", 3)
    assert respond(api_client, company_user, telecom, decision="accept", plan="光交箱 GJ-07").status_code == 200
    telecom.refresh_from_db()
    assert (telecom.status, telecom.demand["ports"], telecom.version) == ("accepted", 400, 4)


def test_connect_after_accept_and_not_before(world, api_client, requests_by_type):
    power = requests_by_type["power"]
    user = world.company_users["power"]
    api_client.force_authenticate(user)
    early = api_client.post(f"{URL}{power.pk}/connect/")
    assert early.status_code == 409
    assert early.json()["code"] == "illegal_transition"
    assert respond(api_client, user, power, decision="accept").status_code == 200
    api_client.force_authenticate(user)
    assert api_client.post(f"{URL}{power.pk}/connect/").json()["status"] == "connected"


def test_respond_with_idempotency_key_replays_the_first_response(world, api_client, requests_by_type):
    gas = requests_by_type["gas"]
    api_client.force_authenticate(world.company_users["gas"])
    url = f"{URL}{gas.pk}/respond/"
    first = api_client.post(url, {"decision": "accept"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api_client.post(url, {"decision": "accept"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    reuse = api_client.post(url, {"decision": "reject", "note": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert reuse.status_code == 422
    gas.refresh_from_db()
    assert (gas.status, gas.version) == ("accepted", 2)


def test_company_and_status_are_not_writable(world, api_client, requests_by_type):
    water = requests_by_type["water"]
    api_client.force_authenticate(world.builder)
    response = api_client.patch(
        f"{URL}{water.pk}/",
        {"company": str(world.companies["power"].pk), "status": "accepted"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"company": ["Cannot be changed after creation."]}
    water.refresh_from_db()
    assert (water.company, water.status, water.version) == (world.companies["water"], "submitted", 1)


def test_stale_if_match_is_412_with_the_current_record(world, api_client, requests_by_type):
    water = requests_by_type["water"]
    api_client.force_authenticate(world.builder)
    first = api_client.patch(f"{URL}{water.pk}/", {"contact_phone": "1"}, format="json", HTTP_IF_MATCH='"1"')
    assert first.status_code == 200
    stale = api_client.patch(f"{URL}{water.pk}/", {"contact_phone": "2"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_mismatch"
    assert (stale.json()["current"]["version"], stale.json()["current"]["contact_phone"]) == (2, "1")
    missing = api_client.patch(f"{URL}{water.pk}/", {"contact_phone": "3"}, format="json")
    assert missing.status_code == 428
    water.refresh_from_db()
    assert (water.contact_phone, water.version) == ("1", 2)


def test_answered_request_cannot_be_edited_or_withdrawn(world, api_client, requests_by_type):
    gas = requests_by_type["gas"]
    assert respond(api_client, world.company_users["gas"], gas, decision="accept").status_code == 200
    api_client.force_authenticate(world.builder)
    patched = api_client.patch(f"{URL}{gas.pk}/", {"contact_phone": "9"}, format="json", HTTP_IF_MATCH='"2"')
    assert patched.status_code == 409
    assert patched.json()["code"] == "request_not_editable"
    deleted = api_client.delete(f"{URL}{gas.pk}/")
    assert deleted.status_code == 409
    gas.refresh_from_db()
    assert (gas.contact_phone, gas.deleted_at, gas.version) == ("", None, 2)


def test_applicant_withdraws_an_open_request_and_may_apply_again(world, api_client, requests_by_type):
    gas = requests_by_type["gas"]
    api_client.force_authenticate(world.builder)
    assert api_client.delete(f"{URL}{gas.pk}/").status_code == 204
    assert api_client.get(f"{URL}{gas.pk}/").status_code == 404
    body = {
        "case": str(world.case.pk),
        "site": str(world.site.pk),
        "utility_type": "gas",
        "demand": VALID_DEMANDS["gas"],
    }
    assert api_client.post(URL, body, format="json").status_code == 201


# --- scoping matrix ----------------------------------------------------------------------------


def test_each_company_sees_only_requests_addressed_to_it(world, api_client, requests_by_type):
    for utility_type in UtilityType.values:
        api_client.force_authenticate(world.company_users[utility_type])
        listed = api_client.get(URL).json()
        assert [r["id"] for r in listed["results"]] == [str(requests_by_type[utility_type].pk)]
        assert listed["count"] == 1


def test_water_company_gets_no_2xx_on_power_requests(world, api_client, requests_by_type):
    power = requests_by_type["power"]
    api_client.force_authenticate(world.company_users["water"])
    responses = [
        api_client.get(f"{URL}{power.pk}/"),
        api_client.get(f"{URL}?utility_type=power"),
        api_client.get(f"{URL}?company={world.companies['power'].pk}"),
        api_client.post(f"{URL}{power.pk}/respond/", {"decision": "accept"}, format="json"),
        api_client.post(f"{URL}{power.pk}/connect/"),
        api_client.patch(f"{URL}{power.pk}/", {"contact_phone": "1"}, format="json", HTTP_IF_MATCH='"1"'),
        api_client.put(f"{URL}{power.pk}/", {}, format="json", HTTP_IF_MATCH='"1"'),
        api_client.delete(f"{URL}{power.pk}/"),
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [404, 200, 200, 404, 404, 404, 404, 404]
    assert responses[1].json()["count"] == 0
    assert responses[2].json()["count"] == 0
    power.refresh_from_db()
    assert (power.status, power.version, power.deleted_at) == ("submitted", 1, None)


def test_company_may_not_patch_even_its_own_request(world, api_client, requests_by_type):
    water = requests_by_type["water"]
    api_client.force_authenticate(world.company_users["water"])
    response = api_client.patch(f"{URL}{water.pk}/", {"contact_phone": "1"}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 403
    water.refresh_from_db()
    assert water.version == 1


@pytest.mark.parametrize(
    ("who", "count"),
    [("official", 5), ("builder", 5), ("surveyor", 5), ("outside_official", 0), ("other_crew_surveyor", 0)],
)
def test_officials_crews_and_builders_see_the_cases_they_may_see(world, api_client, requests_by_type, who, count):
    api_client.force_authenticate(getattr(world, who))
    assert api_client.get(URL).json()["count"] == count
    detail = api_client.get(f"{URL}{requests_by_type['water'].pk}/")
    assert detail.status_code == (200 if count else 404)
