"""parse_json_bytes skips check_tree for text it cannot refuse (_text_may_be_refused): every body
gets the outcome json.loads then check_tree gives (the walk of every key and string)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobile_api import parsers

TIMESTAMPS = [
    "2026-01-01T00:00:00+08:00",
    "2026-01-01T00:00:00+15:59",
    "2026-01-01T00:00:00+16:00",
    "2026-01-01T00:00:00-24:00",
    "2026-01-01T00:00:00+10:60",
    "2026-01-01T00:00:00+1099",
    "2026-01-01 00:00-1600",
    "2026-01-01t00:00:00.123+0961",
    " 2026-01-01T00:00:00,5+09 ",
    "2026-01-01T00:00+99",
    "2026-01-01T00:00:00Z",
]
PIECES = [*TIMESTAMPS, "a", "界", "\x00", "\ud800", "\udfff", "\U0001f600", '"', "\\", "/", "\n", "\t", "+16", "-9"]


def _reference(raw: bytes):
    """What parse_json_bytes answered before the shortcut: every parsed body walked."""
    try:
        data = json.loads(raw.decode("utf-8"))
        parsers.check_tree(data)
    except parsers.ValidationFailed as error:
        return ("refused", error.code, error.errors)
    return ("ok", data)


def _outcome(raw: bytes):
    try:
        data = parsers.parse_json_bytes(raw)
    except parsers.ValidationFailed as error:
        return ("refused", error.code, error.errors)
    return ("ok", data)


texts = st.lists(st.sampled_from(PIECES), max_size=4).map("".join)
trees = st.recursive(
    st.one_of(texts, st.integers(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=8,
)


def _encodings(tree) -> list[bytes]:
    """The same tree as clients write it: escaped to ASCII (\\u everywhere) and as UTF-8 text
    (the characters as they are; a lone surrogate cannot be UTF-8, so it stays escaped)."""
    out = [json.dumps(tree, ensure_ascii=True).encode()]
    try:
        out.append(json.dumps(tree, ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:
        pass
    return out


@settings(max_examples=400, deadline=None)
@given(trees)
def test_every_body_gets_what_the_full_walk_gives(tree):
    for raw in _encodings(tree):
        assert _outcome(raw) == _reference(raw)


@pytest.mark.parametrize("timestamp", TIMESTAMPS)
@pytest.mark.parametrize("as_key", [False, True])
def test_timestamps_in_unescaped_text_as_values_and_keys(timestamp, as_key):
    tree = {"x": [{timestamp: 1}]} if as_key else {"x": [{"at": timestamp}]}
    raw = json.dumps(tree, ensure_ascii=False).encode()
    assert _outcome(raw) == _reference(raw)


def test_the_shortcut_is_taken_for_ordinary_bodies_and_not_for_refusable_ones():
    assert not parsers._text_may_be_refused('{"at": "2026-01-01T00:00:00+08:00", "s": "界 \\"\\\\ \\n"}')
    assert parsers._text_may_be_refused('{"s": "\\u0041"}')
    assert parsers._text_may_be_refused('{"at": "2026-01-01T00:00:00+16:00"}')
    assert parsers._text_may_be_refused('{"at": "2026-01-01T00:00:00+1060"}')
