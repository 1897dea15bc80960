"""The field-record services themselves (backend.records), on a concrete record type."""

import datetime as dt
import uuid

import pytest
from django.contrib.gis.geos import Point

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory, user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.common.errors import (
    IdConflict,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    RecordLocked,
    ValidationFailed,
    VersionMismatch,
)
from backend.records.registry import RECORD_TYPES, record_type_of
from backend.records.services import (
    payload_digest,
    record_can_write_case,
    record_check_can_write,
    record_create,
    record_delete,
    record_reopen,
    record_sign_off,
    record_snapshot,
    record_transition,
    record_update,
)
from backend.surveys.models import Survey

AT = dt.datetime(2026, 3, 10, 1, 30, tzinfo=dt.UTC)
ALLOWED = {"scheduled": {"in_progress"}, "in_progress": {"submitted"}, "signed": {"closed"}}


@pytest.fixture
def case():
    return ApprovalCaseFactory()


@pytest.fixture
def official():
    return UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
        roles=[Role.OFFICIAL],
    )


def _create(case, official, record_id=None, summary="概况"):
    fields = {"case": case, "scheduled_at": AT, "summary": summary}
    digest = payload_digest({"case": str(case.pk), "summary": summary})
    return record_create(model=Survey, fields=fields, by=official, record_id=record_id, digest=digest)


@pytest.mark.django_db
def test_create_replays_same_content_and_refuses_other_content(case, official):
    record_id = uuid.uuid4()
    first, created = _create(case, official, record_id)
    again, created_again = _create(case, official, record_id)
    assert (created, created_again, again.pk, again.version) == (True, False, record_id, 1)
    with pytest.raises(IdConflict):
        _create(case, official, record_id, summary="其他")
    assert Survey.all_objects.count() == 1
    assert AuditEntry.objects.filter(record_id=record_id).count() == 1


@pytest.mark.django_db
def test_update_counts_only_real_changes_and_tracks_field_versions(case, official):
    survey, _ = _create(case, official)
    same = record_update(instance=survey, changes={"summary": "概况"}, by=official)
    assert same.version == 1
    changed = record_update(instance=survey, changes={"minutes": "纪要", "summary": "概况"}, by=official)
    changed = record_update(instance=changed, changes={"summary": "新概况"}, by=official)
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.version, stored.field_versions) == (3, {"minutes": 2, "summary": 3})
    assert AuditEntry.objects.filter(record_id=survey.pk).count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["version", "created_by", "is_locked", "deleted_at", "field_versions"])
def test_update_refuses_system_fields(case, official, field):
    survey, _ = _create(case, official)
    with pytest.raises(ValidationFailed) as raised:
        record_update(instance=survey, changes={field: None}, by=official)
    assert raised.value.code == "read_only_field"
    assert Survey.objects.get(pk=survey.pk).version == 1


@pytest.mark.django_db
def test_update_refuses_a_stale_version_without_change(case, official):
    survey, _ = _create(case, official)
    record_update(instance=survey, changes={"minutes": "一"}, by=official, expected_version=1)
    with pytest.raises(VersionMismatch):
        record_update(instance=survey, changes={"minutes": "二"}, by=official, expected_version=1)
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.version, stored.minutes) == (2, "一")
    assert AuditEntry.objects.filter(record_id=survey.pk).count() == 2


@pytest.mark.django_db
def test_locked_and_deleted_records_refuse_changes(case, official):
    locked, _ = _create(case, official)
    record_sign_off(instance=locked, by=official)
    with pytest.raises(RecordLocked):
        record_update(instance=locked, changes={"minutes": "x"}, by=official)
    with pytest.raises(RecordLocked):
        record_delete(instance=locked, by=official)
    deleted, _ = _create(case, official, summary="删")
    record_delete(instance=deleted, by=official)
    with pytest.raises(ValidationFailed) as raised:
        record_update(instance=deleted, changes={"minutes": "x"}, by=official)
    assert (raised.value.code, raised.value.status) == ("record_deleted", 410)
    with pytest.raises(ValidationFailed):
        record_sign_off(instance=deleted, by=official)
    assert Survey.all_objects.get(pk=deleted.pk).is_locked is False
    assert not Survey.objects.filter(pk=deleted.pk).exists()


@pytest.mark.django_db
def test_reopen_needs_a_locked_record_and_a_reason(case, official):
    survey, _ = _create(case, official)
    with pytest.raises(ValidationFailed) as not_locked:
        record_reopen(instance=survey, by=official, reason="原因")
    assert (not_locked.value.code, not_locked.value.status) == ("record_not_locked", 409)
    locked = record_sign_off(instance=survey, by=official)
    assert (locked.is_locked, locked.version, locked.updated_by_id) == (True, 2, official.pk)
    reopened = record_reopen(instance=locked, by=official, reason="更正")
    assert (reopened.is_locked, reopened.version) == (False, 3)


@pytest.mark.django_db
def test_transition_rereads_the_status_under_the_row_lock(case, official):
    survey, _ = _create(case, official)
    stale = Survey.objects.get(pk=survey.pk)
    record_transition(instance=survey, field_name="status", to="in_progress", allowed=ALLOWED, by=official)
    # `stale` still says scheduled; the committed row says in_progress, so in_progress is refused.
    with pytest.raises(IllegalTransition) as raised:
        record_transition(instance=stale, field_name="status", to="in_progress", allowed=ALLOWED, by=official)
    assert raised.value.extra == {"from": "in_progress", "to": "in_progress"}
    assert Survey.objects.get(pk=survey.pk).version == 2


@pytest.mark.django_db
def test_transition_of_a_locked_record_needs_allow_locked(case, official):
    survey, _ = _create(case, official)
    signed = record_sign_off(instance=survey, by=official, changes={"status": "signed"})
    with pytest.raises(RecordLocked):
        record_transition(instance=signed, field_name="status", to="closed", allowed=ALLOWED, by=official)
    closed = record_transition(
        instance=signed, field_name="status", to="closed", allowed=ALLOWED, by=official, allow_locked=True
    )
    assert (closed.status, closed.is_locked, closed.version) == ("closed", True, 3)


@pytest.mark.django_db
def test_who_may_write_a_case(case, official):
    outsider = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370202"),
        roles=[Role.OFFICIAL],
    )
    builder = UserFactory(organization=case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])
    crew = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    case.assigned_organizations.add(crew.organization)
    admin = UserFactory(organization=None, roles=[Role.ADMINISTRATOR])
    record_check_can_write(user=official, case=case)
    record_check_can_write(user=crew, case=case)
    record_check_can_write(user=admin, case=case)
    record_check_can_write(user=None, case=case)
    with pytest.raises(NotFound):
        record_check_can_write(user=outsider, case=case)
    with pytest.raises(PermissionDenied):
        record_check_can_write(user=builder, case=case)
    assert record_can_write_case(user=builder, case=case) is False


@pytest.mark.django_db
def test_snapshot_is_json_ready(case, official):
    survey, _ = _create(case, official)
    survey = record_update(instance=survey, changes={"location": Point(120.17, 35.96, srid=4326)}, by=official)
    snapshot = record_snapshot(survey)
    assert snapshot["location"] == {"type": "Point", "coordinates": [120.17, 35.96]}
    assert snapshot["id"] == str(survey.pk)
    assert snapshot["case_id"] == str(case.pk)
    assert snapshot["scheduled_at"] == "2026-03-10T01:30:00+00:00"


def test_survey_record_types_are_registered():
    assert {"survey", "survey_participant", "finding"} <= set(RECORD_TYPES)
    assert RECORD_TYPES["survey"].model is Survey
    assert record_type_of(Survey()) == "survey"
