"""The shared field-record behaviours (API.md "Field records carry …"), exercised on surveys."""

import uuid

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import OrganizationFactory
from backend.audit.models import AuditEntry
from backend.common.models import IdempotencyKey
from backend.surveys import services
from backend.surveys.models import Survey, SurveyParticipant, SurveyStatus
from backend.surveys.tests.factories import SurveyFactory, SurveyParticipantFactory

URL = "/api/v1/surveys/"


def _payload(case, **overrides):
    return {
        "case": str(case.pk),
        "scheduled_at": "2026-03-10T09:30:00+08:00",
        "summary": "新能源装备制造项目联合踏勘",
        "location": {"type": "Point", "coordinates": [120.171, 35.9605]},
        **overrides,
    }


def _audit_count(record_id) -> int:
    return AuditEntry.objects.filter(record_id=record_id).count()


@pytest.mark.django_db
def test_create_with_client_id_is_exactly_once(api, case, official):
    record_id = str(uuid.uuid4())
    first = api.post(URL, _payload(case, id=record_id), format="json")
    assert first.status_code == 201, first.json()
    assert first["ETag"] == '"1"'
    body = first.json()
    assert (body["id"], body["version"], body["status"], body["created_by"], body["case"]) == (
        record_id,
        1,
        "scheduled",
        str(official.pk),
        str(case.pk),
    )
    again = api.post(URL, _payload(case, id=record_id), format="json")
    assert again.status_code == 200
    assert again.json() == body
    other = api.post(URL, _payload(case, id=record_id, summary="另一份内容"), format="json")
    assert other.status_code == 409
    assert other.json()["code"] == "id_conflict"
    assert Survey.all_objects.count() == 1
    assert Survey.objects.get(pk=record_id).summary == "新能源装备制造项目联合踏勘"
    assert _audit_count(record_id) == 1


@pytest.mark.django_db
def test_detail_sends_the_version_as_etag(api, case):
    survey = SurveyFactory(case=case, version=4)
    response = api.get(f"{URL}{survey.pk}/")
    assert response.status_code == 200
    assert response["ETag"] == '"4"'
    assert response.json()["version"] == 4


@pytest.mark.django_db
def test_patch_without_if_match_is_428(api, case):
    survey = SurveyFactory(case=case)
    response = api.patch(f"{URL}{survey.pk}/", {"summary": "改"}, format="json")
    assert response.status_code == 428
    assert response.json()["code"] == "precondition_required"
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.summary, stored.version) == (survey.summary, 1)


@pytest.mark.django_db
def test_stale_if_match_is_412_with_the_current_record_and_changes_nothing(api, case):
    created = api.post(URL, _payload(case), format="json").json()
    updated = api.patch(f"{URL}{created['id']}/", {"summary": "第二版"}, format="json", HTTP_IF_MATCH='"1"')
    assert updated.status_code == 200
    audit_before = _audit_count(created["id"])
    stale = api.patch(f"{URL}{created['id']}/", {"summary": "基于旧版的修改"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    problem = stale.json()
    assert problem["code"] == "version_mismatch"
    assert (problem["current"]["version"], problem["current"]["summary"]) == (2, "第二版")
    stored = Survey.objects.get(pk=created["id"])
    assert (stored.version, stored.summary) == (2, "第二版")
    assert _audit_count(created["id"]) == audit_before


@pytest.mark.django_db
def test_patch_with_if_match_bumps_version_and_is_audited_with_before_and_after(api, case, official):
    created = api.post(URL, _payload(case), format="json").json()
    response = api.patch(
        f"{URL}{created['id']}/", {"minutes": "踏勘纪要草稿"}, format="json", HTTP_IF_MATCH=f'"{created["version"]}"'
    )
    assert response.status_code == 200, response.json()
    assert (response["ETag"], response.json()["version"], response.json()["minutes"]) == ('"2"', 2, "踏勘纪要草稿")
    entries = list(AuditEntry.objects.filter(record_type="survey", record_id=created["id"]))
    assert [(e.action, e.version) for e in entries] == [("create", 1), ("update", 2)]
    assert entries[0].before is None
    assert entries[0].after["summary"] == "新能源装备制造项目联合踏勘"
    assert (entries[1].before["minutes"], entries[1].after["minutes"]) == ("", "踏勘纪要草稿")
    assert entries[1].actor_id == official.pk
    assert Survey.objects.get(pk=created["id"]).field_versions == {"minutes": 2}


@pytest.mark.django_db
def test_transitions_are_audited(api, case):
    created = api.post(URL, _payload(case), format="json").json()
    assert api.post(f"{URL}{created['id']}/start", {}, format="json").status_code == 200
    entry = AuditEntry.objects.filter(record_id=created["id"]).last()
    assert (entry.action, entry.before["status"], entry.after["status"]) == (
        "transition:in_progress",
        "scheduled",
        "in_progress",
    )


@pytest.mark.django_db
def test_mass_assignment_of_system_fields_is_ignored(api, case, official, outsider):
    response = api.post(
        URL,
        _payload(
            case,
            status="signed",
            version=7,
            created_by=str(outsider.pk),
            is_locked=True,
            device_id="forged",
            cancel_reason="forged",
        ),
        format="json",
    )
    assert response.status_code == 201, response.json()
    stored = Survey.objects.get(pk=response.json()["id"])
    assert (stored.status, stored.version, stored.created_by_id, stored.is_locked, stored.device_id) == (
        "scheduled",
        1,
        official.pk,
        False,
        "",
    )
    assert stored.cancel_reason == ""
    patched = api.patch(f"{URL}{stored.pk}/", {"status": "closed", "version": 9}, format="json", HTTP_IF_MATCH='"1"')
    assert patched.status_code == 200
    stored.refresh_from_db()
    assert (stored.status, stored.version) == ("scheduled", 1)


@pytest.mark.django_db
def test_case_cannot_be_moved_by_patch(api, case):
    from backend.cases.tests.factories import ApprovalCaseFactory

    survey = SurveyFactory(case=case)
    other = ApprovalCaseFactory()
    response = api.patch(f"{URL}{survey.pk}/", {"case": str(other.pk)}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 400
    assert Survey.objects.get(pk=survey.pk).case_id == case.pk


@pytest.mark.django_db
def test_scoping_other_organisation_gets_404_and_an_empty_list(case, outsider):
    survey = SurveyFactory(case=case)
    client = APIClient()
    client.force_authenticate(outsider)
    assert client.get(f"{URL}{survey.pk}/").status_code == 404
    assert client.get(f"{URL}{survey.pk}/").json()["code"] == "not_found"
    assert client.get(URL).json()["count"] == 0
    patch = client.patch(f"{URL}{survey.pk}/", {"summary": "x"}, format="json", HTTP_IF_MATCH='"1"')
    assert patch.status_code == 404
    assert client.post(f"{URL}{survey.pk}/start", {}, format="json").status_code == 404
    created = client.post(URL, _payload(case), format="json")
    assert created.status_code == 400
    assert Survey.objects.count() == 1
    assert Survey.objects.get(pk=survey.pk).status == "scheduled"


@pytest.mark.django_db
def test_list_is_paginated_and_filtered_by_case(api, case):
    from backend.cases.tests.factories import ApprovalCaseFactory

    mine = [SurveyFactory(case=case) for _ in range(3)]
    SurveyFactory(case=ApprovalCaseFactory())
    body = api.get(URL, {"case": str(case.pk), "limit": 2}).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert {row["id"] for row in api.get(URL, {"case": str(case.pk)}).json()["results"]} == {str(s.pk) for s in mine}


# --- locks and reopen -------------------------------------------------------------------


@pytest.fixture
def signed_survey(case, official):
    survey = SurveyFactory(case=case, status=SurveyStatus.SUBMITTED, conclusion="agree")
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    return services.survey_mark_signed(survey=survey, by=official)


@pytest.mark.django_db
def test_signed_survey_refuses_patch_delete_and_participant_changes(api, signed_survey):
    participant = SurveyParticipant.objects.get(survey=signed_survey)
    department = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT)
    responses = [
        api.patch(f"{URL}{signed_survey.pk}/", {"minutes": "改"}, format="json", HTTP_IF_MATCH='"2"'),
        api.delete(f"{URL}{signed_survey.pk}/"),
        api.patch(
            f"/api/v1/survey-participants/{participant.pk}/", {"opinion": "改"}, format="json", HTTP_IF_MATCH='"2"'
        ),
        api.delete(f"/api/v1/survey-participants/{participant.pk}/"),
        api.post(
            "/api/v1/survey-participants/",
            {"survey": str(signed_survey.pk), "department": str(department.pk)},
            format="json",
        ),
    ]
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(409, "record_locked")] * 5
    stored = Survey.objects.get(pk=signed_survey.pk)
    assert (stored.version, stored.minutes, stored.deleted_at) == (2, "", None)
    participant.refresh_from_db()
    assert (participant.opinion, participant.version, participant.deleted_at) == ("同意", 2, None)
    assert SurveyParticipant.all_objects.count() == 1


@pytest.mark.django_db
def test_reopen_requires_a_reason_unlocks_and_is_audited(api, signed_survey, official):
    url = f"{URL}{signed_survey.pk}/reopen/"
    missing = api.post(url, {}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (400, "reason_required")
    assert Survey.objects.get(pk=signed_survey.pk).is_locked is True
    response = api.post(url, {"reason": "建设单位补充用地红线"}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["is_locked"], response.json()["version"]) == (
        "submitted",
        False,
        3,
    )
    entry = AuditEntry.objects.filter(record_type="survey", record_id=signed_survey.pk).last()
    assert (entry.action, entry.reason, entry.actor_id) == ("reopen", "建设单位补充用地红线", official.pk)
    assert SurveyParticipant.objects.get(survey=signed_survey).is_locked is False
    # Unlocked: a change goes through again.
    patched = api.patch(f"{URL}{signed_survey.pk}/", {"minutes": "补充纪要"}, format="json", HTTP_IF_MATCH='"3"')
    assert patched.status_code == 200


@pytest.mark.django_db
def test_builders_cannot_reopen(signed_survey, builder):
    client = APIClient()
    client.force_authenticate(builder)
    response = client.post(f"{URL}{signed_survey.pk}/reopen/", {"reason": "想改"}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert Survey.objects.get(pk=signed_survey.pk).is_locked is True


# --- Idempotency-Key ---------------------------------------------------------------------


@pytest.mark.django_db
def test_idempotency_key_replays_the_first_response(api, case):
    survey = SurveyFactory(case=case)
    url = f"{URL}{survey.pk}/start"
    body = {"started_at": "2026-03-10T09:40:00+08:00"}
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="start-1")
    assert first.status_code == 200, first.json()
    replay = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="start-1")
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.status, stored.version) == ("in_progress", 2)
    # Without the key, a second start is an illegal transition.
    assert api.post(url, body, format="json").json()["code"] == "illegal_transition"


@pytest.mark.django_db
def test_idempotency_key_with_another_body_is_422(api, case):
    survey = SurveyFactory(case=case)
    url = f"{URL}{survey.pk}/cancel"
    assert api.post(url, {"reason": "延期"}, format="json", HTTP_IDEMPOTENCY_KEY="k-9").status_code == 200
    reused = api.post(url, {"reason": "另一个原因"}, format="json", HTTP_IDEMPOTENCY_KEY="k-9")
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reuse")
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.cancel_reason, stored.version) == ("延期", 2)
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.django_db
def test_a_failed_action_is_not_remembered_under_its_key(api, case):
    survey = SurveyFactory(case=case, status=SurveyStatus.IN_PROGRESS)
    url = f"{URL}{survey.pk}/submit"
    failed = api.post(url, {"conclusion": "agree"}, format="json", HTTP_IDEMPOTENCY_KEY="submit-1")
    assert (failed.status_code, failed.json()["code"]) == (409, "survey_incomplete")
    assert IdempotencyKey.objects.count() == 0
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    ok = api.post(url, {"conclusion": "agree"}, format="json", HTTP_IDEMPOTENCY_KEY="submit-1")
    assert (ok.status_code, ok.json()["status"]) == (200, "submitted")


# --- submit through HTTP -----------------------------------------------------------------


@pytest.mark.django_db
def test_submit_incomplete_lists_the_missing_departments(api, case):
    survey = SurveyFactory(case=case, status=SurveyStatus.IN_PROGRESS)
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    absent = SurveyParticipantFactory(survey=survey, attended=False)
    response = api.post(f"{URL}{survey.pk}/submit", {"conclusion": "agree"}, format="json")
    assert response.status_code == 409
    problem = response.json()
    assert (problem["code"], problem["departments"]) == ("survey_incomplete", [str(absent.department_id)])
    assert problem["missing"][0]["reason"] == "not_attended"
    assert Survey.objects.get(pk=survey.pk).status == "in_progress"


@pytest.mark.django_db
def test_full_flow_through_the_api(api, case, official):
    created = api.post(URL, _payload(case), format="json").json()
    planning = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="", name="规划部门")
    participant = api.post(
        "/api/v1/survey-participants/",
        {"survey": created["id"], "department": str(planning.pk), "person_name": "王工", "case": "ignored"},
        format="json",
    )
    assert participant.status_code == 201, participant.json()
    assert participant.json()["case"] == str(case.pk)
    assert case.assigned_organizations.filter(pk=planning.pk).exists()
    assert api.post(f"{URL}{created['id']}/start", {}, format="json").status_code == 200
    recorded = api.patch(
        f"/api/v1/survey-participants/{participant.json()['id']}/",
        {"attended": True, "arrived_at": "2026-03-10T09:35:00+08:00", "opinion": "原则同意"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert recorded.status_code == 200, recorded.json()
    assert recorded.json()["opinion_at"] is not None
    assert recorded.json()["is_complete"] is True
    submitted = api.post(
        f"{URL}{created['id']}/submit", {"conclusion": "agree", "minutes": "与会各方同意。"}, format="json"
    )
    assert submitted.status_code == 200, submitted.json()
    assert (submitted.json()["status"], submitted.json()["conclusion"], submitted["ETag"]) == (
        "submitted",
        "agree",
        '"3"',
    )
