"""On-site intake (现场受理) and decision (现场审批) through the services every entry point
calls: the checklist, the delegation rule, the certificate, the promise kept by a scan."""

import datetime as dt
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from pypdf import PdfReader

from backend.audit.models import AuditEntry
from backend.cases.models import Material
from backend.cases.notices import promise_notices_send
from backend.common.errors import Conflict, PermissionDenied, ValidationFailed
from backend.notifications.models import Notification
from backend.onsite.certificate import certificate_pdf
from backend.onsite.models import Certificate, OnsiteDecision, OnsiteIntake
from backend.onsite.services import (
    certificate_verify,
    delegation_revoke,
    onsite_decision_create,
    onsite_intake_create,
    onsite_intake_update,
)
from backend.onsite.tests.factories import case_world, scan_of
from backend.records.registry import RECORD_TYPES

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting(world):
    return case_world(world)


def _intake(world, setting, *, promise: dt.date | None = None):
    form_scan = scan_of(by=world.agent, case=setting.case, item=setting.item, material=setting.form)
    materials = [{"material": setting.form, "state": "scanned", "scan": form_scan.pk}]
    if promise is not None:
        materials.append({"material": setting.drawings, "state": "promised", "promised_by": promise})
    else:
        drawings_scan = scan_of(by=world.agent, case=setting.case, item=setting.item, material=setting.drawings)
        materials.append({"material": setting.drawings, "state": "scanned", "scan": drawings_scan.pk})
    intake, created = onsite_intake_create(by=world.agent, case=setting.case, item=setting.item, materials=materials)
    assert created
    return intake


def test_both_record_types_are_registered_with_their_services():
    assert RECORD_TYPES["onsite_intake"].label == "现场受理"
    decision = RECORD_TYPES["onsite_decision"]
    assert (decision.label, decision.update, decision.delete) == ("现场审批", None, None)


def test_intake_needs_every_required_material_scanned_or_promised(world, setting):
    scan = scan_of(by=world.agent, case=setting.case, item=setting.item, material=setting.form)
    with pytest.raises(ValidationFailed) as refused:
        onsite_intake_create(
            by=world.agent,
            case=setting.case,
            item=setting.item,
            materials=[{"material": setting.form, "state": "scanned", "scan": scan.pk}],
        )
    assert refused.value.code == "materials_incomplete"
    assert "总平面图" in str(refused.value.errors)
    assert not OnsiteIntake.objects.exists()


def test_intake_refuses_a_scan_of_another_material_and_promising_what_may_not_be_promised(world, setting):
    drawings_scan = scan_of(by=world.agent, case=setting.case, item=setting.item, material=setting.drawings)
    with pytest.raises(ValidationFailed) as refused:
        onsite_intake_create(
            by=world.agent,
            case=setting.case,
            item=setting.item,
            materials=[
                {"material": setting.form, "state": "scanned", "scan": drawings_scan.pk},
                {"material": setting.drawings, "state": "promised", "promised_by": timezone.localdate()},
            ],
        )
    assert refused.value.code == "invalid_checklist"
    assert set(refused.value.errors) == {"materials[0].scan"}
    with pytest.raises(ValidationFailed) as refused:
        onsite_intake_create(
            by=world.agent,
            case=setting.case,
            item=setting.item,
            materials=[
                {"material": setting.form, "state": "promised", "promised_by": timezone.localdate()},
                {"material": setting.drawings, "state": "promised"},
            ],
        )
    assert set(refused.value.errors) == {"materials[0].state", "materials[1].promised_by"}
    assert not OnsiteIntake.objects.exists()


def test_an_item_the_catalogue_does_not_accept_on_site_is_refused(world, setting):
    from backend.cases.tests.factories import ApprovalItemFactory

    other = ApprovalItemFactory(case=setting.case, name="施工许可证核发", department=world.department)
    with pytest.raises(ValidationFailed) as refused:
        onsite_intake_create(by=world.agent, case=setting.case, item=other, materials=[])
    assert refused.value.code == "item_not_accepted_on_site"


def test_a_promise_made_at_intake_is_the_cases_tolerance_promise_and_notifies_when_due(world, setting):
    due = timezone.localdate() + timedelta(days=3)
    intake = _intake(world, setting, promise=due)
    setting.drawings.refresh_from_db()
    assert setting.drawings.promised_by == due
    assert AuditEntry.objects.filter(action="promise_made", record_id=setting.drawings.pk).exists()
    assert intake.applicant == setting.case.project.builder.name
    # Past due: the deadline notices (PROMISE_DUE) reach the builder's representative.
    sent = promise_notices_send(as_of=due + timedelta(days=1))
    assert [(n.kind, n.recipient_id) for n in sent] == [("promise_due", world.builder.pk)]


def test_a_scan_of_a_promised_material_keeps_the_promise(world, setting):
    due = timezone.localdate() + timedelta(days=3)
    _intake(world, setting, promise=due)
    scan = scan_of(by=world.agent, case=setting.case, item=setting.item, material=setting.drawings, name="later")
    material = Material.objects.get(pk=setting.drawings.pk)
    assert material.received_at is not None
    entry = AuditEntry.objects.get(action="promise_kept", record_id=material.pk)
    assert entry.after["material_scan"] == str(scan.pk)
    assert entry.after["kept"] is True
    assert promise_notices_send(as_of=due + timedelta(days=1)) == []


def test_a_non_delegate_is_refused_and_nothing_is_written(world, setting):
    intake = _intake(world, setting)
    for user, code in ((world.agent, "not_vehicle_approver"), (world.official, "not_vehicle_approver")):
        with pytest.raises(PermissionDenied) as refused:
            onsite_decision_create(by=user, case=setting.case, intake=intake, outcome="approve")
        assert refused.value.code == code
    assert not OnsiteDecision.all_objects.exists()
    assert not Certificate.objects.exists()


def test_outside_the_period_or_revoked_is_refused(world, setting):
    intake = _intake(world, setting)
    setting.delegation.valid_from = world.now - timedelta(days=30)
    setting.delegation.valid_to = world.now - timedelta(days=1)
    setting.delegation.save()
    with pytest.raises(PermissionDenied) as refused:
        onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    assert refused.value.code == "delegation_expired"
    setting.delegation.valid_from = world.now + timedelta(days=1)
    setting.delegation.valid_to = world.now + timedelta(days=30)
    setting.delegation.save()
    with pytest.raises(PermissionDenied) as refused:
        onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    assert refused.value.code == "delegation_not_yet_valid"
    setting.delegation.valid_from = world.start
    setting.delegation.save()
    delegation_revoke(by=world.head, delegation=setting.delegation, reason="调岗")
    with pytest.raises(PermissionDenied) as refused:
        onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    assert refused.value.code == "delegation_revoked"
    assert not OnsiteDecision.all_objects.exists()


def test_an_item_not_in_the_delegation_is_refused(world, setting):
    intake = _intake(world, setting)
    setting.delegation.items.set([world.retired])
    with pytest.raises(PermissionDenied) as refused:
        onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    assert refused.value.code == "not_delegated"


def test_approval_issues_a_signed_numbered_certificate_and_notifies(world, setting):
    intake = _intake(world, setting)
    decision, created = onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    assert created and decision.is_locked
    assert decision.delegation == setting.delegation
    certificate = Certificate.objects.get(decision=decision)
    year = timezone.localtime(decision.decided_at).year
    assert (certificate.year, certificate.sequence) == (year, 1)
    assert certificate.number.startswith(f"XCSP-{year}-") and certificate.number.endswith("-0001")
    assert certificate.holder == setting.case.project.builder.name
    assert certificate.department_name == world.department.name
    assert certificate_verify(certificate=certificate) == {"valid": True, "reason": None}
    assert AuditEntry.objects.filter(record_type="onsite_decision", record_id=decision.pk, action="create").exists()
    notified = set(
        Notification.objects.filter(kind="decision_made", subject=f"onsite_decision:{decision.pk}").values_list(
            "recipient_id", flat=True
        )
    )
    assert {world.builder.pk, world.head.pk, world.official.pk} <= notified
    assert world.agent.pk not in notified
    # A second decision of the same intake is refused; the next approval draws the next number.
    with pytest.raises(Conflict) as refused:
        onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    assert refused.value.code == "already_decided"
    second = _intake(world, setting)
    decision_2, _ = onsite_decision_create(by=world.approver, case=setting.case, intake=second, outcome="approve")
    assert Certificate.objects.get(decision=decision_2).sequence == 2


def test_a_tampered_certificate_or_decision_no_longer_verifies(world, setting):
    intake = _intake(world, setting)
    decision, _ = onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    certificate = Certificate.objects.get(decision=decision)
    Certificate.objects.filter(pk=certificate.pk).update(holder="冒名单位")
    assert certificate_verify(certificate=certificate)["reason"] == "bad_signature"
    Certificate.objects.filter(pk=certificate.pk).update(holder=certificate.holder)
    OnsiteDecision.all_objects.filter(pk=decision.pk).update(reason="改过的意见")
    assert certificate_verify(certificate=certificate)["reason"] == "record_changed"


def test_tolerance_and_refusal_rules(world, setting):
    intake = _intake(world, setting, promise=timezone.localdate() + timedelta(days=5))
    with pytest.raises(ValidationFailed) as refused:
        onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    assert refused.value.code == "tolerance_required"
    with pytest.raises(ValidationFailed) as refused:
        onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="refuse")
    assert refused.value.code == "reason_required"
    decision, _ = onsite_decision_create(
        by=world.approver, case=setting.case, intake=intake, outcome="approve_with_tolerance"
    )
    assert Certificate.objects.get(decision=decision).outcome == "approve_with_tolerance"
    refused_intake = _intake(world, setting)
    refusal, _ = onsite_decision_create(
        by=world.approver, case=setting.case, intake=refused_intake, outcome="refuse", reason="用地性质不符"
    )
    assert not Certificate.objects.filter(decision=refusal).exists()


def test_a_decided_intake_no_longer_changes(world, setting):
    intake = _intake(world, setting)
    onsite_decision_create(by=world.approver, case=setting.case, intake=intake, outcome="approve")
    with pytest.raises(Conflict) as refused:
        onsite_intake_update(instance=intake, changes={"note": "补"}, by=world.agent)
    assert refused.value.code == "intake_decided"


def test_certificate_pdf_has_the_chinese_text_and_the_verify_url(world, setting):
    intake = _intake(world, setting, promise=timezone.localdate() + timedelta(days=5))
    decision, _ = onsite_decision_create(
        by=world.approver, case=setting.case, intake=intake, outcome="approve_with_tolerance"
    )
    certificate = Certificate.objects.get(decision=decision)
    pdf = certificate_pdf(
        certificate=certificate, verify_url=f"https://example.test/verify/certificates/{certificate.pk}/"
    )
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages).replace("\n", "")
    for expected in (
        "准予行政许可决定书",
        certificate.number,
        setting.case.project.builder.name,
        "建设工程规划许可证核发",
        "容缺许可",
        "市自然资源和规划局",
        "王审批",
        "总平面图",
        certificate.content_hash,
    ):
        assert expected in text, expected
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4


def test_a_catalogue_entry_named_by_an_intake_cannot_be_deleted(world, setting):
    from backend.onsite.services import onsite_item_delete

    intake = _intake(world, setting)
    setting.delegation.items.clear()
    setting.delegation.delete()
    with pytest.raises(Conflict) as refused:
        onsite_item_delete(by=world.admin, item=intake.onsite_item)
    assert refused.value.code == "in_use"
