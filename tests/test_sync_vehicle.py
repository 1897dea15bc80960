"""The service vehicle's day on the sync protocol: book a visit, send the track, scan materials."""

import json
import time
import uuid

import pytest

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import PASSWORD, OrganizationFactory, UserFactory
from backend.cases.materials import MaterialScan
from backend.cases.models import Material, Priority
from backend.cases.tests.factories import ApprovalCaseFactory, ApprovalItemFactory, ProjectFactory
from backend.visits.models import VehiclePosition, Visit
from backend.visits.tests.factories import VehicleFactory
from field_client import SyncClient, file_sha256
from tests.server_process import ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(log_path=tmp_path / "server.log").start()
    yield process
    process.kill()


def test_vehicle_visit_track_and_scanned_materials_through_push(tmp_path, server):
    team = OrganizationFactory(kind=OrganizationKind.VEHICLE_TEAM)
    agent = UserFactory(username="agent1", organization=team, roles=[Role.VEHICLE_AGENT])
    vehicle = VehicleFactory(team=team)
    case = ApprovalCaseFactory(project=ProjectFactory(priority=Priority.CITY))
    case.assigned_organizations.add(team)  # the back office sent the vehicle to this case
    item = ApprovalItemFactory(case=case)
    material = Material.objects.create(item=item, name="建设工程规划许可证申请表")
    client = SyncClient(
        tmp_path / "vehicle.sqlite3", server=server.url, progress=lambda t: None, sleep=lambda s: time.sleep(0.1)
    )
    client.login(agent.username, PASSWORD)
    scan = tmp_path / "申请表.pdf"
    scan.write_bytes(b"%PDF-1.4\n% scanned in the vehicle\n" + b"0" * 4000 + b"\n%%EOF\n")
    visit_id, scan_id = str(uuid.uuid4()), str(uuid.uuid4())

    client.queue(
        "visit",
        visit_id,
        {
            "case": str(case.pk),
            "vehicle": str(vehicle.pk),
            "scheduled_for": "2026-03-12T09:30:00+08:00",
            "booked_via": "phone",
            "purpose": ["intake"],
        },
    )
    client.queue(
        "track",
        vehicle.pk,
        {
            "positions": [
                {"recorded_at": "2026-03-12T09:00:00+08:00", "lon": 120.15, "lat": 35.95, "speed": 8.0},
                {"recorded_at": "2026-03-12T09:00:10+08:00", "lon": 120.151, "lat": 35.951, "speed": 8.5},
            ]
        },
    )
    client.queue(
        "material_scan",
        scan_id,
        {
            "case": str(case.pk),
            "item": str(item.pk),
            "material": str(material.pk),
            "sha256": file_sha256(scan),
            "content_type": "application/pdf",
            "filename": scan.name,
            "page_count": 2,
            "visit_id": visit_id,
        },
        attachments=[(scan, "scan")],
    )
    # The same positions again (a retry under a new op_id): stored once.
    client.queue(
        "track",
        vehicle.pk,
        {"positions": [{"recorded_at": "2026-03-12T09:00:10+08:00", "lon": 120.151, "lat": 35.951}]},
    )

    totals = client.push()
    assert totals == {"applied": 4}, [op["receipt"] for op in client.store.operations("rejected")]
    receipts = [json.loads(op["receipt"]) for op in client.store.operations("done")]
    assert receipts[1]["track"] == {"received": 2, "accepted": 2, "duplicates": 0}
    assert receipts[3]["track"] == {"received": 1, "accepted": 0, "duplicates": 1}
    assert receipts[2]["missing_attachments"] == [file_sha256(scan)]
    assert Visit.objects.get(pk=visit_id).vehicle_id == vehicle.pk
    assert VehiclePosition.objects.filter(vehicle=vehicle).count() == 2
    assert MaterialScan.objects.get(pk=scan_id).material_id == material.pk

    client.pull()
    assert client.store.record("material_scan", scan_id)["complete"] is False
    assert client.upload() == 1
    client.pull()

    assert client.store.record("material_scan", scan_id)["complete"] is True
    assert client.store.record("visit", visit_id)["data"]["case"] == str(case.pk)
    rest = client.request("GET", f"/api/v1/material-scans/{scan_id}/").json()
    assert (rest["complete"], rest["item"], rest["visit_id"]) == (True, str(item.pk), visit_id)
    client.close()
