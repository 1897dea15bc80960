import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from backend.acceptance.services import inspection_create
from backend.acceptance.tests.factories import departments_for, make_inspection
from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.visits.models import VehiclePosition, Visit
from backend.visits.tests.factories import SHANGHAI, VehicleFactory, key_project_case, make_visit, team_user

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _positions(count: int, *, start: int = 0) -> list[dict]:
    return [
        {
            "recorded_at": (T0 + dt.timedelta(seconds=5 * i)).isoformat(),
            "lon": 120.17 + 0.0002 * i,
            "lat": 35.96 - 0.0001 * i,
            "speed": 10.0,
        }
        for i in range(start, start + count)
    ]


def test_book_with_client_id_replays_and_conflicts():
    vehicle = VehicleFactory()
    case = key_project_case()
    case.assigned_organizations.add(vehicle.team)
    client = _client(team_user(vehicle))
    record_id = str(uuid.uuid4())
    body = {
        "id": record_id,
        "case": str(case.pk),
        "vehicle": str(vehicle.pk),
        "scheduled_for": "2026-03-10T09:00:00+08:00",
        "booked_via": "wechat",
        "purpose": ["intake", "approval"],
        "team": {"lead": "李班长", "agents": ["王代办"], "approvers": ["赵审批"]},
    }

    first = client.post("/api/v1/visits/", body, format="json")
    again = client.post("/api/v1/visits/", body, format="json")
    other = client.post("/api/v1/visits/", {**body, "booked_via": "phone"}, format="json")

    assert first.status_code == 201
    assert (first.json()["status"], first.json()["purpose"], first.json()["version"]) == (
        "booked",
        ["intake", "approval"],
        1,
    )
    assert again.status_code == 200
    assert again.json() == first.json()
    assert (other.status_code, other.json()["code"]) == (409, "id_conflict")
    assert Visit.objects.count() == 1


def test_another_teams_vehicle_does_not_exist_for_a_team():
    vehicle, foreign = VehicleFactory(), VehicleFactory()
    case = key_project_case()
    case.assigned_organizations.add(vehicle.team)

    response = _client(team_user(vehicle)).post(
        "/api/v1/visits/",
        {
            "case": str(case.pk),
            "vehicle": str(foreign.pk),
            "scheduled_for": "2026-03-10T09:00:00+08:00",
            "booked_via": "phone",
            "purpose": ["survey"],
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["vehicle"]
    assert Visit.all_objects.count() == 0


def test_transitions_over_http_and_illegal_ones():
    visit = make_visit()
    client = _client(team_user(visit.vehicle))
    url = f"/api/v1/visits/{visit.pk}/"

    illegal = client.post(f"{url}complete/")
    assert (illegal.status_code, illegal.json()["code"]) == (409, "illegal_transition")
    stale = client.post(f"{url}depart/", HTTP_IF_MATCH='"9"')
    assert (stale.status_code, stale.json()["code"]) == (412, "version_mismatch")
    departed = client.post(f"{url}depart/", HTTP_IDEMPOTENCY_KEY="dep-1")
    replay = client.post(f"{url}depart/", HTTP_IDEMPOTENCY_KEY="dep-1")
    assert departed.status_code == 200
    assert replay.json() == departed.json()
    assert departed.json()["status"] == "en_route"
    assert client.post(f"{url}arrive/").json()["status"] == "on_site"
    cancel = client.post(f"{url}cancel/", {"reason": "x"}, format="json")
    assert (cancel.status_code, cancel.json()["code"]) == (409, "illegal_transition")
    done = client.post(f"{url}complete/")
    assert (done.json()["status"], done.json()["version"]) == ("completed", 4)


def test_patch_needs_if_match_and_status_is_read_only():
    visit = make_visit()
    client = _client(team_user(visit.vehicle))
    url = f"/api/v1/visits/{visit.pk}/"

    missing = client.patch(url, {"remarks": "x"}, format="json")
    stale = client.patch(url, {"remarks": "x"}, format="json", HTTP_IF_MATCH='"2"')
    ok = client.patch(url, {"remarks": "带高拍仪", "status": "completed"}, format="json", HTTP_IF_MATCH='"1"')

    assert (missing.status_code, stale.status_code, ok.status_code) == (428, 412, 200)
    assert (ok.json()["remarks"], ok.json()["status"], ok.json()["version"]) == ("带高拍仪", "booked", 2)


def test_track_post_batch_with_duplicates_and_get_linestring():
    vehicle = VehicleFactory()
    client = _client(team_user(vehicle))
    url = f"/api/v1/vehicles/{vehicle.pk}/track/"

    first = client.post(url, {"positions": _positions(6)}, format="json")
    resent = client.post(url, {"positions": _positions(8)}, format="json")
    track = client.get(url, {"from": "2026-03-10T09:00:05+08:00", "to": "2026-03-10T09:00:30+08:00"})

    assert first.json() == {"received": 6, "accepted": 6, "duplicates": 0}
    assert resent.json() == {"received": 8, "accepted": 2, "duplicates": 6}
    assert VehiclePosition.objects.filter(vehicle=vehicle).count() == 8
    assert track.status_code == 200
    body = track.json()
    assert body["geometry"]["type"] == "LineString"
    assert body["geometry"]["coordinates"] == [[round(p["lon"], 7), round(p["lat"], 7)] for p in _positions(6, start=1)]
    assert body["properties"]["point_count"] == 6


def test_track_range_is_required_bounded_and_parsed():
    vehicle = VehicleFactory()
    client = _client(team_user(vehicle))
    url = f"/api/v1/vehicles/{vehicle.pk}/track/"

    missing = client.get(url)
    too_long = client.get(url, {"from": "2026-03-01T00:00:00+08:00", "to": "2026-03-09T00:00:00+08:00"})
    naive = client.get(url, {"from": "2026-03-01T00:00:00", "to": "2026-03-02T00:00:00+08:00"})
    unencoded = client.get(f"{url}?from=2026-03-10T09:00:00+08:00&to=2026-03-10T10:00:00+08:00")

    assert (missing.status_code, missing.json()["code"]) == (400, "range_required")
    assert (too_long.status_code, too_long.json()["code"]) == (400, "range_too_long")
    assert (naive.status_code, list(naive.json()["errors"])) == (400, ["from"])
    assert unencoded.status_code == 200
    assert unencoded.json()["properties"]["from"] == "2026-03-10T09:00:00+08:00"


def test_track_batch_limits_over_http():
    vehicle = VehicleFactory()
    client = _client(team_user(vehicle))
    url = f"/api/v1/vehicles/{vehicle.pk}/track/"

    empty = client.post(url, {"positions": []}, format="json")
    not_a_list = client.post(url, {"positions": "x"}, format="json")
    too_many = client.post(url, {"positions": _positions(10_001)}, format="json")

    assert (empty.status_code, not_a_list.status_code) == (400, 400)
    assert (too_many.status_code, too_many.json()["code"]) == (413, "batch_too_large")
    assert VehiclePosition.objects.count() == 0


def test_vehicle_visibility_and_who_posts_tracks():
    vehicle = VehicleFactory()
    other_team = user_of_kind(OrganizationKind.VEHICLE_TEAM, roles=[Role.VEHICLE_LEAD])
    official = UserFactory()
    url = f"/api/v1/vehicles/{vehicle.pk}/track/"

    assert [v["id"] for v in _client(team_user(vehicle)).get("/api/v1/vehicles/").json()["results"]] == [
        str(vehicle.pk)
    ]
    assert _client(other_team).get("/api/v1/vehicles/").json()["count"] == 0
    assert _client(other_team).post(url, {"positions": _positions(1)}, format="json").status_code == 404
    assert _client(official).get(f"/api/v1/vehicles/{vehicle.pk}/").status_code == 200
    assert _client(official).post(url, {"positions": _positions(1)}, format="json").status_code == 403
    assert VehiclePosition.objects.count() == 0


def test_records_made_during_the_visit():
    visit = make_visit()
    lead = team_user(visit.vehicle)
    client = _client(lead)
    before, _ = make_inspection(case=visit.case, stage=1)
    client.post(f"/api/v1/visits/{visit.pk}/arrive/")
    # A member of the vehicle team's organisation records during the visit (an administrator
    # here, because vehicle teams do not schedule inspections themselves).
    admin_in_team = UserFactory(organization=visit.vehicle.team, is_superuser=True)
    during, _ = inspection_create(
        by=admin_in_team,
        case=visit.case,
        stage=2,
        departments={code: org.pk for code, org in departments_for(2).items()},
    )
    client.post(f"/api/v1/visits/{visit.pk}/complete/")

    response = _client(admin_in_team).get(f"/api/v1/visits/{visit.pk}/records/")

    assert response.status_code == 200
    types = [(row["type"], row["id"]) for row in response.json()["results"]]
    assert ("inspection", str(during.pk)) in types
    assert ("inspection", str(before.pk)) not in types
    assert response.json()["count"] == 4  # the inspection and its three items


def test_visit_scoping():
    visit = make_visit()
    utility = user_of_kind(OrganizationKind.UTILITY_COMPANY, roles=[Role.UTILITY_STAFF])
    visit.case.assigned_organizations.add(utility.organization)
    other_team = user_of_kind(OrganizationKind.VEHICLE_TEAM, roles=[Role.VEHICLE_LEAD])
    crew = user_of_kind(OrganizationKind.SURVEY_CREW)
    far_official = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370102")
    url = f"/api/v1/visits/{visit.pk}/"

    unexpected = []
    for user in (utility, other_team, crew, far_official):
        client = _client(user)
        if client.get("/api/v1/visits/").json()["count"] != 0:
            unexpected.append((user.organization.kind, "list"))
        for method, path, body in [
            ("get", url, None),
            ("patch", url, {"remarks": "x"}),
            ("delete", url, None),
            ("post", f"{url}depart/", {}),
            ("post", f"{url}cancel/", {}),
            ("get", f"{url}records/", None),
            ("get", f"{url}track/", None),
            ("get", f"/api/v1/vehicles/{visit.vehicle_id}/", None),
            ("post", f"/api/v1/vehicles/{visit.vehicle_id}/track/", {"positions": _positions(1)}),
        ]:
            response = getattr(client, method)(path, body, format="json", HTTP_IF_MATCH='"1"')
            if 200 <= response.status_code < 300:
                unexpected.append((user.organization.kind, method, path, response.status_code))

    assert unexpected == []
    visit.refresh_from_db()
    assert (visit.status, visit.version, visit.remarks) == ("booked", 1, "")
    assert VehiclePosition.objects.count() == 0
    assert _client(team_user(visit.vehicle)).get("/api/v1/visits/").json()["count"] == 1
    assert _client(UserFactory()).get("/api/v1/visits/").json()["count"] == 1


def test_the_visit_track_covers_departure_to_completion():
    visit = make_visit()
    client = _client(team_user(visit.vehicle))
    url = f"/api/v1/visits/{visit.pk}/"
    client.post(f"/api/v1/vehicles/{visit.vehicle_id}/track/", {"positions": _positions(20)}, format="json")

    not_started = client.get(f"{url}track/")
    client.post(f"{url}depart/", {"at": "2026-03-10T09:00:10+08:00"}, format="json")
    client.post(f"{url}arrive/", {"at": "2026-03-10T09:00:40+08:00"}, format="json")
    client.post(f"{url}complete/", {"at": "2026-03-10T09:01:00+08:00"}, format="json")
    track = client.get(f"{url}track/")

    assert (not_started.status_code, not_started.json()["code"]) == (409, "visit_not_started")
    assert track.status_code == 200
    assert track.json()["properties"]["point_count"] == 11  # 09:00:10 … 09:01:00 every 5 s
    assert track.json()["geometry"]["coordinates"][0] == [round(120.17 + 0.0002 * 2, 7), round(35.96 - 0.0001 * 2, 7)]
