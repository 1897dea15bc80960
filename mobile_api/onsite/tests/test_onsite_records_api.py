"""`onsite-intakes/`, `onsite-decisions/`, `certificates/` and the public certificate page, over
REST and sync push: both reach the same services, so both refuse alike."""

import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from pypdf import PdfReader
from rest_framework.test import APIClient

from backend.audit.models import AuditEntry
from backend.cases.models import Material
from backend.onsite.models import Certificate, OnsiteDecision
from backend.onsite.tests.factories import case_world, scan_of
from mobile_api.sync.tests.factories import push, sha

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def setting(world):
    return case_world(world)


def _intake_body(world, setting, *, promise=None):
    form_scan = scan_of(by=world.agent, case=setting.case, item=setting.item, material=setting.form)
    materials = [{"material": str(setting.form.pk), "state": "scanned", "scan": str(form_scan.pk)}]
    if promise is not None:
        materials.append(
            {"material": str(setting.drawings.pk), "state": "promised", "promised_by": promise.isoformat()}
        )
    else:
        scan = scan_of(by=world.agent, case=setting.case, item=setting.item, material=setting.drawings)
        materials.append({"material": str(setting.drawings.pk), "state": "scanned", "scan": str(scan.pk)})
    return {"case": str(setting.case.pk), "item": str(setting.item.pk), "materials": materials}


def _intake(world, setting, **kwargs) -> dict:
    response = client_for(world.agent).post(
        "/api/v1/onsite-intakes/", _intake_body(world, setting, **kwargs), format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _decide(user, setting, intake, outcome="approve", **extra):
    body = {"case": str(setting.case.pk), "intake": intake["id"], "outcome": outcome, **extra}
    return client_for(user).post("/api/v1/onsite-decisions/", body, format="json")


def _decision_op(setting, intake, outcome="approve", record_id=None):
    return {
        "op_id": str(uuid.uuid4()),
        "type": "onsite_decision",
        "action": "upsert",
        "id": str(record_id or uuid.uuid4()),
        "base_version": None,
        "data": {"case": str(setting.case.pk), "intake": intake["id"], "outcome": outcome},
    }


# --- intake -------------------------------------------------------------------------------------


def test_intake_over_rest_lists_its_checklist_and_refuses_an_incomplete_one(world, setting):
    body = _intake_body(world, setting)
    incomplete = {**body, "materials": body["materials"][:1]}
    refused = client_for(world.agent).post("/api/v1/onsite-intakes/", incomplete, format="json")
    assert refused.status_code == 400
    assert refused["Content-Type"].startswith("application/problem+json")
    assert refused.json()["code"] == "materials_incomplete"
    created = client_for(world.agent).post("/api/v1/onsite-intakes/", body, format="json")
    assert created.status_code == 201
    data = created.json()
    assert [row["name"] for row in data["materials"]] == ["建设工程规划许可申请表", "总平面图"]
    assert data["onsite_item"] == str(world.permit.pk)
    listed = client_for(world.builder).get(f"/api/v1/onsite-intakes/?case={setting.case.pk}").json()
    assert [row["id"] for row in listed["results"]] == [data["id"]]


def test_intake_over_sync_push_is_refused_alike(world, setting):
    body = _intake_body(world, setting)
    op = {
        "op_id": str(uuid.uuid4()),
        "type": "onsite_intake",
        "action": "upsert",
        "id": str(uuid.uuid4()),
        "base_version": None,
        "data": {**body, "materials": body["materials"][:1]},
    }
    receipt = push(client_for(world.agent), op).json()["receipts"][0]
    assert (receipt["status"], receipt["code"]) == ("rejected", "materials_incomplete")
    op = {**op, "op_id": str(uuid.uuid4()), "data": body}
    receipt = push(client_for(world.agent), op).json()["receipts"][0]
    assert receipt["status"] == "applied"


# --- decision: who may decide -------------------------------------------------------------------


def test_a_non_delegate_is_refused_over_rest_and_sync(world, setting):
    intake = _intake(world, setting)
    response = _decide(world.agent, setting, intake)
    assert (response.status_code, response.json()["code"]) == (403, "not_vehicle_approver")
    other_approver = type(world.approver).objects.create(
        username="approver-2", organization=world.team, roles=["vehicle_approver"]
    )
    response = _decide(other_approver, setting, intake)
    assert (response.status_code, response.json()["code"]) == (403, "not_delegated")
    receipt = push(client_for(other_approver), _decision_op(setting, intake)).json()["receipts"][0]
    assert (receipt["status"], receipt["code"]) == ("rejected", "not_delegated")
    assert not OnsiteDecision.all_objects.exists()


def test_outside_the_period_is_refused_over_rest_and_sync(world, setting):
    intake = _intake(world, setting)
    setting.delegation.valid_to = world.now - timedelta(hours=1)
    setting.delegation.valid_from = world.now - timedelta(days=10)
    setting.delegation.save()
    response = _decide(world.approver, setting, intake)
    assert (response.status_code, response.json()["code"]) == (403, "delegation_expired")
    receipt = push(client_for(world.approver), _decision_op(setting, intake)).json()["receipts"][0]
    assert (receipt["status"], receipt["code"]) == ("rejected", "delegation_expired")
    assert not OnsiteDecision.all_objects.exists()


def test_an_item_not_in_the_delegation_is_refused_over_rest_and_sync(world, setting):
    intake = _intake(world, setting)
    setting.delegation.items.set([world.retired])
    response = _decide(world.approver, setting, intake)
    assert (response.status_code, response.json()["code"]) == (403, "not_delegated")
    receipt = push(client_for(world.approver), _decision_op(setting, intake)).json()["receipts"][0]
    assert (receipt["status"], receipt["code"]) == ("rejected", "not_delegated")


# --- decision: the certificate ------------------------------------------------------------------


def _pdf_text(response) -> str:
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\n", "")


def test_approval_over_rest_produces_the_certificate_pdf(world, setting):
    intake = _intake(world, setting)
    response = _decide(world.approver, setting, intake)
    assert response.status_code == 201, response.json()
    decision = response.json()
    assert decision["is_locked"] is True and decision["delegation"] == str(setting.delegation.pk)
    number = decision["certificate"]["number"]
    certificate_id = decision["certificate"]["id"]
    # The builder sees it and prints it.
    builder = client_for(world.builder)
    detail = builder.get(f"/api/v1/certificates/{certificate_id}/").json()
    assert detail["number"] == number
    assert detail["verify_url"] == f"http://testserver/verify/certificates/{certificate_id}/"
    text = _pdf_text(builder.get(f"/api/v1/certificates/{certificate_id}/file/"))
    for expected in (number, "建设工程规划许可证核发", "准予许可", "市自然资源和规划局", detail["verify_url"]):
        assert expected in text, expected
    # Decisions are final: no change, no reopening.
    assert client_for(world.approver).patch(f"/api/v1/onsite-decisions/{decision['id']}/", {}).status_code == 405
    reopen = client_for(world.admin).post(f"/api/v1/onsite-decisions/{decision['id']}/reopen/", {"reason": "x"})
    assert (reopen.status_code, reopen.json()["code"]) == (409, "decision_final")


def test_approval_over_sync_push_produces_the_certificate(world, setting):
    intake = _intake(world, setting)
    op = _decision_op(setting, intake)
    receipt = push(client_for(world.approver), op).json()["receipts"][0]
    assert receipt["status"] == "applied", receipt
    certificate = Certificate.objects.get(decision_id=op["id"])
    text = _pdf_text(client_for(world.approver).get(f"/api/v1/certificates/{certificate.pk}/file/"))
    assert certificate.number in text
    # A replay after the delegation ended returns the decision made, not a refusal.
    setting.delegation.valid_to = timezone.now() - timedelta(seconds=1)
    setting.delegation.valid_from = world.now - timedelta(days=10)
    setting.delegation.save()
    replay = push(client_for(world.approver), {**op, "op_id": str(uuid.uuid4())}).json()["receipts"][0]
    assert replay["status"] == "applied"
    assert Certificate.objects.count() == 1


def test_certificates_are_scoped_to_the_cases_one_sees(world, setting):
    intake = _intake(world, setting)
    certificate_id = _decide(world.approver, setting, intake).json()["certificate"]["id"]
    from backend.accounts.models import OrganizationKind, Role
    from backend.accounts.tests.factories import user_of_kind

    stranger = user_of_kind(OrganizationKind.BUILDER, roles=[Role.BUILDER_REPRESENTATIVE])
    assert client_for(stranger).get(f"/api/v1/certificates/{certificate_id}/").status_code == 404
    assert client_for(stranger).get(f"/api/v1/certificates/{certificate_id}/file/").status_code == 404
    assert client_for(stranger).get("/api/v1/certificates/").json()["results"] == []


# --- the public page ----------------------------------------------------------------------------


def test_verify_page_shows_validity_and_hash_without_login(world, setting):
    intake = _intake(world, setting)
    certificate = Certificate.objects.get(pk=_decide(world.approver, setting, intake).json()["certificate"]["id"])
    page = APIClient().get(f"/verify/certificates/{certificate.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="status" data-reason=""><strong>有效' in html
    assert certificate.number in html and certificate.content_hash in html
    # Nothing private: not the delegate, not the case's materials.
    assert "王审批" not in html and "总平面图" not in html
    OnsiteDecision.all_objects.filter(pk=certificate.decision_id).update(reason="改")
    html = APIClient().get(f"/verify/certificates/{certificate.pk}/").content.decode()
    assert 'data-reason="record_changed"' in html and "无效" in html
    missing = APIClient().get(f"/verify/certificates/{uuid.uuid4()}/")
    assert missing.status_code == 404 and "未找到" in missing.content.decode()


# --- item 5: promises close themselves ----------------------------------------------------------


def test_a_scan_of_a_promised_material_keeps_the_promise_over_rest(world, setting):
    due = timezone.localdate() + timedelta(days=2)
    _intake(world, setting, promise=due)
    body = {
        "case": str(setting.case.pk),
        "item": str(setting.item.pk),
        "material": str(setting.drawings.pk),
        "sha256": sha("drawings-later"),
        "content_type": "application/pdf",
    }
    response = client_for(world.agent).post("/api/v1/material-scans/", body, format="json")
    assert response.status_code == 201
    assert Material.objects.get(pk=setting.drawings.pk).received_at is not None
    assert AuditEntry.objects.filter(action="promise_kept", record_id=setting.drawings.pk).count() == 1


def test_a_scan_of_a_promised_material_keeps_the_promise_over_sync_push(world, setting):
    due = timezone.localdate() + timedelta(days=2)
    intake = _intake(world, setting, promise=due)
    assert _decide(world.approver, setting, intake).json()["code"] == "tolerance_required"
    op = {
        "op_id": str(uuid.uuid4()),
        "type": "material_scan",
        "action": "upsert",
        "id": str(uuid.uuid4()),
        "base_version": None,
        "data": {
            "case": str(setting.case.pk),
            "item": str(setting.item.pk),
            "material": str(setting.drawings.pk),
            "sha256": sha("drawings-pushed"),
            "content_type": "application/pdf",
        },
    }
    assert push(client_for(world.agent), op).json()["receipts"][0]["status"] == "applied"
    assert Material.objects.get(pk=setting.drawings.pk).received_at is not None
    # The intake then decides without tolerance: nothing promised is outstanding.
    assert _decide(world.approver, setting, intake).status_code == 201


def test_intake_and_decision_show_on_the_case_timeline(world, setting):
    intake = _intake(world, setting)
    decision = _decide(world.approver, setting, intake).json()
    timeline = client_for(world.builder).get(f"/api/v1/cases/{setting.case.pk}/timeline/").json()["results"]
    entries = {(entry["type"], entry["id"]): entry for entry in timeline}
    assert entries[("onsite_intake", intake["id"])]["label"] == "现场受理"
    assert entries[("onsite_decision", decision["id"])]["is_locked"] is True
