import threading

import pytest
from django.db import connection, transaction

from backend.audit.models import AuditEntry
from backend.audit.services import audit_append
from backend.cases.materials import MaterialScan
from backend.sync.services import material_scan_create, material_scan_update
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, sha, vehicle_user_on


def _scan(item, name):
    scan, _ = material_scan_create(
        by=None, case=item.case, item=item, sha256=sha(name), content_type="application/pdf", filename=name
    )
    return scan


def _pull(client, cursor="", **params):
    response = client.get("/api/v1/sync/pull", {"cursor": cursor, **params})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_pull_returns_visible_changes_in_commit_order_with_tombstones(api_client):
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    other_case, other_item, _m = case_with_item()
    first, second, hidden = _scan(item, "a.pdf"), _scan(item, "b.pdf"), _scan(other_item, "c.pdf")
    api_client.force_authenticate(user)
    push(api_client, scan_op(item=item, record_id=first.pk, base_version=1, data={"note": "改"}))
    push(api_client, scan_op(item=item, record_id=second.pk, action="delete", base_version=1, data={}))

    page = _pull(api_client)

    assert [(c["id"], c["version"], c["deleted"]) for c in page["changes"]] == [
        (str(first.pk), 2, False),
        (str(second.pk), 2, True),
    ]
    assert page["changes"][0]["data"]["note"] == "改"
    assert page["changes"][0]["data"]["filename"] == "a.pdf"
    assert page["changes"][0]["complete"] is False
    assert page["changes"][0]["missing_attachments"] == [sha("a.pdf")]
    assert page["changes"][1]["data"]["deleted_at"] is not None
    assert page["has_more"] is False
    assert str(hidden.pk) not in {c["id"] for c in page["changes"]}
    again = _pull(api_client, page["cursor"])
    assert again == {"changes": [], "cursor": page["cursor"], "has_more": False}


@pytest.mark.django_db
def test_pull_pages_with_limit_and_filters_types(api_client):
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    scans = [_scan(item, f"{n}.pdf") for n in range(5)]
    api_client.force_authenticate(user)

    pages, cursor = [], ""
    while True:
        page = _pull(api_client, cursor, limit=2, types="material_scan")
        pages.append([c["data"]["filename"] for c in page["changes"]])
        cursor = page["cursor"]
        if not page["has_more"]:
            break

    assert pages == [["0.pdf", "1.pdf"], ["2.pdf", "3.pdf"], ["4.pdf"]]
    assert len(scans) == 5
    bad = api_client.get("/api/v1/sync/pull", {"types": "spaceship"})
    assert (bad.status_code, bad.json()["code"]) == (400, "unsupported_type")
    bad = api_client.get("/api/v1/sync/pull", {"cursor": "abc"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")


@pytest.mark.django_db
def test_a_record_changed_twice_comes_once_at_its_last_change(api_client):
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    first, second = _scan(item, "a.pdf"), _scan(item, "b.pdf")
    material_scan_update(instance=first, changes={"note": "later"}, by=None)
    api_client.force_authenticate(user)

    page = _pull(api_client)

    assert [(c["id"], c["version"]) for c in page["changes"]] == [(str(second.pk), 1), (str(first.pk), 2)]


def _run(target, errors):
    def wrapper():
        try:
            target()
        except Exception as error:  # noqa: BLE001 - reported to the test thread
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=wrapper)
    thread.start()
    return thread


def _pull_all(client, cursor):
    """Every change after `cursor`, page by page: (notes in order, the last cursor)."""
    seen = []
    while True:
        page = _pull(client, cursor)
        seen += [(c["id"], c["data"]["note"]) for c in page["changes"]]
        cursor = page["cursor"]
        if not page["has_more"]:
            return seen, cursor


@pytest.mark.django_db(transaction=True)
def test_pull_never_skips_a_transaction_that_commits_late(api_client):
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    early, late = _scan(item, "early.pdf"), _scan(item, "late.pdf")
    api_client.force_authenticate(user)
    start = _pull(api_client)["cursor"]
    started, release, errors = threading.Event(), threading.Event(), []

    def slow_transaction():
        with transaction.atomic():
            # The change starts here (the row is taken) but commits after the other one.
            locked = MaterialScan.objects.select_for_update().get(pk=late.pk)
            started.set()
            release.wait(30)
            material_scan_update(instance=locked, changes={"note": "late commit"}, by=None)

    slow = _run(slow_transaction, errors)
    assert started.wait(30)
    material_scan_update(instance=early, changes={"note": "committed first"}, by=None)

    # The early change is committed, but behind the horizon of the slow transaction still in flight.
    middle_seen, middle = _pull_all(api_client, start)
    release.set()
    slow.join(30)
    after_seen, _end = _pull_all(api_client, middle)

    assert errors == []
    # Read once each, whichever pull: never skipped, never twice.
    assert sorted(middle_seen + after_seen) == sorted(
        [(str(early.pk), "committed first"), (str(late.pk), "late commit")]
    )
    assert middle_seen == []


@pytest.mark.django_db(transaction=True)
def test_pull_does_not_pass_an_open_transaction_that_already_wrote_its_change(api_client):
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    first, second = _scan(item, "first.pdf"), _scan(item, "second.pdf")
    api_client.force_authenticate(user)
    start = _pull(api_client)["cursor"]
    wrote, release, errors = threading.Event(), threading.Event(), []

    def holds_open():
        with transaction.atomic():
            # The audit side of a change to `first` (its row is left alone: every record table also
            # bumps gis_layers_change, one row, which would make the second writer wait for that).
            audit_append(action="update", record_type="material_scan", record_id=first.pk, case_id=case.pk)
            wrote.set()
            release.wait(30)

    holder = _run(holds_open, errors)
    assert wrote.wait(30)
    # No lock shared by the audit's writers: the second one commits while the first is still open.
    material_scan_update(instance=second, changes={"note": "two"}, by=None)
    assert AuditEntry.objects.filter(record_id=second.pk, after__note="two").exists()

    during = _pull(api_client, start)
    release.set()
    holder.join(30)
    after = _pull(api_client, start)

    assert errors == []
    # The committed second change lies after the open transaction's horizon: not read yet, so the
    # cursor cannot pass the first change, which commits later with a lower feed position.
    assert during == {"changes": [], "cursor": start, "has_more": False}
    assert [(c["id"], c["data"]["note"]) for c in after["changes"]] == [(str(first.pk), ""), (str(second.pk), "two")]
