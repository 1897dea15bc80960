import pytest

from backend.accounts.models import Organization, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

ORGS_URL = "/api/v1/orgs/"
VALID_CREDIT_CODE = "91350100M000100Y43"


@pytest.fixture
def admin(api_client):
    user = UserFactory(roles=[Role.ADMINISTRATOR])
    api_client.force_authenticate(user)
    return user


@pytest.fixture
def surveyor(api_client):
    user = UserFactory(roles=[Role.SURVEYOR])
    api_client.force_authenticate(user)
    return user


def test_any_signed_in_user_lists_and_reads_organisations(api_client, surveyor):
    other = OrganizationFactory(name="青岛海润自来水", kind="utility_company", utility_types=["water"])
    response = api_client.get(ORGS_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["next"] is None
    assert [o["name"] for o in body["results"]] == sorted([other.name, surveyor.organization.name])
    detail = api_client.get(f"{ORGS_URL}{other.pk}/").json()
    assert {k: detail[k] for k in ("id", "name", "kind", "utility_types", "region", "credit_code")} == {
        "id": str(other.pk),
        "name": "青岛海润自来水",
        "kind": "utility_company",
        "utility_types": ["water"],
        "region": "370211",
        "credit_code": "",
    }


def test_organisations_filter_by_kind(api_client, surveyor):
    OrganizationFactory(name="燃气公司", kind="utility_company", utility_types=["gas"])
    body = api_client.get(ORGS_URL, {"kind": "utility_company"}).json()
    assert [o["name"] for o in body["results"]] == ["燃气公司"]


def test_anonymous_cannot_list_organisations(api_client):
    response = api_client.get(ORGS_URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_non_administrator_cannot_create_change_or_delete_an_organisation(api_client, surveyor):
    before = Organization.objects.count()
    response = api_client.post(ORGS_URL, {"name": "新单位", "kind": "builder"}, format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"
    assert Organization.objects.count() == before
    org = surveyor.organization
    assert api_client.patch(f"{ORGS_URL}{org.pk}/", {"name": "改名"}, format="json").status_code == 403
    assert api_client.delete(f"{ORGS_URL}{org.pk}/").status_code == 403
    org.refresh_from_db()
    assert org.name != "改名"


def test_administrator_creates_a_utility_company(api_client, admin):
    response = api_client.post(
        ORGS_URL,
        {"name": "国网供电", "kind": "utility_company", "utility_types": ["power", "power"], "region": "3702"},
        format="json",
    )
    assert response.status_code == 201
    org = Organization.objects.get(name="国网供电")
    assert org.utility_types == ["power"]
    assert org.region == "3702"
    assert response.json()["id"] == str(org.pk)


def test_superuser_is_an_administrator(api_client):
    api_client.force_authenticate(UserFactory(roles=[], is_superuser=True))
    response = api_client.post(
        ORGS_URL, {"name": "建设单位甲", "kind": "builder", "credit_code": VALID_CREDIT_CODE}, format="json"
    )
    assert response.status_code == 201
    assert Organization.objects.get(name="建设单位甲").credit_code == VALID_CREDIT_CODE


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"name": "水司", "kind": "utility_company"},
            {"utility_types": ["A utility company needs at least one utility type."]},
        ),
        (
            {"name": "审批局", "kind": "approval_department", "utility_types": ["water"]},
            {"utility_types": ["Only utility companies have utility types."]},
        ),
        (
            {"name": "审批局", "kind": "approval_department", "region": "37021"},
            {"region": ["Region is an administrative division code: 2, 4 or 6 digits."]},
        ),
        (
            {"name": "建设单位", "kind": "builder", "credit_code": "91350100M000100Y44"},
            {"credit_code": ["Not a valid unified social credit code (18 characters, GB 32100 check character)."]},
        ),
    ],
)
def test_invalid_organisation_is_400_and_saves_nothing(api_client, admin, payload, errors):
    before = Organization.objects.count()
    response = api_client.post(ORGS_URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == errors
    assert Organization.objects.count() == before


def test_unknown_kind_and_utility_type_are_field_errors(api_client, admin):
    response = api_client.post(ORGS_URL, {"name": "x", "kind": "bank", "utility_types": ["oil"]}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"kind", "utility_types.0"}


def test_duplicate_name_is_400(api_client, admin):
    OrganizationFactory(name="重名单位")
    response = api_client.post(ORGS_URL, {"name": "重名单位", "kind": "builder"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["An organisation with this name exists."]}
    assert Organization.objects.filter(name="重名单位").count() == 1


def test_administrator_updates_an_organisation(api_client, admin):
    org = OrganizationFactory(name="燃气", kind="utility_company", utility_types=["gas"])
    response = api_client.patch(f"{ORGS_URL}{org.pk}/", {"utility_types": ["gas", "heating"]}, format="json")
    assert response.status_code == 200
    org.refresh_from_db()
    assert org.utility_types == ["gas", "heating"]
    # Changing the kind away from utility company while it still has types is refused.
    response = api_client.patch(f"{ORGS_URL}{org.pk}/", {"kind": "builder"}, format="json")
    assert response.status_code == 400
    org.refresh_from_db()
    assert org.kind == "utility_company"


def test_administrator_deletes_an_unused_organisation(api_client, admin):
    org = OrganizationFactory()
    assert api_client.delete(f"{ORGS_URL}{org.pk}/").status_code == 204
    assert not Organization.objects.filter(pk=org.pk).exists()


def test_organisation_with_users_is_409_in_use(api_client, admin):
    response = api_client.delete(f"{ORGS_URL}{admin.organization_id}/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "in_use"
    assert body["references"] == {"accounts.user": 1}
    assert Organization.objects.filter(pk=admin.organization_id).exists()
