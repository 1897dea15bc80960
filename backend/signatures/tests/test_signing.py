"""Signing surveys and inspections through the service: slots, required signers, locking,
offline times, witnesses, refusals that leave nothing behind, voiding on reopen."""

import datetime as dt

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from backend.acceptance.models import Inspection, InspectionItem
from backend.acceptance.services import inspection_reopen
from backend.acceptance.tests.factories import department_user
from backend.audit.models import AuditEntry
from backend.common.errors import Conflict, PermissionDenied, RecordLocked, ValidationFailed
from backend.evidence.images import UnsupportedImage
from backend.evidence.models import Blob
from backend.evidence.tests.imaging import jpeg_bytes
from backend.signatures.content import record_content_hash
from backend.signatures.models import Signature, SignatureStatus
from backend.signatures.services import signature_create, signature_verify, signatures_void_for_record
from backend.signatures.tests.factories import official_of, resulted_inspection, sign, submitted_survey
from backend.surveys import services as survey_services
from backend.surveys.models import Survey, SurveyParticipant, SurveyStatus
from backend.surveys.tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_survey_locks_only_after_the_last_attending_department_signs():
    survey, (first, second), (waived,) = submitted_survey(attending=2, absent=1)

    sign("survey", survey, official_of(first), seed=1)
    after_first = Survey.objects.get(pk=survey.pk)
    assert (after_first.status, after_first.is_locked) == ("submitted", False)

    sign("survey", survey, official_of(second), seed=2)
    after_last = Survey.objects.get(pk=survey.pk)
    assert (after_last.status, after_last.is_locked) == ("signed", True)
    assert list(SurveyParticipant.objects.filter(survey=survey).values_list("is_locked", flat=True)) == [
        True,
        True,
        True,
    ]
    assert Signature.objects.filter(record_id=survey.pk, status="valid").count() == 2
    # Locking changed only what the hash leaves out: both signatures still verify.
    assert [signature_verify(signature=s)["valid"] for s in Signature.objects.filter(record_id=survey.pk)] == [
        True,
        True,
    ]
    assert waived.pk not in set(Signature.objects.values_list("department_id", flat=True))


def test_waived_department_is_not_a_signer_and_nothing_is_stored():
    survey, _present, (waived,) = submitted_survey(attending=1, absent=1)
    blobs = Blob.objects.count()
    with pytest.raises(ValidationFailed) as error:
        sign("survey", survey, official_of(waived))
    assert error.value.code == "not_a_signer"
    assert Signature.objects.count() == 0
    assert Blob.objects.count() == blobs


def test_builder_signs_optionally_after_the_survey_locked():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    sign("survey", survey, official_of(department))
    assert Survey.objects.get(pk=survey.pk).is_locked is True
    builder = official_of(survey.case.project.builder)
    signature = sign("survey", survey, builder, seed=5, signer_role="建设单位代表")
    assert (signature.department_id, signature.signer_role) == (survey.case.project.builder_id, "建设单位代表")
    assert signature_verify(signature=signature)["valid"] is True


def test_second_signature_for_a_filled_slot_is_refused():
    survey, (first, _second), _ = submitted_survey(attending=2, absent=0)
    user = official_of(first)
    sign("survey", survey, user)
    with pytest.raises(Conflict) as error:
        sign("survey", survey, official_of(first), seed=3)
    assert error.value.code == "already_signed"
    assert Signature.objects.filter(department=first).count() == 1


def test_survey_must_be_submitted():
    survey = SurveyFactory(status=SurveyStatus.IN_PROGRESS)
    department = survey.case.project.builder
    with pytest.raises(Conflict) as error:
        sign("survey", survey, official_of(department))
    assert (error.value.code, error.value.extra) == ("not_ready_for_signing", {"status": "in_progress"})
    assert Signature.objects.count() == 0


def test_inspection_locks_after_every_item_department_signed():
    inspection, departments = resulted_inspection(stage=2)
    assert len(departments) == 3
    for number, department in enumerate(departments[:-1]):
        sign("inspection", inspection, department_user(department), seed=number)
        assert Inspection.objects.get(pk=inspection.pk).is_locked is False
    sign("inspection", inspection, department_user(departments[-1]), seed=9)
    stored = Inspection.objects.get(pk=inspection.pk)
    assert (stored.status, stored.is_locked) == ("signed", True)
    assert set(InspectionItem.objects.filter(inspection=inspection).values_list("is_locked", flat=True)) == {True}
    assert all(signature_verify(signature=s)["valid"] for s in Signature.objects.filter(record_id=inspection.pk))


def test_inspection_needs_complete_results():
    from backend.acceptance.tests.factories import make_inspection

    inspection, departments = make_inspection(stage=2)
    with pytest.raises(Conflict) as error:
        sign("inspection", inspection, department_user(next(iter(departments.values()))))
    assert error.value.code == "not_ready_for_signing"
    assert Signature.objects.count() == 0


def test_offline_signature_keeps_device_time_and_gets_server_time():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    device_time = dt.datetime(2026, 4, 8, 11, 40, 12, tzinfo=SHANGHAI)
    before = timezone.now()
    signature = sign(
        "survey", survey, official_of(department), device_signed_at=device_time, location=Point(120.17, 35.96)
    )
    stored = Signature.objects.get(pk=signature.pk)
    assert stored.device_signed_at == device_time
    assert before <= stored.signed_at <= timezone.now()
    assert stored.location.coords == (120.17, 35.96)
    assert signature_verify(signature=stored)["valid"] is True


def test_device_time_in_the_future_is_refused():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    with pytest.raises(ValidationFailed):
        sign("survey", survey, official_of(department), device_signed_at=timezone.now() + dt.timedelta(hours=1))
    assert Signature.objects.count() == 0


def test_named_person_signs_on_an_officials_device_as_witnessed():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    official = official_of(department)
    builder = survey.case.project.builder
    signature = sign(
        "survey",
        survey,
        official,
        department=builder,
        signer_name="陈志强",
        signer_role="建设单位代表",
    )
    assert (signature.signer_name, signature.signer_user_id, signature.witness_id, signature.department_id) == (
        "陈志强",
        None,
        official.pk,
        builder.pk,
    )
    assert signature.signer_organization_id == builder.pk


def test_signing_for_another_department_as_oneself_is_refused():
    survey, (first, second), _ = submitted_survey(attending=2, absent=0)
    with pytest.raises(ValidationFailed) as error:
        sign("survey", survey, official_of(first), department=second)
    assert error.value.code == "department_not_yours"
    assert Signature.objects.count() == 0


def test_a_reader_may_not_witness():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    builder_user = official_of(survey.case.project.builder)
    with pytest.raises(PermissionDenied):
        sign("survey", survey, builder_user, department=department, signer_name="某人")
    assert Signature.objects.count() == 0


def test_image_must_be_a_png_and_nothing_is_stored():
    from django.core.files.uploadedfile import SimpleUploadedFile

    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    blobs = Blob.objects.count()
    with pytest.raises(UnsupportedImage):
        signature_create(
            by=official_of(department),
            record_type="survey",
            target_id=survey.pk,
            image=SimpleUploadedFile("s.jpg", jpeg_bytes(), content_type="image/png"),
        )
    assert (Signature.objects.count(), Blob.objects.count()) == (0, blobs)


def test_strokes_are_bounded():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    with pytest.raises(ValidationFailed) as error:
        sign("survey", survey, official_of(department), strokes=[[[1, 2, "x"]]])
    assert error.value.errors == {"strokes": ["Each point is [x, y] or [x, y, t] of finite numbers."]}
    signature = sign("survey", survey, official_of(department), strokes=[[[1, 2], [3, 4.5, 120]]])
    assert signature.strokes == [[[1, 2], [3, 4.5, 120]]]


def test_change_after_signing_is_detected_as_record_changed():
    survey, (first, _second), _ = submitted_survey(attending=2, absent=0)
    signature = sign("survey", survey, official_of(first))
    assert signature_verify(signature=signature)["valid"] is True
    # Bypass the services (and the lock) as a tampering database user would.
    Survey.objects.filter(pk=survey.pk).update(minutes="纪要：不同意选址。")
    outcome = signature_verify(signature=signature)
    assert (outcome["valid"], outcome["reason"]) == (False, "record_changed")
    assert outcome["current_hash"] == record_content_hash(record_type="survey", record=survey)


def test_child_row_change_is_detected():
    inspection, departments = resulted_inspection(stage=2)
    signature = sign("inspection", inspection, department_user(departments[0]))
    InspectionItem.objects.filter(inspection=inspection, department=departments[1]).update(remarks="改过的备注")
    assert signature_verify(signature=signature)["reason"] == "record_changed"


def test_tampered_signature_row_is_a_bad_signature():
    survey, (first, _second), _ = submitted_survey(attending=2, absent=0)
    signature = sign("survey", survey, official_of(first))
    Signature.objects.filter(pk=signature.pk).update(signer_name="冒名者")
    assert signature_verify(signature=signature)["reason"] == "bad_signature"


def test_signed_survey_refuses_edits():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    sign("survey", survey, official_of(department))
    with pytest.raises(RecordLocked):
        survey_services.survey_update(
            instance=Survey.objects.get(pk=survey.pk), changes={"minutes": "改"}, by=official_of(department)
        )
    assert Survey.objects.get(pk=survey.pk).minutes == "纪要：同意选址。"


def test_reopening_through_the_service_voids_and_audits_the_signatures():
    # No entry point passes a hook: the record kernel's reopen listeners (the signatures app) void.
    inspection, departments = resulted_inspection(stage=2)
    for number, department in enumerate(departments):
        sign("inspection", inspection, department_user(department), seed=number)
    official = official_of(departments[0])
    inspection_reopen(inspection=Inspection.objects.get(pk=inspection.pk), by=official, reason="整改后重新验收")
    signatures = list(Signature.objects.filter(record_id=inspection.pk))
    assert {(s.status, s.void_reason) for s in signatures} == {(SignatureStatus.VOIDED, "reopened")}
    assert all(s.voided_at is not None for s in signatures)
    assert [signature_verify(signature=s)["reason"] for s in signatures] == ["voided"] * 3
    entries = AuditEntry.objects.filter(record_type="signature", action="void")
    assert entries.count() == 3
    assert {entry.actor_id for entry in entries} == {official.pk}
    assert Inspection.objects.get(pk=inspection.pk).is_locked is False
    # Slots are free again: the departments may sign the reopened (and re-resulted) record.
    assert signatures_void_for_record(record=inspection, reason="again") == 0


def test_change_between_signatures_voids_the_earlier_ones_before_locking():
    survey, (first, second), _ = submitted_survey(attending=2, absent=0)
    early = sign("survey", survey, official_of(first), seed=1)
    survey_services.survey_update(
        instance=Survey.objects.get(pk=survey.pk), changes={"minutes": "纪要：补充意见。"}, by=official_of(first)
    )
    sign("survey", survey, official_of(second), seed=2)
    early.refresh_from_db()
    assert (early.status, early.void_reason) == ("voided", "record_changed")
    stored = Survey.objects.get(pk=survey.pk)
    # The first department's slot is open again: the survey waits for it.
    assert (stored.status, stored.is_locked) == ("submitted", False)
    again = sign("survey", survey, official_of(first), seed=3)
    assert Survey.objects.get(pk=survey.pk).is_locked is True
    valid = Signature.objects.filter(record_id=survey.pk, status="valid")
    assert {s.content_hash for s in valid} == {again.content_hash}
    assert AuditEntry.objects.filter(record_type="signature", record_id=early.pk, action="void").count() == 1
