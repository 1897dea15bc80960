import pytest

from backend.acceptance.models import (
    Inspection,
    InspectionItem,
    InspectionResult,
    InspectionStatus,
    RectificationItem,
    RectificationStatus,
)
from backend.acceptance.services import (
    inspection_item_record_result,
    inspection_item_update,
    inspection_mark_signed,
    inspection_reinspect,
    inspection_reopen,
    inspection_update,
    rectification_create,
    rectification_transition,
)
from backend.acceptance.tests.factories import department_user, make_inspection
from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.common.errors import (
    Conflict,
    IllegalTransition,
    PermissionDenied,
    RecordLocked,
    ValidationFailed,
    VersionMismatch,
)

pytestmark = pytest.mark.django_db


def _item(inspection: Inspection, code: str) -> InspectionItem:
    return InspectionItem.objects.get(inspection=inspection, code=code)


def _record_all(inspection: Inspection, departments, result: str = InspectionResult.PASS, **overrides) -> None:
    for code, organization in departments.items():
        inspection_item_record_result(
            item=_item(inspection, code), result=overrides.get(code, result), by=department_user(organization)
        )


def test_the_department_records_its_result():
    inspection, departments = make_inspection(stage=2)
    user = department_user(departments["lightning_protection"])

    item = inspection_item_record_result(
        item=_item(inspection, "lightning_protection"), result=InspectionResult.PASS, remarks="合格", by=user
    )

    assert (item.result, item.remarks, item.recorded_by, item.is_final, item.version) == (
        InspectionResult.PASS,
        "合格",
        user,
        True,
        3,  # the result, then finality
    )
    assert item.recorded_at is not None
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.IN_PROGRESS


def test_another_department_cannot_record_the_result():
    inspection, departments = make_inspection(stage=2)
    other = department_user(departments["telecom_infrastructure"])
    item = _item(inspection, "lightning_protection")

    with pytest.raises(PermissionDenied):
        inspection_item_record_result(item=item, result=InspectionResult.PASS, by=other)

    item.refresh_from_db()
    assert (item.result, item.version, item.recorded_at) == (InspectionResult.PENDING, 1, None)


def test_an_administrator_may_record_any_result_but_pending_is_not_a_result():
    inspection, _ = make_inspection(stage=2)
    admin = UserFactory(organization=None, is_superuser=True)
    item = _item(inspection, "lightning_protection")

    with pytest.raises(ValidationFailed) as raised:
        inspection_item_record_result(item=item, result=InspectionResult.PENDING, by=admin)
    assert raised.value.code == "invalid_result"

    recorded = inspection_item_record_result(item=item, result=InspectionResult.FILED, by=admin)
    assert (recorded.result, recorded.is_final) == (InspectionResult.FILED, True)


def test_stale_expected_version_is_refused():
    inspection, departments = make_inspection(stage=2)
    item = _item(inspection, "lightning_protection")

    with pytest.raises(VersionMismatch) as raised:
        inspection_item_update(
            instance=item,
            changes={"result": InspectionResult.PASS},
            by=department_user(departments["lightning_protection"]),
            expected_version=7,
        )

    assert raised.value.code == "version_mismatch"
    item.refresh_from_db()
    assert item.result == InspectionResult.PENDING


def test_results_complete_only_when_every_item_is_final():
    inspection, departments = make_inspection(stage=2)

    _record_all(inspection, {k: v for k, v in departments.items() if k != "lightning_protection"})
    inspection.refresh_from_db()
    assert (inspection.status, inspection.results_complete) == (InspectionStatus.IN_PROGRESS, False)

    inspection_item_record_result(
        item=_item(inspection, "lightning_protection"),
        result=InspectionResult.FAIL,
        by=department_user(departments["lightning_protection"]),
    )
    inspection.refresh_from_db()
    assert (inspection.status, inspection.results_complete) == (InspectionStatus.IN_PROGRESS, False)
    assert _item(inspection, "lightning_protection").is_final is False

    inspection_item_record_result(
        item=_item(inspection, "lightning_protection"),
        result=InspectionResult.FILED,
        by=department_user(departments["lightning_protection"]),
    )
    inspection.refresh_from_db()
    assert (inspection.status, inspection.results_complete) == (InspectionStatus.RESULTS_COMPLETE, True)


def test_fail_rectify_reinspect_pass_makes_the_failed_item_final():
    inspection, departments = make_inspection(stage=2)
    fire_like = departments["lightning_protection"]
    department = department_user(fire_like)
    _record_all(inspection, departments, lightning_protection=InspectionResult.FAIL)
    failed = _item(inspection, "lightning_protection")

    rectification, created = rectification_create(
        by=department, inspection_item=failed, description="避雷带未闭合", due_date=None
    )
    assert (created, rectification.status, rectification.case_id) == (True, "open", inspection.case_id)

    with pytest.raises(Conflict) as raised:
        inspection_reinspect(inspection=inspection, by=None)
    assert raised.value.code == "rectifications_open"
    assert Inspection.objects.count() == 1

    builder = user_of_kind(OrganizationKind.BUILDER)
    rectification = rectification_transition(rectification=rectification, to=RectificationStatus.FIXED, by=builder)
    assert rectification.fixed_at is not None

    reinspection, created = inspection_reinspect(inspection=inspection, by=None)
    assert created is True
    assert reinspection.reinspection_of == inspection
    assert reinspection.stage == 2
    items = list(reinspection.items.all())
    assert [(i.code, i.department_id, i.reinspection_of_id) for i in items] == [
        ("lightning_protection", fire_like.pk, failed.pk)
    ]
    with pytest.raises(Conflict) as raised:
        inspection_reinspect(inspection=inspection, by=None)
    assert raised.value.code == "nothing_to_reinspect"

    inspection_item_record_result(item=items[0], result=InspectionResult.PASS, by=department)
    failed.refresh_from_db()
    inspection.refresh_from_db()
    assert failed.is_final is False  # the rectification is not verified yet
    assert inspection.status == InspectionStatus.IN_PROGRESS

    verified = rectification_transition(rectification=rectification, to=RectificationStatus.VERIFIED, by=department)
    assert (verified.status, verified.verified_by) == (RectificationStatus.VERIFIED, department)
    failed.refresh_from_db()
    inspection.refresh_from_db()
    reinspection.refresh_from_db()
    assert failed.is_final is True
    assert failed.result == InspectionResult.FAIL
    assert inspection.status == InspectionStatus.RESULTS_COMPLETE
    assert reinspection.status == InspectionStatus.RESULTS_COMPLETE


def test_rectification_transitions_legal_and_illegal():
    inspection, departments = make_inspection(stage=2)
    department = department_user(departments["lightning_protection"])
    _record_all(inspection, departments, lightning_protection=InspectionResult.FAIL)
    rectification, _ = rectification_create(
        by=department, inspection_item=_item(inspection, "lightning_protection"), description="接地电阻超标"
    )

    with pytest.raises(IllegalTransition):
        rectification_transition(rectification=rectification, to=RectificationStatus.VERIFIED, by=department)
    rectification.refresh_from_db()
    assert (rectification.status, rectification.version) == (RectificationStatus.OPEN, 1)

    rectification = rectification_transition(rectification=rectification, to=RectificationStatus.FIXED, by=department)
    rectification = rectification_transition(rectification=rectification, to=RectificationStatus.OPEN, by=department)
    assert (rectification.status, rectification.fixed_at) == (RectificationStatus.OPEN, None)
    rectification = rectification_transition(rectification=rectification, to=RectificationStatus.FIXED, by=department)
    rectification = rectification_transition(
        rectification=rectification, to=RectificationStatus.VERIFIED, by=department
    )
    assert rectification.version == 5

    for to in (RectificationStatus.OPEN, RectificationStatus.FIXED):
        with pytest.raises(IllegalTransition):
            rectification_transition(rectification=rectification, to=to, by=department)
    rectification.refresh_from_db()
    assert (rectification.status, rectification.version) == (RectificationStatus.VERIFIED, 5)


def test_only_the_department_verifies_and_only_involved_parties_report_a_fix():
    inspection, departments = make_inspection(stage=2)
    department = department_user(departments["lightning_protection"])
    other_department = department_user(departments["telecom_infrastructure"])
    _record_all(inspection, departments, lightning_protection=InspectionResult.FAIL)
    rectification, _ = rectification_create(
        by=department, inspection_item=_item(inspection, "lightning_protection"), description="接地电阻超标"
    )

    with pytest.raises(PermissionDenied):
        rectification_transition(rectification=rectification, to=RectificationStatus.FIXED, by=other_department)
    team = user_of_kind(OrganizationKind.ACCEPTANCE_TEAM)
    rectification = rectification_transition(rectification=rectification, to=RectificationStatus.FIXED, by=team)
    with pytest.raises(PermissionDenied):
        rectification_transition(rectification=rectification, to=RectificationStatus.VERIFIED, by=team)
    rectification.refresh_from_db()
    assert rectification.status == RectificationStatus.FIXED


def test_rectifications_only_for_a_failed_item_by_its_department():
    inspection, departments = make_inspection(stage=2)
    _record_all(inspection, departments, lightning_protection=InspectionResult.FAIL)

    with pytest.raises(Conflict) as raised:
        rectification_create(
            by=department_user(departments["telecom_infrastructure"]),
            inspection_item=_item(inspection, "telecom_infrastructure"),
            description="x",
        )
    assert raised.value.code == "item_not_failed"
    with pytest.raises(PermissionDenied):
        rectification_create(
            by=department_user(departments["telecom_infrastructure"]),
            inspection_item=_item(inspection, "lightning_protection"),
            description="x",
        )
    assert RectificationItem.all_objects.count() == 0


def test_a_failed_item_with_rectifications_cannot_be_turned_into_a_pass():
    inspection, departments = make_inspection(stage=2)
    department = department_user(departments["lightning_protection"])
    _record_all(inspection, departments, lightning_protection=InspectionResult.FAIL)
    rectification_create(by=department, inspection_item=_item(inspection, "lightning_protection"), description="x")

    with pytest.raises(Conflict) as raised:
        inspection_item_record_result(
            item=_item(inspection, "lightning_protection"), result=InspectionResult.PASS, by=department
        )

    assert raised.value.code == "item_has_rectifications"
    assert _item(inspection, "lightning_protection").result == InspectionResult.FAIL


def test_signing_requires_every_result_and_locks_the_inspection_and_its_items():
    inspection, departments = make_inspection(stage=2)
    _record_all(inspection, {k: v for k, v in departments.items() if k != "lightning_protection"})

    with pytest.raises(Conflict) as raised:
        inspection_mark_signed(inspection=inspection, by=None)
    assert raised.value.code == "results_incomplete"
    inspection.refresh_from_db()
    assert (inspection.is_locked, inspection.status) == (False, InspectionStatus.IN_PROGRESS)

    department = department_user(departments["lightning_protection"])
    inspection_item_record_result(item=_item(inspection, "lightning_protection"), result="pass", by=department)
    signed = inspection_mark_signed(inspection=inspection, by=None)
    assert (signed.is_locked, signed.status) == (True, InspectionStatus.SIGNED)
    assert set(InspectionItem.objects.filter(inspection=inspection).values_list("is_locked", flat=True)) == {True}
    assert inspection_mark_signed(inspection=inspection, by=None).version == signed.version

    with pytest.raises(RecordLocked):
        inspection_item_record_result(item=_item(inspection, "lightning_protection"), result="fail", by=department)
    with pytest.raises(RecordLocked):
        inspection_item_update(
            instance=_item(inspection, "lightning_protection"), changes={"remarks": "x"}, by=department
        )
    with pytest.raises(RecordLocked):
        inspection_update(instance=signed, changes={"remarks": "改一下"}, by=None)
    assert _item(inspection, "lightning_protection").result == InspectionResult.PASS

    reopened = inspection_reopen(inspection=signed, by=None, reason="签字有误")
    assert (reopened.is_locked, reopened.status) == (False, InspectionStatus.RESULTS_COMPLETE)
    assert set(InspectionItem.objects.filter(inspection=inspection).values_list("is_locked", flat=True)) == {False}
    changed = inspection_item_record_result(
        item=_item(inspection, "lightning_protection"), result="fail", by=department
    )
    assert changed.result == InspectionResult.FAIL
