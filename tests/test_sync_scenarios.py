"""Sync scenarios through a real server process and the reference client (field_client)."""

import json
import threading
import time
import uuid
from collections import Counter

import pytest

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import PASSWORD, OrganizationFactory, UserFactory, user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.surveys.models import Survey
from backend.sync.models import SyncConflict, SyncReceipt
from field_client import SyncClient
from tests.server_process import ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(tmp_path, monkeypatch):
    # Chunks of 50 (the default commits a request of 500 as one chunk): the kill then lands
    # between a push's committed chunks and its answer, which is what the scenarios are about.
    monkeypatch.setenv("SYNC_COMMIT_EVERY", "50")
    process = ServerProcess(log_path=tmp_path / "server.log").start()
    yield process
    process.kill()


@pytest.fixture
def crew_case():
    case = ApprovalCaseFactory()
    crew = OrganizationFactory(kind=OrganizationKind.SURVEY_CREW)
    case.assigned_organizations.add(crew)
    return case, crew


def _crew_member(crew, name):
    return UserFactory(username=name, organization=crew, roles=[Role.SURVEYOR])


def _client(tmp_path, server, name, **kwargs):
    kwargs.setdefault("progress", lambda text: None)
    kwargs.setdefault("sleep", lambda seconds: time.sleep(min(seconds, 0.2)))
    client = SyncClient(tmp_path / f"{name}.sqlite3", server=server.url, **kwargs)
    client.login(name, PASSWORD)
    return client


def _survey(case, n):
    return {
        "case": str(case.pk),
        "scheduled_at": "2026-03-10T09:00:00+08:00",
        "summary": f"踏勘 {n}",
        "location": {"type": "Point", "coordinates": [120.17 + n * 1e-5, 35.96]},
    }


def test_server_killed_mid_push_every_operation_is_applied_exactly_once(tmp_path, server, crew_case):
    case, crew = crew_case
    _crew_member(crew, "crew1")
    client = _client(tmp_path, server, "crew1", batch_size=500, max_attempts=40)
    count = 500
    ids = [uuid.uuid4() for _ in range(count)]
    for n, record_id in enumerate(ids):
        client.queue("survey", record_id, _survey(case, n))
    outcome = {}

    def push():
        try:
            outcome["totals"] = client.push()
        except Exception as error:  # noqa: BLE001 - reported below
            outcome["error"] = error

    pusher = threading.Thread(target=push)
    pusher.start()
    # Kill the server once part of the batch is committed (the push is still running).
    deadline = time.monotonic() + 120
    while SyncReceipt.objects.count() < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    applied_before_kill = SyncReceipt.objects.count()
    server.kill()
    server.start()
    pusher.join(300)

    assert "error" not in outcome, outcome.get("error")
    assert 40 <= applied_before_kill < count
    totals = outcome["totals"]
    assert totals.get("duplicate", 0) >= 40
    assert totals.get("duplicate", 0) + totals.get("applied", 0) == count
    assert set(totals) <= {"duplicate", "applied"}
    assert sorted(Survey.objects.values_list("id", flat=True)) == sorted(ids)
    assert SyncReceipt.objects.count() == count
    creates = Counter(
        AuditEntry.objects.filter(record_type="survey", action="create").values_list("record_id", flat=True)
    )
    assert set(creates.values()) == {1}
    assert len(creates) == count
    assert client.store.counts() == {"done": count}
    client.close()


def test_two_devices_merge_different_fields_and_conflict_on_the_same_field(tmp_path, server, crew_case):
    case, crew = crew_case
    _crew_member(crew, "tablet_a")
    _crew_member(crew, "tablet_b")
    a = _client(tmp_path, server, "tablet_a")
    b = _client(tmp_path, server, "tablet_b")
    record_id = str(uuid.uuid4())
    a.queue("survey", record_id, _survey(case, 1))
    a.push()
    a.pull()
    b.pull()
    assert b.store.record("survey", record_id)["version"] == 1

    # Offline on both: A writes the minutes, B the summary (different fields) → merge.
    a.queue("survey", record_id, {"minutes": "会议纪要：同意"}, base_version=1)
    b.queue("survey", record_id, {"summary": "现场踏勘，道路已通"}, base_version=1)
    assert a.push() == {"applied": 1}
    assert b.push() == {"merged": 1}
    survey = Survey.objects.get(pk=record_id)
    assert (survey.minutes, survey.summary, survey.version) == ("会议纪要：同意", "现场踏勘，道路已通", 3)

    # Both change the conclusion from version 3 → the second is a conflict, nothing applied.
    a.pull()
    b.pull()
    a.queue("survey", record_id, {"conclusion": "agree"}, base_version=3)
    b.queue("survey", record_id, {"conclusion": "disagree", "conditions": "补充管线资料"}, base_version=3)
    assert a.push() == {"applied": 1}
    assert b.push() == {"conflict": 1}
    receipt = b.store.operations("conflict")[0]["receipt"]
    assert '"server"' in receipt and '"conclusion": "agree"' in receipt
    survey.refresh_from_db()
    assert (survey.conclusion, survey.conditions, survey.version) == ("agree", "", 4)
    conflict = SyncConflict.objects.get()
    assert (conflict.record_id, conflict.fields, conflict.status) == (uuid.UUID(record_id), ["conclusion"], "open")
    a.pull()
    b.pull()
    assert a.store.record("survey", record_id)["data"]["conclusion"] == "agree"
    assert b.store.record("survey", record_id)["version"] == 4
    a.close()
    b.close()


def test_a_batch_with_an_invisible_record_rejects_only_that_operation(tmp_path, server, crew_case):
    case, crew = crew_case
    _crew_member(crew, "crew1")
    other_case = ApprovalCaseFactory()
    hidden = Survey.objects.create(case=other_case, scheduled_at="2026-03-10T09:00:00+08:00", summary="别人的")
    client = _client(tmp_path, server, "crew1")
    client.queue("survey", uuid.uuid4(), _survey(case, 1))
    client.queue("survey", hidden.pk, {"summary": "改别人的"}, base_version=1)
    client.queue("survey", uuid.uuid4(), {"summary": "改不存在的"}, base_version=1)
    client.queue("survey", uuid.uuid4(), _survey(case, 2))

    totals = client.push()

    assert totals == {"applied": 2, "rejected": 2}
    rejected = [json.loads(op["receipt"]) for op in client.store.operations("rejected")]

    def strip(receipt):
        return {k: v for k, v in receipt.items() if k not in ("op_id", "id")}

    assert strip(rejected[0]) == strip(rejected[1])
    assert rejected[0]["code"] == "not_found"
    hidden.refresh_from_db()
    assert (hidden.summary, hidden.version) == ("别人的", 1)
    assert Survey.objects.filter(case=case).count() == 2
    client.close()


def test_a_photo_uploaded_after_its_record_completes_it(tmp_path, server, crew_case):
    case, crew = crew_case
    _crew_member(crew, "crew1")
    client = _client(tmp_path, server, "crew1")
    photo = tmp_path / "site.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"jpeg bytes of a site photo" * 100 + b"\xff\xd9")
    record_id = str(uuid.uuid4())
    client.queue("survey", record_id, _survey(case, 1), attachments=[(photo, "photo")])

    assert client.push() == {"applied": 1}
    receipt = client.store.operations("done")[0]["receipt"]
    from field_client import file_sha256

    sha256 = file_sha256(photo)
    assert f'"missing_attachments": ["{sha256}"]' in receipt
    client.pull()
    assert client.store.record("survey", record_id)["complete"] is False

    assert client.upload() == 1
    assert client.pull() == 1
    assert client.store.record("survey", record_id)["complete"] is True
    timeline = AuditEntry.objects.filter(record_id=record_id).values_list("action", flat=True)
    assert list(timeline) == ["create", "attachments_complete"]
    assert client.status()["files_to_upload"] == 0
    client.close()


def test_conflicts_are_listed_per_case_and_resolved_by_the_back_office(tmp_path, server, crew_case):
    case, crew = crew_case
    _crew_member(crew, "tablet_a")
    _crew_member(crew, "tablet_b")
    official = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.BACK_OFFICE], region="370211")
    a = _client(tmp_path, server, "tablet_a")
    b = _client(tmp_path, server, "tablet_b")
    record_id = str(uuid.uuid4())
    a.queue("survey", record_id, _survey(case, 1))
    a.push()
    a.queue("survey", record_id, {"summary": "甲的描述"}, base_version=1)
    b.queue("survey", record_id, {"summary": "乙的描述"}, base_version=1)
    a.push()
    b.push()
    back_office = _client(tmp_path, server, official.username)

    listed = back_office.request("GET", "/api/v1/sync/conflicts/", params={"case": str(case.pk), "status": "open"})
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 1
    conflict = body["results"][0]
    assert (conflict["type"], conflict["record_id"], conflict["fields"]) == ("survey", record_id, ["summary"])
    assert conflict["client_data"] == {"summary": "乙的描述"}
    assert conflict["server_data"]["summary"] == "甲的描述"

    resolved = back_office.request(
        "POST",
        f"/api/v1/sync/conflicts/{conflict['id']}/resolve/",
        json={"resolution": "client", "note": "以乙为准"},
    )

    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["status"], resolved.json()["resolution"], resolved.json()["resolved_version"]) == (
        "resolved",
        "client",
        3,
    )
    assert Survey.objects.get(pk=record_id).summary == "乙的描述"
    entry = AuditEntry.objects.filter(record_id=record_id, action="conflict_resolved").get()
    assert (entry.actor_username, entry.reason) == (official.username, "以乙为准")
    again = back_office.request(
        "POST", f"/api/v1/sync/conflicts/{conflict['id']}/resolve/", json={"resolution": "server"}
    )
    assert (again.status_code, again.json()["code"]) == (409, "conflict_resolved")
    crew_view = a.request("GET", "/api/v1/sync/conflicts/").json()
    assert crew_view["count"] == 0
    for client in (a, b, back_office):
        client.close()
