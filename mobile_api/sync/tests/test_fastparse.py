"""The fast path of push validation (mobile_api.sync.fastparse) gives exactly DRF's validated_data
for every sync record type, and declines everything DRF refuses (whose error DRF then gives).

Payloads are the demo world's records as the API renders them (every synced type), each with a
spread of edits per writable field: missing, null, blank, whitespace, numbers, booleans, lists,
objects, at and over a text field's max length, NUL and surrogate characters, not a UUID, an
unknown id, an unknown key.
"""

import uuid
from typing import Any

import pytest
from django.contrib.gis.geos import GEOSGeometry
from django.db import models
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from backend.accounts.models import User
from mobile_api.sync.fastparse import FastParser
from mobile_api.sync.push import OperationParser, OperationSerializer, ViewsetInput, bound_again
from mobile_api.sync.registry import sync_types

pytestmark = pytest.mark.django_db

PER_TYPE = 3


@pytest.fixture
def demo(demo_world):
    """The demo world, built once for this module."""


def _norm(value: Any) -> Any:
    if isinstance(value, GEOSGeometry):
        return ("geometry", value.srid, value.ewkb.hex())
    if isinstance(value, models.Model):
        return ("model", type(value), value.pk)
    if isinstance(value, dict):
        return {key: _norm(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_norm(item) for item in value]
    return (type(value), value)


def _request(username: str) -> Request:
    request = Request(APIRequestFactory().post("/api/v1/sync/push"))
    request.user = User.objects.get(username=username)
    return request


def _both(record_input: ViewsetInput, body: dict[str, Any]) -> tuple[Any, Any]:
    """(the fast path's answer, DRF's validated_data or None when it refuses)."""
    serializer = record_input._create_serializer(body)
    fast = record_input._fast.parse(body)
    serializer = bound_again(serializer, body)
    drf = dict(serializer.validated_data) if serializer.is_valid() else None
    return fast, drf


def _edits(field: serializers.Field, value: Any) -> list[Any]:
    missing = object()
    edits: list[Any] = [missing, None, "", "   ", 12345, 1.5, True, [], {}, "not-a-uuid", str(uuid.uuid4())]
    if isinstance(value, str):
        edits += [f"  {value}  ", value + "\x00", value + "\ud800", "\t"]
    max_length = getattr(field, "max_length", None)
    if max_length:
        edits += ["界" * max_length, "界" * (max_length + 1), " " + "a" * max_length + " "]
    return edits, missing


def _check(record_input: ViewsetInput, body: dict[str, Any], counts: dict[str, int]) -> None:
    fast, drf = _both(record_input, body)
    if fast is not None:
        assert drf is not None, f"fast path accepted what DRF refuses: {body!r}"
        assert _norm(fast) == _norm(drf), body
        counts["fast"] += 1
    elif drf is not None:
        counts["declined_valid"] += 1
    else:
        counts["refused"] += 1


def test_fast_path_equals_drf_for_every_sync_record_type(demo):
    request = _request("admin")
    checked = []
    for name, sync_type in sync_types().items():
        record_input = ViewsetInput(sync_type, request)
        records = list(sync_type.model.objects.order_by("pk")[:PER_TYPE])
        if not records:
            continue
        counts = {"fast": 0, "declined_valid": 0, "refused": 0}
        as_shown_accepted = 0
        for record in records:
            shown = record_input.render(record)
            record_input._create_serializer({})
            writable = {field.field_name: field for field in record_input._create._writable_fields}
            base = {key: value for key, value in shown.items() if key in writable}
            base["id"] = str(uuid.uuid4())
            fast, drf = _both(record_input, dict(base))
            if drf is not None:
                assert fast is not None, f"{name}: a demo-shaped valid payload was declined: {base!r}"
                assert _norm(fast) == _norm(drf)
                as_shown_accepted += 1
            else:
                assert fast is None
            _check(record_input, {**base, "unknown_key": 1}, counts)
            assert _both(record_input, {**base, "unknown_key": 1})[0] is None
            for key, field in writable.items():
                edits, missing = _edits(field, base.get(key))
                for edit in edits:
                    body = dict(base)
                    if edit is missing:
                        body.pop(key, None)
                    else:
                        body[key] = edit
                    _check(record_input, body, counts)
        checked.append((name, as_shown_accepted, counts))
    names = {name for name, *_ in checked}
    assert {"survey", "finding"} <= names
    # Every type with a record the API accepts back as a create went the fast way at least once.
    assert all(counts["fast"] > 0 for _name, accepted, counts in checked if accepted), checked


def test_fast_path_equals_drf_for_the_operation_envelope():
    parser = OperationParser()
    good = {
        "op_id": str(uuid.uuid4()),
        "type": "survey",
        "action": "upsert",
        "id": str(uuid.uuid4()),
        "base_version": None,
        "data": {"a": 1, "b": None, "c": [1, {"d": "e"}]},
    }
    missing = object()
    fast_count = 0
    bodies = [good, {k: v for k, v in good.items() if k in ("op_id", "type", "id")}]
    for key in list(good):
        for edit in (missing, None, "", " ", 0, 1, -1, True, 2.5, "3", [], {}, "delete", "x", str(uuid.uuid4())):
            body = dict(good)
            if edit is missing:
                body.pop(key)
            else:
                body[key] = edit
            bodies.append(body)
    bodies.append({**good, "extra": 1})
    for body in bodies:
        fast = parser.fast.parse(body)
        serializer = OperationSerializer(data=body)
        drf = dict(serializer.validated_data) if serializer.is_valid() else None
        if fast is not None:
            assert drf is not None, body
            assert _norm(fast) == _norm(drf), body
            fast_count += 1
        # And the envelope as the push parses it: same values and errors as DRF alone.
        values, errors = parser.validate(body)
        assert _norm(values) == _norm(drf or {})
        assert bool(errors) == (drf is None)
    assert fast_count >= 10
    assert parser.fast.parse({**good, "extra": 1}) is None
    assert parser.fast.parse(good) is not None


def test_a_serializer_with_its_own_to_internal_value_is_never_fast():
    class Own(serializers.Serializer):
        name = serializers.CharField()

        def to_internal_value(self, data):
            return {"name": "changed"}

    class Plain(serializers.Serializer):
        name = serializers.CharField(max_length=3)

    assert FastParser(Own()).parse({"name": "x"}) is None
    assert FastParser(Plain()).parse({"name": " ab "}) == {"name": "ab"}
    assert FastParser(Plain()).parse({"name": "abcd"}) is None
    assert FastParser(Plain(partial=True)).parse({"name": "ab"}) is None
