"""The REST face of every registered record type, read off the URL configuration.

Tests that go over every record type (the permission matrix) take the types from the record
registry and their URLs and detail actions from the routers, so a record type registered in the
domain and routed in the API joins them without an edit here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import serializers

from backend.records.models import SYSTEM_FIELDS
from backend.records.registry import RECORD_TYPES


@dataclass(frozen=True)
class RecordEndpoint:
    record_type: str
    prefix: str  # e.g. "survey-participants", under /api/v1/
    viewset: type
    post_actions: tuple[str, ...]  # detail actions, e.g. ("start", "submit")
    get_actions: tuple[str, ...]  # detail reads besides the record, e.g. ("original", "thumbnail")

    def detail(self, record_id: Any) -> str:
        return f"/api/v1/{self.prefix}/{record_id}/"

    @property
    def list(self) -> str:
        return f"/api/v1/{self.prefix}/"


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


@functools.cache
def record_endpoints() -> dict[str, RecordEndpoint]:
    """Record type name → its REST endpoint, for every type a router serves."""
    found = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        viewset = getattr(pattern.callback, "cls", None)
        name = getattr(viewset, "record_type", None)
        if name not in RECORD_TYPES or not (pattern.name or "").endswith("-list"):
            continue
        match = re.search(r"api/v1/\^?([\w/-]+?)/\??\$?$", route)
        assert match, f"cannot read the prefix of {route}"
        actions = [action for action in viewset.get_extra_actions() if action.detail]
        found[name] = RecordEndpoint(
            record_type=name,
            prefix=match.group(1),
            viewset=viewset,
            post_actions=tuple(sorted(a.url_path for a in actions if "post" in a.mapping)),
            get_actions=tuple(sorted(a.url_path for a in actions if "get" in a.mapping)),
        )
    return found


# Free text the record's writers keep, preferred when a type has several text fields.
_NOTE_FIELDS = ("remarks", "note", "summary", "description")
_NOT_FREE_TEXT = (serializers.RegexField, serializers.EmailField, serializers.URLField, serializers.ChoiceField)


def example_change(endpoint: RecordEndpoint) -> dict[str, Any] | None:
    """One field the record type's writers may change, read off its REST serializer: a note-like
    free-text field, else any free-text field, else a number; None when it has none."""
    writable = {
        name: field
        for name, field in endpoint.viewset.serializer_class().fields.items()
        if not field.read_only and name not in SYSTEM_FIELDS and name != "case" and not name.endswith("_type")
    }
    text = [
        name
        for name, field in writable.items()
        if isinstance(field, serializers.CharField) and not isinstance(field, _NOT_FREE_TEXT)
    ]
    for name in (*[n for n in _NOTE_FIELDS if n in text], *text):
        return {name: "矩阵"}
    for name, field in writable.items():
        if isinstance(field, serializers.FloatField | serializers.IntegerField) and name not in ("lon", "lat"):
            return {name: 90}
    return None
