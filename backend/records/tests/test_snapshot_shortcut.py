"""record_snapshot's shortcuts (a plain field's loaded value read from the instance, plain values
kept as they are) give what reading every field with getattr and _jsonable gives."""

import datetime as dt
import decimal
import uuid

import pytest
from django.contrib.gis.geos import Point

from backend.cases.tests.factories import ApprovalCaseFactory
from backend.records.services import _jsonable, record_snapshot
from backend.surveys.models import Finding, Survey

pytestmark = pytest.mark.django_db


def _reference(instance):
    return {field.attname: _jsonable(getattr(instance, field.attname)) for field in instance._meta.concrete_fields}


def test_a_snapshot_is_every_field_through_getattr_and_jsonable():
    case = ApprovalCaseFactory()
    at = dt.datetime(2026, 3, 10, 1, 30, tzinfo=dt.UTC)
    point = Survey(
        pk=uuid.uuid4(), case=case, scheduled_at=at, summary='界 "q"', location=Point(120.1, 35.9, srid=4326)
    )
    as_text = Survey(case=case, scheduled_at=at, location="SRID=4326;POINT(120.2 35.8)")  # the proxy parses it
    empty = Survey(case=case, scheduled_at=at, location=None)
    finding = Finding(case=case, survey=point, description="d", due_date=dt.date(2026, 4, 1))
    for instance in (point, as_text, empty, finding):
        instance.pk = instance.pk or uuid.uuid4()
        instance.field_versions = {"summary": 2, "nested": [1, decimal.Decimal("1.5")]}
        snapshot = record_snapshot(instance)
        assert snapshot == _reference(instance)
        assert list(snapshot) == list(_reference(instance))
    assert record_snapshot(as_text)["location"] == {"type": "Point", "coordinates": [120.2, 35.8]}
    assert record_snapshot(finding)["due_date"] == "2026-04-01"
    assert record_snapshot(finding)["survey_id"] == str(point.pk)

    point.field_versions = {"summary": 2}
    point.save()
    loaded = Survey.objects.get(pk=point.pk)
    assert record_snapshot(loaded) == _reference(loaded)
    deferred = Survey.objects.only("id").get(pk=point.pk)  # deferred fields are loaded by getattr
    assert record_snapshot(deferred) == _reference(loaded)
