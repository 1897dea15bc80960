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
    "2026-01-01T00:00:00+\u0662\u0660:00",  # hours 20 in Arabic-Indic digits
    "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661T\u0660\u0660:\u0660\u0660+\u0661\u0666:\u0660\u0660",
    "\uff12\uff10\uff12\uff16-01-01T00:00:00-\uff12\uff14:00",  # fullwidth digits
    "\u3000 2026-01-01T00:00:00+16:00",  # leading ideographic space
]
PIECES = [
    *TIMESTAMPS,
    "a",
    "界",
    "\u3000",
    "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "e5f1-23a4",
    "6-16",
    "+16:00",
    "\x00",
    "\ud800",
    "\udfff",
    "\U0001f600",
    '"',
    "\\",
    "/",
    "\n",
    "\t",
    "+16",
    "-9",
]


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
    # Ids whose digits and dashes look like an offset, and Chinese written as \u escapes.
    ordinary = {
        "id": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "at": "2026-03-10T09:00:00+08:00",
        "s": "联合踏勘 e5f1-23a4",
    }
    assert not parsers._text_may_be_refused(json.dumps(ordinary, ensure_ascii=True))
    assert not parsers._text_may_be_refused(json.dumps(ordinary, ensure_ascii=False))
    assert parsers._text_may_be_refused('{"s": "\\u0000"}')
    assert parsers._text_may_be_refused('{"s": "\\ud83d\\ude00"}')
    assert parsers._text_may_be_refused('{"s": "\\uff11"}')  # a fullwidth digit, escaped
    assert parsers._text_may_be_refused('{"at": "\\n 2026-01-01T00:00:00-16:00"}')
    assert parsers._text_may_be_refused('{"at": "2026-01-01T00:00:00+16:00"}')
    assert parsers._text_may_be_refused('{"at": "2026-01-01T00:00:00+1060"}')


def test_an_escape_is_risky_exactly_when_it_writes_ascii_a_surrogate_or_a_digit():
    for code in range(0x10000):
        risky = code < 0x80 or 0xD800 <= code <= 0xDFFF or chr(code).isdecimal()
        for escape in (f"\\u{code:04x}", f"\\u{code:04X}"):
            assert (parsers._RISKY_ESCAPE.search(escape) is not None) is risky, escape
