import pytest

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.materials import MaterialScan
from backend.sync.models import SyncConflict
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, vehicle_user_on

pytestmark = pytest.mark.django_db


@pytest.fixture
def conflict(api_client):
    case, item, _material = case_with_item()
    device = vehicle_user_on(case)
    api_client.force_authenticate(device)
    create = scan_op(item=item)
    push(api_client, create)
    push(api_client, scan_op(item=item, record_id=create["id"], base_version=1, data={"note": "服务器"}))
    push(api_client, scan_op(item=item, record_id=create["id"], base_version=1, data={"note": "设备", "page_count": 4}))
    return SyncConflict.objects.get(), device, case


def _official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.BACK_OFFICE], region="370211")


def test_keeping_the_server_side_closes_the_conflict_without_a_change(api_client, conflict):
    open_conflict, _device, case = conflict
    api_client.force_authenticate(_official())

    listed = api_client.get("/api/v1/sync/conflicts/", {"case": str(case.pk), "status": "open"}).json()
    response = api_client.post(f"/api/v1/sync/conflicts/{open_conflict.pk}/resolve/", {"resolution": "server"})

    assert [c["id"] for c in listed["results"]] == [str(open_conflict.pk)]
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["resolved_version"]) == ("resolved", 2)
    scan = MaterialScan.objects.get(pk=open_conflict.record_id)
    assert (scan.note, scan.page_count, scan.version) == ("服务器", None, 2)
    assert AuditEntry.objects.filter(record_id=scan.pk, action="conflict_resolved").count() == 1
    assert api_client.get("/api/v1/sync/conflicts/", {"case": str(case.pk), "status": "open"}).json()["count"] == 0


def test_editing_writes_the_given_values_through_the_update_service(api_client, conflict):
    open_conflict, _device, _case = conflict
    api_client.force_authenticate(_official())

    response = api_client.post(
        f"/api/v1/sync/conflicts/{open_conflict.pk}/resolve/",
        {"resolution": "edit", "data": {"note": "双方合并后的说明"}, "note": "电话确认"},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["resolution"], response.json()["resolved_version"]) == ("edit", 3)
    scan = MaterialScan.objects.get(pk=open_conflict.record_id)
    assert (scan.note, scan.version) == ("双方合并后的说明", 3)


def test_an_invalid_edit_changes_nothing_and_leaves_the_conflict_open(api_client, conflict):
    open_conflict, _device, _case = conflict
    api_client.force_authenticate(_official())

    response = api_client.post(
        f"/api/v1/sync/conflicts/{open_conflict.pk}/resolve/",
        {"resolution": "edit", "data": {"page_count": -1}},
        format="json",
    )

    assert response.status_code == 400
    open_conflict.refresh_from_db()
    assert open_conflict.status == "open"
    assert MaterialScan.objects.get(pk=open_conflict.record_id).version == 2
    assert not AuditEntry.objects.filter(action="conflict_resolved").exists()


def test_the_device_user_sees_their_conflict_but_may_not_resolve_it(api_client, conflict):
    open_conflict, device, _case = conflict
    api_client.force_authenticate(device)

    listed = api_client.get("/api/v1/sync/conflicts/").json()
    response = api_client.post(f"/api/v1/sync/conflicts/{open_conflict.pk}/resolve/", {"resolution": "client"})

    assert listed["count"] == 1
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    open_conflict.refresh_from_db()
    assert open_conflict.status == "open"


def test_an_official_of_another_region_does_not_see_the_conflict(api_client, conflict):
    open_conflict, _device, _case = conflict
    api_client.force_authenticate(
        user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.BACK_OFFICE], region="110101")
    )

    assert api_client.get("/api/v1/sync/conflicts/").json()["count"] == 0
    response = api_client.post(f"/api/v1/sync/conflicts/{open_conflict.pk}/resolve/", {"resolution": "server"})
    assert response.status_code == 404
