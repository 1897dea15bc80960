"""_array_item's shortcuts for UUIDs, ints, datetimes and dates write what the general way
(the value's text, backslashes and quotes escaped, in quotes) writes."""

import datetime as dt
import uuid

import pytest

from backend.common.rows import _array_item, _as_text


def general(value):
    return '"' + _as_text(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize(
    "value",
    [
        uuid.UUID(int=0),
        uuid.UUID("12345678-90ab-cdef-1234-567890abcdef"),
        uuid.uuid4(),
        0,
        -1,
        2**63,
        -(10**30),
        dt.datetime(2026, 12, 2, 5, 0, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30, seconds=15))),
        dt.datetime(2026, 1, 1),
        dt.date(2026, 2, 28),
        dt.date(1, 1, 1),
    ],
    ids=repr,
)
def test_shortcuts_write_what_the_general_way_writes(value):
    assert _array_item(value) == general(value)


def test_exact_texts():
    assert _array_item(uuid.UUID(int=1)) == '"00000000-0000-0000-0000-000000000001"'
    assert _array_item(-42) == '"-42"'
    assert _array_item(dt.date(2026, 2, 28)) == '"2026-02-28"'
    assert _array_item(None) == "NULL"
    assert _array_item(True) == '"t"'
    assert _array_item('a"b\\c') == '"a\\"b\\\\c"'
