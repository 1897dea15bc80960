"""The batch's hash text built with the stored before/after texts in place is canonical_json of
the payload the hash is defined over (before/after read back from their stored text)."""

import collections
import datetime as dt
import decimal
import enum
import json
import uuid

import pytest

from backend.audit.services import _canonical_is_fixed_point, _payload_text, canonical_json


class Colour(enum.IntEnum):
    RED = 3


class Kind(enum.StrEnum):
    A = "a\u00e9"


SNAPSHOTS = [
    None,
    {},
    {"id": "x", "n": 1, "f": 0.1, "neg_zero": -0.0, "big": 10**30, "nan": float("nan"), "inf": float("-inf")},
    {"text": 'quote " backslash \\ newline \n tab \t nul \x00 \u2028 \U0001f600 中文', "b": True, "none": None},
    {"geometry": {"type": "Point", "coordinates": [120.17, 35.96]}, "tags": ["a", ["b", {"c": []}]]},
    {"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "id": uuid.UUID(int=7), "d": decimal.Decimal("1.50")},
    {"tuple": (1, 2, (3,)), "enum_int": Colour.RED, "enum_str": Kind.A},
    {"z": 1, "a": 2, "M": 3, "_": 4, "aa": 5, "a a": 6},
]


@pytest.mark.parametrize("before", SNAPSHOTS, ids=repr)
@pytest.mark.parametrize("after", SNAPSHOTS, ids=repr)
def test_payload_text_equals_canonical_json_of_the_read_back_payload(before, after):
    assert _canonical_is_fixed_point(before) and _canonical_is_fixed_point(after)
    before_text = canonical_json(before) if before is not None else None
    after_text = canonical_json(after) if after is not None else None
    payload = {
        "occurred_at": "2026-12-02T05:00:00.123456+00:00",
        "actor_id": str(uuid.UUID(int=1)),
        "actor_username": 'sürveyor "one"',
        "device_id": "tablet-1",
        "action": "create",
        "record_type": "surveys.finding",
        "record_id": str(uuid.UUID(int=2)),
        "case_id": None,
        "version": 1,
        "before": None,
        "after": None,
        "reason": "",
    }
    reference = dict(payload, before=json.loads(before_text) if before_text else None)
    reference["after"] = json.loads(after_text) if after_text else None
    assert _payload_text(payload, before_text, after_text) == canonical_json(reference)


@pytest.mark.parametrize(
    "value",
    [
        {1: "a"},
        {"nested": {10: "a", 9: "b"}},
        {"list": [{"ok": 1}, {True: 1}]},
        {"ordered": collections.OrderedDict([(2, "x")])},
        {"none_key": {None: 1}},
        collections.OrderedDict([("a", 1)]),
        object(),
    ],
    ids=repr,
)
def test_values_whose_text_may_not_read_back_the_same_are_not_fixed_points(value):
    assert _canonical_is_fixed_point(value) is False


def test_why_int_keys_are_excluded():
    # Sorted as ints, then as strings after a round trip: the texts differ.
    value = {10: "a", 9: "b"}
    text = canonical_json(value)
    assert text == '{"9":"b","10":"a"}'
    assert canonical_json(json.loads(text)) == '{"10":"a","9":"b"}'


@pytest.mark.django_db
@pytest.mark.parametrize("int_keys", [False, True], ids=["str keys: texts in place", "int keys: read back"])
def test_a_batched_entry_hash_is_over_what_was_stored(int_keys):
    from django.db import transaction

    from backend.accounts.tests.factories import UserFactory
    from backend.audit.models import AuditEntry
    from backend.audit.services import GENESIS_HASH, audit_batch_collecting, entry_hash, entry_payload

    user = UserFactory()
    record_id = uuid.uuid4()
    tricky = {
        "text": 'quote " backslash \\ brace { } 界 \n \u2028',
        "nested": {"b": [1, 2.5, None, True, {"z": "NULL"}], "a": "null"},
        "big": 12345678901234567890,
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=dt.UTC),
        "keys": {10: "ten", 9: "nine"} if int_keys else {"10": "ten", "9": "nine"},
    }
    with transaction.atomic(), audit_batch_collecting() as batch:
        from backend.audit.services import audit_append

        audit_append(
            action="create",
            record_type="survey",
            record_id=record_id,
            actor=user,
            device_id="t",
            case_id=None,
            version=1,
            before=None,
            after={"summary": "new", **tricky},
            reason="",
        )
        audit_append(
            action="update",
            record_type="survey",
            record_id=record_id,
            actor=None,
            device_id="",
            case_id=uuid.uuid4(),
            version=2,
            before={"summary": "new", **tricky},
            after={"summary": "newer", **tricky},
            reason='why, "quoted"',
        )
        assert batch.flush() == 2
    first, second = AuditEntry.objects.filter(record_id=record_id).order_by("id")
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    for entry in (first, second):
        assert entry.hash == entry_hash(prev_hash=entry.prev_hash, payload=entry_payload(entry))
    assert second.before["keys"] == {"10": "ten", "9": "nine"}
    assert second.after["when"] == "2026-01-02 03:04:05.000600+00:00"


@pytest.mark.parametrize(
    "value", SNAPSHOTS + [{10: "a", 9: "b"}, "text \u2028", 1.5, [1, "a"], {"k": object}], ids=repr
)
def test_canonical_json_is_what_json_dumps_writes(value):
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert canonical_json(value) == expected
    assert canonical_json(value) == expected  # and again: the shared encoder keeps nothing between calls
