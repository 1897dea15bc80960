"""Request parsing that refuses hostile text before any view or service sees it.

Every string that reaches PostgreSQL must be encodable as UTF-8 and free of NUL: a lone
surrogate (`\\ud800`, also written as a JSON escape) makes psycopg raise `UnicodeEncodeError`
and a NUL makes it raise `ValueError`, both 500s that abort the transaction. Offsets beyond
±15:59 are outside what PostgreSQL's timestamptz accepts (and beyond ±23:59 outside what Python
can represent). So the same three checks run on every way text comes in: JSON bodies (keys and
values, at any depth), form and multipart fields and file names, query strings and headers (in
`mobile_api.middleware.HostileInputMiddleware`) and tus metadata (`mobile_api.uploads.views`).

A sync push carrying one such string is refused whole (400 before anything is written): the
parser runs before the push is split into operations, and a body that is not valid text is not
a batch of operations the device can trust either.

JSON is also measured before it is parsed: Python's decoder recurses (in C) once per nesting
level, so ~1,000 levels raise RecursionError. `json_depth_exceeds` walks the bytes without
recursion and the body is refused with `json_too_deep` above `JSON_MAX_DEPTH`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.utils.datastructures import MultiValueDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.utils import json

from backend.common.errors import ValidationFailed

BIGINT_MAX = 2**63 - 1

_INVALID_CHARACTER = re.compile("[\x00\ud800-\udfff]")
# What the depth scan keeps of a JSON body, and what each kept byte adds to the depth.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_DEPTH_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]
# An RFC 3339 / ISO 8601 extended timestamp ending in a numeric offset (checked separately). In a
# query string a '+' the client forgot to percent-encode arrives as a space.
_DATE_TIME = r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
_TIMESTAMP_OFFSET = re.compile(rf"^\s*{_DATE_TIME}([+-])(\d{{2}}):?(\d{{2}})?\s*$")
_QUERY_TIMESTAMP_OFFSET = re.compile(rf"^\s*{_DATE_TIME}([+ -])(\d{{2}}):?(\d{{2}})?\s*$")
_ASCII_INTEGER = re.compile(r"[0-9]+")
# Every string check_tree refuses for its offset fully matches _TIMESTAMP_OFFSET: in JSON text
# it stands after a quote, behind any leading whitespace (raw or escaped), as the same literal
# characters, see _text_may_be_refused. Its candidates are then judged by has_impossible_offset.
_TIMESTAMP_IN_TEXT = re.compile(rf'"(?:\s|\\[nrtf]|\\u[0-9a-fA-F]{{4}})*({_DATE_TIME}[+-]\d{{2}}(?::?\d{{2}})?)')


# The \u escapes that can write a character check_tree refuses (NUL, a surrogate) or one a
# timestamp must show literally for _TIMESTAMP_IN_TEXT (ASCII: digits, signs, colon, "T";
# another script's digit, which \d matches: "{block}[{last hex digits}]" per 16 code points).
def _risky_escapes() -> re.Pattern:
    digits: dict[int, str] = {}  # 16-code-point block → its last hex digits that are digits
    for code in range(0x80, 0x10000):
        if not 0xD800 <= code <= 0xDFFF and chr(code).isdecimal():  # \d is Unicode category Nd
            digits[code >> 4] = digits.get(code >> 4, "") + f"{code & 15:x}"
    blocks = "|".join(f"{block:03x}[{last}]" for block, last in digits.items())
    return re.compile(rf"\\u(?:00[0-7][0-9a-f]|d[89a-f][0-9a-f]{{2}}|{blocks})", re.IGNORECASE)


_RISKY_ESCAPE = _risky_escapes()


class InvalidText(ValidationFailed):
    code = "invalid_text"


class JsonTooDeep(ValidationFailed):
    code = "json_too_deep"


class InvalidDatetime(ValidationFailed):
    code = "invalid_datetime"


def has_invalid_character(text: str) -> bool:
    """NUL or a lone surrogate: text PostgreSQL cannot store."""
    return _INVALID_CHARACTER.search(text) is not None


def has_impossible_offset(text: str, *, in_query: bool = False) -> bool:
    """A timestamp whose UTC offset is beyond ±15:59 (PostgreSQL's limit) or not a clock value."""
    match = (_QUERY_TIMESTAMP_OFFSET if in_query else _TIMESTAMP_OFFSET).match(text)
    if match is None:
        return False
    hours, minutes = int(match[2]), int(match[3] or 0)
    return hours > 15 or minutes > 59


def invalid_text(name: str, message: str = "Contains NUL or a lone surrogate; send valid Unicode text.") -> InvalidText:
    return InvalidText(f"{name}: {message}", errors={name: [message]})


def invalid_datetime(name: str) -> InvalidDatetime:
    message = "The UTC offset is outside ±15:59."
    return InvalidDatetime(f"{name}: {message}", errors={name: [message]})


def check_text(name: str, text: str, *, in_query: bool = False) -> None:
    if has_invalid_character(text):
        raise invalid_text(_printable(name))
    # An interval (OGC `datetime=start/end`) is checked end by end.
    if any(has_impossible_offset(part, in_query=in_query) for part in text.split("/")):
        raise invalid_datetime(_printable(name))


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, string) for every key and string value; depth is already bounded by the caller."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            yield name, key
            yield from _walk(item, name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def check_tree(data: Any) -> None:
    """Refuse the first key or string in a parsed body that PostgreSQL could not store."""
    for path, text in _walk(data, ""):
        if has_invalid_character(text):
            raise invalid_text(_printable(path) or "(body)")
        if has_impossible_offset(text):
            raise invalid_datetime(_printable(path) or "(body)")


def _text_may_be_refused(text: str) -> bool:
    """Whether check_tree could refuse anything of `json.loads(text)`; False is sure.

    Without a risky `\\u` escape (`_RISKY_ESCAPE`), NUL and lone surrogates cannot be there (the
    decoder refuses a raw control character in a string, and a lone surrogate is not UTF-8), and
    every digit, sign, colon and "T" of a decoded string stands in the text as it is (the other
    escapes write quotes, backslashes, slashes, control characters and other scripts' letters).
    So a string refused for its offset shows in the text as a quote, leading whitespace, then the
    timestamp itself (`_TIMESTAMP_IN_TEXT`), which has_impossible_offset judges as check_tree
    would. Ordinary bodies (ids, ISO dates with +08:00, Chinese text raw or escaped) need no walk.
    """
    if _RISKY_ESCAPE.search(text) is not None:
        return True
    return any(has_impossible_offset(match[1]) for match in _TIMESTAMP_IN_TEXT.finditer(text))


def _printable(path: str) -> str:
    return _INVALID_CHARACTER.sub("\ufffd", path)


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether arrays/objects nest deeper than `limit`, found without recursing or decoding.

    Everything runs in C (bytes methods, map, accumulate): escaped backslashes and then escaped
    quotes are dropped, so the quotes left delimit the strings exactly; everything but quotes and
    brackets is dropped, the strings (with any brackets inside them) are cut out, and the depth is
    the highest running sum of +1 per opening and -1 per closing bracket.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    structure = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = b"".join(structure.split(b'"')[::2])
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


def parse_json_bytes(raw: bytes, *, name: str = "body") -> Any:
    """Depth-checked, UTF-8-checked, text-checked `json.loads` for any JSON read from a request."""
    if json_depth_exceeds(raw, settings.JSON_MAX_DEPTH):
        message = f"JSON nests deeper than {settings.JSON_MAX_DEPTH} levels."
        raise JsonTooDeep(message, errors={name: [message]}, extra={"max_depth": settings.JSON_MAX_DEPTH})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise invalid_text(name, "Not valid UTF-8.") from error
    try:
        parse_constant = json.strict_constant if api_settings.STRICT_JSON else None
        data = json.loads(text, parse_constant=parse_constant)
    except ValueError as error:
        raise ParseError(f"JSON parse error - {error}") from error
    if _text_may_be_refused(text):
        check_tree(data)
    return data


def parse_non_negative_int(raw: str, *, maximum: int = BIGINT_MAX) -> int | None:
    """ASCII digits up to `maximum` → int, else None.

    `str.isdigit()` accepts `²` and other digits `int()` refuses, and `int()` accepts `1_000`,
    spaces and digits of other scripts; neither is a number a client means.
    """
    if not _ASCII_INTEGER.fullmatch(raw) or len(raw) > len(str(maximum)):
        return None
    value = int(raw)
    return value if value <= maximum else None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return parse_json_bytes(stream.read())


def _check_form(data, files) -> None:
    for key, values in data.lists():
        check_text(key, key)
        for value in values:
            check_text(key, value)
    for key, uploaded in files.lists():
        check_text(key, key)
        for file in uploaded:
            # Django drops non-printable characters from file names today; the rule must not depend on it.
            if file.name and has_invalid_character(file.name):
                raise invalid_text(f"{_printable(key)}.filename")


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _check_form(result.data, result.files)
        return result


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data, MultiValueDict())
        return data
