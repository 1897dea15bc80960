import uuid

from backend.accounts.models import UtilityType
from backend.audit.models import AuditEntry
from backend.utilities.models import UtilityApplication, UtilityRequest
from backend.utilities.services import application_request_id
from backend.utilities.tests.factories import VALID_DEMANDS, UtilityCompanyFactory

URL = "/api/v1/utility-applications/"


def application_body(world, **overrides):
    return {
        "case": str(world.case.pk),
        "site": str(world.site.pk),
        "applicant_name": "青岛海晟新能源装备制造有限公司",
        "contact_phone": "0532-86981234",
        "demands": VALID_DEMANDS,
        **overrides,
    }


def test_fan_out_creates_one_request_per_type_addressed_to_the_right_company(world, api_client):
    api_client.force_authenticate(world.builder)
    response = api_client.post(URL, application_body(world), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    application = UtilityApplication.objects.get()
    assert body["id"] == str(application.pk)
    assert body["version"] == 1
    requests = UtilityRequest.objects.filter(application=application)
    assert requests.count() == 5
    assert {r.utility_type: r.company_id for r in requests} == {t: world.companies[t].pk for t in UtilityType.values}
    assert {r.utility_type: r.demand for r in requests} == VALID_DEMANDS
    assert {r.status for r in requests} == {"submitted"}
    assert {r.pk for r in requests} == {application_request_id(application.pk, t) for t in UtilityType.values}
    assert [(r["utility_type"], r["company"], r["status"]) for r in body["requests"]] == [
        (t, str(world.companies[t].pk), "submitted") for t in sorted(UtilityType.values)
    ]
    assigned = set(world.case.assigned_organizations.values_list("pk", flat=True))
    assert {c.pk for c in world.companies.values()} <= assigned
    assert AuditEntry.objects.filter(record_type="utility_request", action="create").count() == 5


def test_fan_out_of_a_subset_makes_only_those_requests(world, api_client):
    api_client.force_authenticate(world.official)
    demands = {t: VALID_DEMANDS[t] for t in ("water", "telecom")}
    response = api_client.post(URL, application_body(world, demands=demands), format="json")
    assert response.status_code == 201
    assert sorted(UtilityRequest.objects.values_list("utility_type", flat=True)) == ["telecom", "water"]
    assigned = set(world.case.assigned_organizations.values_list("pk", flat=True))
    assert world.companies["water"].pk in assigned
    assert world.companies["power"].pk not in assigned


def test_one_invalid_demand_refuses_the_whole_application(world, api_client):
    api_client.force_authenticate(world.builder)
    demands = {**VALID_DEMANDS, "power": {**VALID_DEMANDS["power"], "voltage_kv": 220}, "gas": {"pressure": "low"}}
    response = api_client.post(URL, application_body(world, demands=demands), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == {
        "demands.power.voltage_kv": ["Must be one of: 0.4 kV, 10 kV, 35 kV."],
        "demands.gas.peak_m3h": ["Required (高峰小时用气量, m³/h)."],
        "demands.gas.annual_m3": ["Required (年用气量, m³)."],
    }
    assert UtilityApplication.all_objects.count() == 0
    assert UtilityRequest.all_objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_unknown_utility_type_is_refused(world, api_client):
    api_client.force_authenticate(world.builder)
    response = api_client.post(URL, application_body(world, demands={"sewage": {}}), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "demands.sewage": ["Unknown utility type; use: water, power, gas, heating, telecom."]
    }
    assert UtilityApplication.all_objects.count() == 0


def test_no_company_for_a_type_refuses_the_whole_application(world, api_client):
    world.companies["heating"].region = "370100"
    world.companies["heating"].save()
    api_client.force_authenticate(world.builder)
    response = api_client.post(URL, application_body(world), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "no_company_for_type"
    assert body["errors"] == {"companies.heating": ["No single utility company serves heating in region 370211."]}
    assert UtilityApplication.all_objects.count() == 0
    assert UtilityRequest.all_objects.count() == 0


def test_two_companies_serving_a_type_need_the_applicant_to_name_one(world, api_client):
    second = UtilityCompanyFactory(utility_types=["telecom"], name="中国移动西海岸")
    api_client.force_authenticate(world.builder)
    response = api_client.post(URL, application_body(world), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "no_company_for_type"
    assert UtilityRequest.all_objects.count() == 0
    response = api_client.post(URL, application_body(world, companies={"telecom": str(second.pk)}), format="json")
    assert response.status_code == 201
    assert UtilityRequest.objects.get(utility_type="telecom").company == second


def test_the_district_company_wins_over_the_city_company(world, api_client):
    UtilityCompanyFactory(utility_types=["water"], region="3702", name="青岛市水务集团")
    api_client.force_authenticate(world.builder)
    response = api_client.post(URL, application_body(world, demands={"water": VALID_DEMANDS["water"]}), format="json")
    assert response.status_code == 201
    assert UtilityRequest.objects.get().company == world.companies["water"]


def test_a_named_company_must_serve_the_type(world, api_client):
    api_client.force_authenticate(world.builder)
    body = application_body(world, companies={"water": str(world.companies["power"].pk)})
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"companies.water": ["Not a utility company serving water."]}
    assert UtilityRequest.all_objects.count() == 0


def test_a_second_open_request_for_the_same_site_and_type_is_a_conflict(world, api_client):
    api_client.force_authenticate(world.builder)
    assert (
        api_client.post(
            URL, application_body(world, demands={"water": VALID_DEMANDS["water"]}), format="json"
        ).status_code
        == 201
    )
    response = api_client.post(URL, application_body(world), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "utility_request_exists"
    assert UtilityApplication.objects.count() == 1
    assert UtilityRequest.objects.count() == 1


def test_client_id_replay_returns_the_application_and_other_content_conflicts(world, api_client):
    api_client.force_authenticate(world.builder)
    application_id = str(uuid.uuid4())
    body = application_body(world, id=application_id)
    first = api_client.post(URL, body, format="json")
    assert first.status_code == 201
    replay = api_client.post(URL, body, format="json")
    assert replay.status_code == 200
    assert replay.json() == first.json()
    other = api_client.post(URL, {**body, "contact_phone": "110"}, format="json")
    assert other.status_code == 409
    assert other.json()["code"] == "id_conflict"
    assert UtilityApplication.all_objects.count() == 1
    assert UtilityRequest.all_objects.count() == 5


def test_utility_companies_and_surveyors_cannot_apply(world, api_client):
    for user in (world.company_users["water"], world.surveyor):
        world.case.assigned_organizations.add(user.organization)
        api_client.force_authenticate(user)
        response = api_client.post(URL, application_body(world), format="json")
        assert response.status_code == 403, user
        assert response.json()["code"] == "permission_denied"
    assert UtilityApplication.all_objects.count() == 0


def test_an_invisible_case_reads_as_unknown(world, api_client):
    api_client.force_authenticate(world.outside_official)
    response = api_client.post(URL, application_body(world), format="json")
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["case", "site"]
    assert UtilityApplication.all_objects.count() == 0


def test_utility_companies_do_not_see_applications(world, api_client):
    api_client.force_authenticate(world.builder)
    application_id = api_client.post(URL, application_body(world), format="json").json()["id"]
    api_client.force_authenticate(world.company_users["water"])
    assert api_client.get(URL).json()["count"] == 0
    assert api_client.get(f"{URL}{application_id}/").status_code == 404
    api_client.force_authenticate(world.official)
    assert api_client.get(URL).json()["count"] == 1
    assert api_client.get(f"{URL}{application_id}/").status_code == 200
