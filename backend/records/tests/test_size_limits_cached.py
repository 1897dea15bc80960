"""record_check_text_sizes keeps each field's limit once per model, and forgets it when the
settings it comes from change (override_settings), so the limit checked is always the current one."""

import pytest
from django.db import models
from django.test import override_settings

from backend.common.errors import ValidationFailed
from backend.records.services import record_check_text_sizes
from backend.surveys.models import Finding

JSON_FIELD = next(f.name for f in Finding._meta.concrete_fields if isinstance(f, models.JSONField))
TEXT_FIELD = "description"


def refusal(values):
    try:
        record_check_text_sizes(model=Finding, values=values)
    except ValidationFailed as error:
        return error.errors
    return None


def test_limits_follow_the_settings_each_time():
    big_json = {"k": "x" * 100}  # 108 bytes of canonical JSON
    assert refusal({JSON_FIELD: big_json, TEXT_FIELD: "y" * 20, "not_a_field": "z" * 10**6}) is None
    with override_settings(RECORD_JSON_MAX_BYTES=60, RECORD_JSON_MAX_BYTES_BY_FIELD={}):
        assert refusal({JSON_FIELD: big_json}) == {JSON_FIELD: ["At most 60 bytes of JSON (this has 108)."]}
    assert refusal({JSON_FIELD: big_json}) is None
    with override_settings(RECORD_TEXT_MAX_CHARS=10, RECORD_TEXT_MAX_CHARS_BY_FIELD={}):
        assert refusal({TEXT_FIELD: "y" * 20, JSON_FIELD: big_json}) == {
            TEXT_FIELD: ["At most 10 characters (this has 20)."]
        }
        assert refusal({TEXT_FIELD: 12345678901}) is None  # not text: no character limit
    assert refusal({TEXT_FIELD: "y" * 20}) is None
    with override_settings(RECORD_TEXT_MAX_CHARS_BY_FIELD={f"finding.{TEXT_FIELD}": 5}):
        assert refusal({TEXT_FIELD: "y" * 6}) == {TEXT_FIELD: ["At most 5 characters (this has 6)."]}
    assert refusal({TEXT_FIELD: "y" * 6}) is None


def test_default_limits():
    with pytest.raises(ValidationFailed) as raised:
        record_check_text_sizes(model=Finding, values={TEXT_FIELD: "y" * 10_001})
    assert raised.value.errors == {TEXT_FIELD: ["At most 10000 characters (this has 10001)."]}
