import json
import math

import pytest

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.common.geometry import wgs84_to_gcj02
from backend.sites.models import Site
from backend.sites.tests.factories import DEMO_RING, SiteFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/sites/"
RING = [list(p) for p in DEMO_RING]


def official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211")


def post(client, body, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", headers=headers)


def assert_refused(response, code="invalid_geometry"):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert Site.all_objects.count() == 0
    assert AuditEntry.objects.filter(record_type="site").count() == 0


@pytest.fixture
def client_and_case(api_client):
    user = official()
    api_client.force_authenticate(user)
    return api_client, ApprovalCaseFactory()


def test_create_returns_the_site_with_area_and_etag(client_and_case):
    client, case = client_and_case
    response = post(
        client, {"case": str(case.pk), "name": "一号地块", "boundary": {"type": "Polygon", "coordinates": [RING]}}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["project"] == str(case.project_id)
    assert body["case"] == str(case.pk)
    assert body["boundary"] == {"type": "Polygon", "coordinates": [RING]}
    assert 30_000 < body["area_m2"] < 32_000
    assert body["version"] == 1
    assert response["ETag"] == '"1"'


def test_bowtie_is_400_and_nothing_is_written(client_and_case):
    client, case = client_and_case
    bowtie = [[120.17, 35.96], [120.18, 35.97], [120.18, 35.96], [120.17, 35.97], [120.17, 35.96]]
    response = post(
        client, {"case": str(case.pk), "name": "x", "boundary": {"type": "Polygon", "coordinates": [bowtie]}}
    )
    assert_refused(response)
    assert response.json()["errors"] == {"boundary": ["invalid geometry: self-intersection at (120.175 35.965)."]}


def test_unclosed_ring_is_400_and_nothing_is_written(client_and_case):
    client, case = client_and_case
    response = post(
        client, {"case": str(case.pk), "name": "x", "boundary": {"type": "Polygon", "coordinates": [RING[:-1]]}}
    )
    assert_refused(response)
    assert response.json()["errors"]["boundary"] == [
        "ring 0 is not closed: it starts at (120.17 35.96) but ends at (120.17 35.9614)."
    ]


def test_out_of_range_latitude_is_400_and_nothing_is_written(client_and_case):
    client, case = client_and_case
    ring = [[120.17, 35.96], [120.18, 95.0], [120.18, 35.96], [120.17, 35.96]]
    response = post(client, {"case": str(case.pk), "name": "x", "boundary": {"type": "Polygon", "coordinates": [ring]}})
    assert_refused(response)
    assert response.json()["errors"]["boundary"] == ["latitude 95.0 at coordinates[0][1] is outside -90..90."]


def test_out_of_range_longitude_is_400_and_nothing_is_written(client_and_case):
    client, case = client_and_case
    ring = [[179.9, 35.96], [180.5, 35.96], [180.5, 35.97], [179.9, 35.96]]
    response = post(client, {"case": str(case.pk), "name": "x", "boundary": {"type": "Polygon", "coordinates": [ring]}})
    assert_refused(response)


def test_100001_vertices_is_400_and_nothing_is_written(client_and_case):
    client, case = client_and_case
    n = 100_000
    ring = [
        [
            round(120.17 + 0.01 * math.cos(2 * math.pi * i / n), 7),
            round(35.96 + 0.01 * math.sin(2 * math.pi * i / n), 7),
        ]
        for i in range(n)
    ]
    ring.append(ring[0])
    response = post(client, {"case": str(case.pk), "name": "x", "boundary": {"type": "Polygon", "coordinates": [ring]}})
    assert_refused(response)
    assert response.json()["errors"]["boundary"] == ["geometry has more than 100000 vertices."]


def test_point_is_not_a_red_line(client_and_case):
    client, case = client_and_case
    response = post(
        client, {"case": str(case.pk), "name": "x", "boundary": {"type": "Point", "coordinates": [120.17, 35.96]}}
    )
    assert_refused(response)


def test_unknown_coord_system_is_400(client_and_case):
    client, case = client_and_case
    body = {"case": str(case.pk), "name": "x", "boundary": {"type": "Polygon", "coordinates": [RING]}}
    assert_refused(post(client, body, **{"X-Coord-System": "bd09"}), code="invalid_coord_system")


def test_site_sent_in_gcj02_is_stored_shifted_back_to_wgs84(client_and_case):
    client, case = client_and_case
    gcj_ring = [list(wgs84_to_gcj02(*p)) for p in DEMO_RING]
    # The offset here is several hundred metres: storing it unconverted would be far off.
    assert abs(gcj_ring[0][0] - RING[0][0]) > 0.004
    body = {"case": str(case.pk), "name": "高德地块", "boundary": {"type": "Polygon", "coordinates": [gcj_ring]}}
    response = post(client, body, **{"X-Coord-System": "gcj02"})
    assert response.status_code == 201, response.content
    stored = Site.objects.get().boundary.coords[0]
    for (lon, lat), (want_lon, want_lat) in zip(stored, DEMO_RING, strict=True):
        assert abs(lon - want_lon) < 1e-7
        assert abs(lat - want_lat) < 1e-7
    returned = response.json()["boundary"]["coordinates"][0]
    assert returned == [list(p) for p in stored]


def test_case_of_another_project_is_400(client_and_case):
    client, case = client_and_case
    other = ProjectFactory()
    body = {
        "project": str(other.pk),
        "case": str(case.pk),
        "name": "x",
        "boundary": {"type": "Polygon", "coordinates": [RING]},
    }
    response = post(client, body)
    assert_refused(response, code="case_project_mismatch")


def test_user_who_cannot_see_the_case_gets_404_on_the_site(api_client):
    site = SiteFactory()
    crew = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    api_client.force_authenticate(crew)
    assert api_client.get(f"{URL}{site.pk}/").status_code == 404
    assert (
        api_client.patch(f"{URL}{site.pk}/", {"name": "y"}, format="json", headers={"If-Match": '"1"'}).status_code
        == 404
    )
    assert api_client.delete(f"{URL}{site.pk}/").status_code == 404
    assert api_client.get(URL).json()["count"] == 0
    site.refresh_from_db()
    assert (site.version, site.deleted_at) == (1, None)


def test_assigned_crew_sees_and_edits_the_site(api_client):
    site = SiteFactory()
    crew = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    site.case.assigned_organizations.add(crew.organization)
    api_client.force_authenticate(crew)
    response = api_client.get(f"{URL}{site.pk}/")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    response = api_client.patch(f"{URL}{site.pk}/", {"name": "改名"}, format="json", headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["version"]) == ("改名", 2)


def test_stale_if_match_is_412_with_the_current_record(api_client):
    site = SiteFactory()
    api_client.force_authenticate(official())
    response = api_client.patch(f"{URL}{site.pk}/", {"name": "y"}, format="json", headers={"If-Match": '"7"'})
    assert response.status_code == 412
    assert response.json()["code"] == "version_mismatch"
    assert response.json()["current"]["name"] == site.name
    site.refresh_from_db()
    assert site.version == 1


def test_builder_reads_but_cannot_write(api_client):
    builder = user_of_kind(OrganizationKind.BUILDER, roles=[Role.BUILDER_REPRESENTATIVE])
    case = ApprovalCaseFactory(project=ProjectFactory(builder=builder.organization))
    site = SiteFactory(case=case)
    api_client.force_authenticate(builder)
    assert api_client.get(f"{URL}{site.pk}/").status_code == 200
    response = api_client.patch(f"{URL}{site.pk}/", {"name": "y"}, format="json", headers={"If-Match": '"1"'})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    response = post(
        api_client, {"case": str(case.pk), "name": "x", "boundary": {"type": "Polygon", "coordinates": [RING]}}
    )
    assert response.status_code == 403
    site.refresh_from_db()
    assert (site.name, site.version, Site.all_objects.count()) == (site.name, 1, 1)


def test_filters_by_case_project_and_bbox(api_client):
    api_client.force_authenticate(official())
    here = SiteFactory()
    far_ring = tuple((x + 1.0, y) for x, y in DEMO_RING)
    from django.contrib.gis.geos import Polygon

    far = SiteFactory(boundary=Polygon(far_ring, srid=4326))
    assert [s["id"] for s in api_client.get(URL, {"case": str(here.case_id)}).json()["results"]] == [str(here.pk)]
    assert [s["id"] for s in api_client.get(URL, {"project": str(far.project_id)}).json()["results"]] == [str(far.pk)]
    inside = api_client.get(URL, {"in_bbox": "120.16,35.95,120.20,35.98"}).json()
    assert [s["id"] for s in inside["results"]] == [str(here.pk)]
    assert inside["count"] == 1


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "nan,0,1,1", "120.2,35.95,120.16,35.98", "0,-91,1,1"])
def test_malformed_bbox_is_400(api_client, bbox):
    api_client.force_authenticate(official())
    response = api_client.get(URL, {"in_bbox": bbox})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_client_id_replay_returns_200_and_other_content_409(client_and_case):
    client, case = client_and_case
    body = {
        "id": "0b7c2a1e-8d7f-4c55-9a51-2f0f1e9b6c11",
        "case": str(case.pk),
        "name": "x",
        "boundary": {"type": "Polygon", "coordinates": [RING]},
    }
    assert post(client, body).status_code == 201
    assert post(client, body).status_code == 200
    response = post(client, {**body, "name": "other"})
    assert response.status_code == 409
    assert response.json()["code"] == "id_conflict"
    assert Site.all_objects.count() == 1


def test_delete_by_official_leaves_a_tombstone(client_and_case):
    client, case = client_and_case
    site = SiteFactory(case=case)
    assert client.delete(f"{URL}{site.pk}/").status_code == 204
    assert client.get(f"{URL}{site.pk}/").status_code == 404
    assert Site.all_objects.get(pk=site.pk).version == 2


def test_site_pushed_by_sync_in_gcj02_is_applied_through_the_same_rules(client_and_case):
    client, case = client_and_case
    gcj_ring = [list(wgs84_to_gcj02(*p)) for p in DEMO_RING]
    site_id = "5a0c7d7e-0d5e-4c1b-8f1e-3b2a9c8d7e6f"
    operation = {
        "op_id": "1d8f6a3b-2c4e-4f5a-9b7c-8d9e0f1a2b3c",
        "type": "site",
        "action": "upsert",
        "id": site_id,
        "base_version": None,
        "data": {"case": str(case.pk), "name": "离线地块", "boundary": {"type": "Polygon", "coordinates": [gcj_ring]}},
    }
    bad = {
        **operation,
        "op_id": "2e9a7b4c-3d5f-4a6b-8c9d-0e1f2a3b4c5d",
        "id": "6b1d8e8f-1e6f-4d2c-9a2f-4c3b0d9e8f70",
        "data": {**operation["data"], "boundary": {"type": "Polygon", "coordinates": [gcj_ring[:-1]]}},
    }
    response = client.post(
        "/api/v1/sync/push",
        data=json.dumps({"device_id": "tablet-1", "operations": [operation, bad]}),
        content_type="application/json",
        headers={"X-Coord-System": "gcj02"},
    )
    assert response.status_code == 200, response.content
    receipts = response.json()["receipts"]
    assert [r["status"] for r in receipts] == ["applied", "rejected"]
    site = Site.objects.get()
    assert str(site.pk) == site_id
    assert abs(site.boundary.coords[0][0][0] - DEMO_RING[0][0]) < 1e-7
