"""The feed page picked in SQL (backend.sync.pull.feed_page) is the page the former Python scan
picked: the first `limit` distinct records after the cursor, each at its last entry before the
page's end, the cursor at the last entry read; a window of entries holding fewer records is widened."""

import random

import pytest

from backend.audit.models import AuditEntry
from backend.sync.pull import feed_entries, feed_page
from backend.sync.services import material_scan_create, material_scan_update
from mobile_api.sync.tests.factories import case_with_item, sha, vehicle_user_on

pytestmark = pytest.mark.django_db


def _scan(item, name):
    scan, _ = material_scan_create(
        by=None, case=item.case, item=item, sha256=sha(name), content_type="application/pdf", filename=name
    )
    return scan


def _reference_page(entries, *, cursor, limit):
    """The former scan, over every entry the caller may see in feed order: (changes, after, has_more)."""
    latest, after = {}, cursor
    for txid, entry_id, record_type, record_id in entries:
        if (txid, entry_id) <= cursor:
            continue
        key = (record_type, str(record_id))
        if key not in latest and len(latest) >= limit:
            return _ordered(latest), after, True
        latest[key] = (txid, entry_id)
        after = (txid, entry_id)
    return _ordered(latest), after, False


def _ordered(latest):
    return [(t, i, *position) for (t, i), position in sorted(latest.items(), key=lambda kv: kv[1])]


def _walk(user, *, limit, reference_entries=None):
    pages, cursor = [], (0, 0)
    while True:
        page = feed_page(user=user, cursor=cursor, limit=limit, types=["material_scan"])
        got = (page.changes, page.after, page.has_more)
        if reference_entries is not None:
            assert got == _reference_page(reference_entries, cursor=cursor, limit=limit), (limit, cursor)
        pages.append(got)
        cursor = page.after
        if not page.has_more:
            return pages


def test_a_record_comes_at_its_last_entry_before_the_page_ends():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    a, b = _scan(item, "a.pdf"), _scan(item, "b.pdf")
    material_scan_update(instance=a, changes={"note": "2"}, by=None)
    c = _scan(item, "c.pdf")
    entries = {e.record_id: [] for e in AuditEntry.objects.filter(record_type="material_scan")}
    for e in AuditEntry.objects.filter(record_type="material_scan").order_by("txid", "id"):
        entries[e.record_id].append((e.txid, e.id))

    pages = _walk(user, limit=2)
    assert [[(i, t, n) for _type, i, t, n in changes] for changes, _after, _more in pages] == [
        [(str(b.pk), *entries[b.pk][0]), (str(a.pk), *entries[a.pk][1])],
        [(str(c.pk), *entries[c.pk][0])],
    ]
    # A page of one: a's second entry lies after b's first, where that page ends.
    one = _walk(user, limit=1)
    assert [changes[0][1] for changes, _after, _more in one] == [str(a.pk), str(b.pk), str(a.pk), str(c.pk)]
    assert [after for _changes, after, _more in one] == [
        entries[a.pk][0],
        entries[b.pk][0],
        entries[a.pk][1],
        entries[c.pk][0],
    ]
    assert [more for _changes, _after, more in one] == [True, True, True, False]


def test_a_window_of_one_records_entries_is_widened():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    busy = _scan(item, "busy.pdf")
    for n in range(12):
        busy = material_scan_update(instance=busy, changes={"note": str(n)}, by=None)
    calm = _scan(item, "calm.pdf")

    pages = _walk(user, limit=1)  # a first window of 4 entries, all of `busy`

    assert [[i for _type, i, _t, _n in changes] for changes, _after, _more in pages] == [[str(busy.pk)], [str(calm.pk)]]
    last_busy = AuditEntry.objects.filter(record_id=busy.pk).order_by("-txid", "-id").values_list("txid", "id")[0]
    assert pages[0][0][0][2:] == last_busy and pages[0][1] == last_busy and pages[0][2] is True


def test_random_feeds_page_as_the_former_scan_did():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    rng = random.Random(10)
    scans = [_scan(item, f"{n}.pdf") for n in range(6)]
    for n in range(40):
        index = rng.randrange(len(scans))
        scans[index] = material_scan_update(instance=scans[index], changes={"note": str(n)}, by=None)
    entries = list(
        feed_entries(user=user, after=(0, 0), horizon=2**62, types=["material_scan"]).values_list(
            "txid", "id", "record_type", "record_id"
        )
    )
    for limit in (1, 2, 3, 5, 50):
        pages = _walk(user, limit=limit, reference_entries=entries)
        sent = [change[1] for changes, _after, _more in pages for change in changes]
        assert set(sent) == {str(scan.pk) for scan in scans}
