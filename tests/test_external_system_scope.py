"""An external system sees the cases of its region and the cases it created, nothing else: over
REST (cases, projects, records, photo originals with their GPS) and over sync pull.

The world is the demo dataset (region 370211). The demo's provincial approval system has region 37.
"""

import uuid

import pytest
from django.contrib.gis.geos import Polygon
from rest_framework.test import APIClient

from backend.accounts.models import CaseOrigin, Organization, OrganizationKind, Role, User
from backend.accounts.tests.factories import user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.models import ApprovalCase, Project
from backend.evidence.models import Photo
from backend.records.registry import RECORD_TYPES
from backend.sites.services import site_create
from mobile_api.cases.tests.factories import upsert_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(demo_rows):
    """The demo world in this test's transaction, built once per session (tests/demo_world_plugin.py)."""


def _client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _body(code: str, **changes) -> dict:
    builder = {"credit_code": "91370211MA3C8H4K1P", "name": "外部系统测试建设单位"}
    return upsert_body(project={**upsert_body()["project"], "code": code, "builder": builder}, items=[], **changes)


def _system(region: str) -> User:
    return user_of_kind(OrganizationKind.EXTERNAL_SYSTEM, roles=[Role.INTEGRATION], region=region)


def _pulled(client: APIClient) -> dict[str, set[str]]:
    """type → ids of everything a full sync pull returns."""
    seen: dict[str, set[str]] = {}
    cursor = ""
    while True:
        response = client.get("/api/v1/sync/pull", {"cursor": cursor, "limit": 1000})
        assert response.status_code == 200, response.content
        page = response.json()
        for change in page["changes"]:
            seen.setdefault(change["type"], set()).add(change["id"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return seen


def _listed(client: APIClient, path: str) -> set[str]:
    response = client.get(f"/api/v1/{path}/?limit=1000")
    assert response.status_code == 200, (path, response.content)
    return {row["id"] for row in response.json()["results"]}


def test_the_demo_approval_system_sees_its_province_only(demo):
    system = User.objects.get(username="approval_system")
    assert system.organization.region == "37"
    client = _client(system)
    demo_cases = {str(pk) for pk in ApprovalCase.objects.values_list("pk", flat=True)}
    assert _listed(client, "cases") == demo_cases
    # A case in Beijing (110105) is not the province's.
    created = _client(User.objects.get(username="admin")).put(
        "/api/v1/cases/by-external/GG-110105-0001",
        _body("2404-110105-04-01-000001"),
        format="json",
    )
    assert created.status_code == 201, created.content
    assert client.get(f"/api/v1/cases/{created.json()['id']}/").status_code == 404
    assert _listed(client, "cases") == demo_cases


@pytest.mark.parametrize("region", ["370100", ""])
def test_an_external_system_of_another_region_or_none_reads_and_changes_nothing_of_the_demo(demo, region):
    client = _client(_system(region))
    cases = list(ApprovalCase.objects.select_related("project"))
    photo = Photo.objects.exclude(location=None).first()
    assert photo is not None  # the demo has geotagged photos
    audit_before = AuditEntry.objects.count()
    project_names = dict(Project.objects.values_list("pk", "name"))

    assert _listed(client, "cases") == set()
    assert _listed(client, "projects") == set()
    for case in cases:
        assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 404
        assert (
            client.patch(f"/api/v1/cases/{case.pk}/", {"standard_days_override": 9}, format="json").status_code == 404
        )
        assert client.get(f"/api/v1/cases/{case.pk}/items/").status_code == 404
        assert client.get(f"/api/v1/cases/{case.pk}/timeline/").status_code == 404
        assert client.patch(f"/api/v1/projects/{case.project_id}/", {"name": "改"}, format="json").status_code == 404
        # The upsert of an existing case it may not see reads as a missing case, and writes nothing.
        body = _body(case.project.code)
        upsert = client.put(f"/api/v1/cases/by-external/{case.external_no}", body, format="json")
        assert upsert.status_code == (404 if region == "" else 403), upsert.content
    for name, record_type in RECORD_TYPES.items():
        prefix = name.replace("_", "-") + "s"
        if record_type.model.objects.exists():
            assert _listed(client, prefix) == set(), name
    assert client.get(f"/api/v1/photos/{photo.pk}/").status_code == 404
    assert client.get(f"/api/v1/photos/{photo.pk}/original/").status_code == 404
    assert _pulled(client) == {}

    assert AuditEntry.objects.count() == audit_before
    assert dict(Project.objects.values_list("pk", "name")) == project_names
    assert ApprovalCase.objects.filter(standard_days_override=9).count() == 0


def test_a_system_without_region_sees_and_changes_the_cases_it_created_and_no_one_elses(demo):
    system, other = _system(""), _system("")
    client = _client(system)
    body = _body("2404-370211-04-01-999001")

    created = client.put("/api/v1/cases/by-external/GG-OWN-0001", body, format="json")

    assert created.status_code == 201, created.content
    case = ApprovalCase.objects.get(external_no="GG-OWN-0001")
    assert CaseOrigin.objects.get(case=case).organization == system.organization
    assert _listed(client, "cases") == {str(case.pk)}
    assert _listed(client, "projects") == {str(case.project_id)}
    assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 200
    again = client.put("/api/v1/cases/by-external/GG-OWN-0001", {**body, "status": 3}, format="json")
    assert again.status_code == 200, again.content
    assert ApprovalCase.objects.get(pk=case.pk).status == 3
    # Records on its case reach it by sync pull too; the demo's never do.
    boundary = Polygon(((120.17, 35.96), (120.18, 35.96), (120.18, 35.97), (120.17, 35.96)), srid=4326)
    site, _ = site_create(by=None, project=case.project, case=case, name="自建案件地块", boundary=boundary)
    assert _pulled(client) == {"site": {str(site.pk)}}

    # Another system without region: not its case.
    other_client = _client(other)
    assert other_client.get(f"/api/v1/cases/{case.pk}/").status_code == 404
    stolen = other_client.put("/api/v1/cases/by-external/GG-OWN-0001", {**body, "status": 4}, format="json")
    assert stolen.status_code == 404
    assert ApprovalCase.objects.get(pk=case.pk).status == 3
    assert _pulled(other_client) == {}


def test_a_system_without_region_may_not_attach_a_case_to_someone_elses_project(demo):
    client = _client(_system(""))
    project = Project.objects.first()
    body = _body(project.code)
    body["project"]["name"] = "改名"

    response = client.put("/api/v1/cases/by-external/GG-OWN-0002", body, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "outside_jurisdiction"
    assert not ApprovalCase.objects.filter(external_no="GG-OWN-0002").exists()
    assert Project.objects.get(pk=project.pk).name == project.name
    assert CaseOrigin.objects.count() == 0
    assert Organization.objects.filter(kind=OrganizationKind.EXTERNAL_SYSTEM, created_cases__isnull=False).count() == 0


def test_a_system_with_a_region_also_keeps_the_cases_it_created_elsewhere(demo):
    system = _system("370211")
    client = _client(system)
    body = _body("2404-370211-04-01-999002")
    case_id = client.put("/api/v1/cases/by-external/GG-OWN-0003", body, format="json").json()["id"]
    # Its region changes (a reorganisation): what it created stays visible, the old region does not.
    Organization.objects.filter(pk=system.organization_id).update(region="370100")
    system.refresh_from_db()

    assert _listed(_client(system), "cases") == {case_id}
    demo_case = ApprovalCase.objects.exclude(pk=case_id).first()
    assert _client(system).get(f"/api/v1/cases/{demo_case.pk}/").status_code == 404
    assert uuid.UUID(case_id) == CaseOrigin.objects.get().case_id
