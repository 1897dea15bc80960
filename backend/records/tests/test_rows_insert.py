"""backend.common.rows.rows_insert stores what bulk_create stores, and the database refuses what it
refuses; the audit snapshot's shortcuts give the same values."""

import datetime as dt
import json
import uuid

import pytest
from django.contrib.gis.geos import LineString, Point, Polygon
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from backend.accounts.tests.factories import UserFactory
from backend.audit.models import AuditChain, AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.common.rows import rows_insert
from backend.records.services import _jsonable
from backend.surveys.models import Survey
from backend.sync.models import SyncReceipt

pytestmark = pytest.mark.django_db
AT = dt.datetime(2026, 3, 10, 1, 30, tzinfo=dt.UTC)


def _survey(case, **fields):
    survey = Survey(case=case, scheduled_at=AT, **fields)
    survey.pk = uuid.uuid4()
    survey.version = 1
    survey.created_at = survey.updated_at = AT
    survey.field_versions = {"summary": 1}
    return survey


def _stored(survey_id):
    return {key: value for key, value in Survey.all_objects.filter(pk=survey_id).values()[0].items() if key != "id"}


def test_rows_are_stored_as_bulk_create_stores_them():
    case = ApprovalCaseFactory()
    fields = {"summary": "概况 'quoted' \"double\" {braces}, commas", "location": Point(120.17, 35.96, srid=4326)}
    ours, theirs = _survey(case, **fields), _survey(case, **fields)
    nulls_ours, nulls_theirs = _survey(case, summary="NULL"), _survey(case, summary="NULL")
    tricky = ["", " ", "\\", '\\"', "a\nb\tc", "{}", "NULL", "null", '"', "é 踏勘 🚧", "x\\\\y"]
    tricky_ours = [_survey(case, summary=text, conditions=text) for text in tricky]
    tricky_theirs = [_survey(case, summary=text, conditions=text) for text in tricky]
    for survey in tricky_ours + tricky_theirs:
        survey.field_versions = {"summary": 1, "text": survey.summary, "n": 1.5, "ok": True, "none": None}
    rows_insert(Survey, tricky_ours)
    Survey.all_objects.bulk_create(tricky_theirs)
    for ours_one, theirs_one, text in zip(tricky_ours, tricky_theirs, tricky, strict=True):
        assert _stored(ours_one.pk) == _stored(theirs_one.pk)
        assert _stored(ours_one.pk)["summary"] == text
    rows_insert(Survey, [ours, nulls_ours])
    Survey.all_objects.bulk_create([theirs, nulls_theirs])
    assert _stored(ours.pk) == _stored(theirs.pk)
    assert _stored(nulls_ours.pk) == _stored(nulls_theirs.pk)
    assert _stored(nulls_ours.pk)["location"] is None
    assert not ours._state.adding


def test_database_assigned_columns_are_left_to_it_and_read_back_in_order():
    entries = [
        AuditEntry(
            occurred_at=timezone.now(),
            action="create",
            record_type="survey",
            record_id=uuid.uuid4(),
            after={"n": index, "text": 'a,b"c'},
            prev_hash="0" * 64,
            hash=uuid.uuid4().hex * 2,
            chain=AuditChain.RECORD,
        )
        for index in range(5)
    ]
    rows_insert(AuditEntry, entries)
    ids = [entry.id for entry in entries]
    assert ids == sorted(ids)
    stored = {entry.id: entry for entry in AuditEntry.objects.filter(pk__in=ids)}
    assert [stored[i].after["n"] for i in ids] == list(range(5))
    assert all(stored[entry.id].txid == entry.txid and entry.txid > 0 for entry in entries)


def test_an_auto_now_add_field_is_filled_as_bulk_create_fills_it():
    receipt = SyncReceipt(
        user=UserFactory(), op_id=uuid.uuid4(), record_type="survey", action="create", op_digest="d", status="applied"
    )
    rows_insert(SyncReceipt, [receipt])
    assert SyncReceipt.objects.get(pk=receipt.pk).created_at == receipt.created_at


def test_the_database_refuses_what_it_refuses_from_bulk_create():
    case = ApprovalCaseFactory()
    existing = _survey(case)
    rows_insert(Survey, [existing])
    again = _survey(case)
    again.pk = existing.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(Survey, [_survey(case), again])
    with pytest.raises(DataError), transaction.atomic():  # too long for varchar(32): refused, not cut
        rows_insert(Survey, [_survey(case, conclusion="x" * 33)])
    negative = _survey(case)
    negative.version = -1
    with pytest.raises(IntegrityError), transaction.atomic():  # the positive version's check constraint
        rows_insert(Survey, [negative])


def test_a_geometry_in_another_srid_is_transformed_as_bulk_create_transforms_it():
    case = ApprovalCaseFactory()
    mercator = Point(13377000.0, 4291000.0, srid=3857)
    ours, theirs = _survey(case, location=mercator.clone()), _survey(case, location=mercator.clone())
    rows_insert(Survey, [ours])
    Survey.all_objects.bulk_create([theirs])
    assert _stored(ours.pk)["location"].srid == 4326
    assert _stored(ours.pk) == _stored(theirs.pk)


@pytest.mark.parametrize(
    "location",
    [
        Point(120.17123456789012, 35.96, srid=4326),
        Point(120.1, 35.9),  # no SRID: the field's
        "SRID=4326;POINT (120.5 35.5)",  # text, which the field turns into a geometry
        "POINT (120.25 35.25)",
        None,
    ],
    ids=["4326", "no-srid", "ewkt", "wkt", "null"],
)
def test_a_geometry_column_is_stored_as_bulk_create_stores_it(location):
    case = ApprovalCaseFactory()
    copy = location.clone() if hasattr(location, "clone") else location
    ours, theirs = _survey(case, location=location), _survey(case, location=copy)
    others = [_survey(case, location=Point(121.0, 36.0, srid=4326)), _survey(case)]  # one statement, mixed rows
    rows_insert(Survey, [ours, *others])
    Survey.all_objects.bulk_create([theirs])
    assert _stored(ours.pk) == _stored(theirs.pk)
    stored = _stored(ours.pk)["location"]
    if location is not None:
        assert stored.srid == 4326
    assert _stored(others[0].pk)["location"] == Point(121.0, 36.0, srid=4326)
    assert _stored(others[1].pk)["location"] is None


@pytest.mark.parametrize(
    "geometry",
    [
        Point(120.17123456789012, 35.96, srid=4326),
        Point(120.1, 35.9, 12.25, srid=4326),
        LineString((120.0, 35.0), (120.000000000000014, 35.5), srid=4326),
        Polygon(((0, 0), (0, 1.123456789), (1, 1), (0, 0)), srid=4326),
    ],
)
def test_a_snapshots_geometry_is_the_geojson_django_writes(geometry):
    assert _jsonable(geometry) == json.loads(geometry.geojson)


def test_values_a_field_converts_are_converted_as_bulk_create_converts_them():
    """Plain values are sent as they are; others (a UUID as text, a naive datetime, a date where
    a datetime goes, a choice enum, an int as text, a date as text) take the field's own way."""
    from backend.surveys.models import SurveyStatus

    case = ApprovalCaseFactory()
    naive = dt.datetime(2026, 3, 10, 9, 30)  # noqa: DTZ001 - the field makes it aware (with a warning)

    def odd(survey):
        survey.case_id = str(case.pk).upper()
        survey.scheduled_at = naive
        survey.started_at = dt.date(2026, 3, 11)
        survey.status = SurveyStatus.SCHEDULED
        survey.version = "2"
        survey.updated_at = "2026-03-12T08:00:00+08:00"
        return survey

    ours, theirs = odd(_survey(case)), odd(_survey(case))
    with pytest.warns(RuntimeWarning):
        rows_insert(Survey, [ours])
    with pytest.warns(RuntimeWarning):
        Survey.all_objects.bulk_create([theirs])
    stored = _stored(ours.pk)
    assert stored == _stored(theirs.pk)
    assert stored["case_id"] == case.pk and stored["version"] == 2 and stored["status"] == "scheduled"
    assert stored["started_at"] == dt.datetime(2026, 3, 10, 16, 0, tzinfo=dt.UTC)  # midnight, Asia/Shanghai
    with pytest.raises(Exception) as ours_error, transaction.atomic():
        bad = _survey(case)
        bad.is_locked = None  # a non-null BooleanField refuses None on the way in, not in the database
        rows_insert(Survey, [bad])
    with pytest.raises(Exception) as theirs_error, transaction.atomic():
        bad = _survey(case)
        bad.is_locked = None
        Survey.all_objects.bulk_create([bad])
    assert type(ours_error.value) is type(theirs_error.value)
