"""Coordination meetings over HTTP and sync: one meeting of several cases, the findings it takes
up, decisions that resolve them, scoping, the change feed and the timeline of every case."""

import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.meetings.models import Meeting, MeetingDecision, MeetingParticipant
from backend.signatures.tests.factories import png_file
from backend.surveys.models import Finding
from backend.surveys.tests.factories import SHANGHAI, FindingFactory

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 11, 20, 14, 30, tzinfo=SHANGHAI)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def other_case():
    return ApprovalCaseFactory()


@pytest.fixture
def findings(case, other_case):
    return FindingFactory(case=case), FindingFactory(case=other_case)


@pytest.fixture
def other_case_crew(other_case):
    """A crew that sees only the further case."""
    user = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    other_case.assigned_organizations.add(user.organization)
    return user


def _payload(case, other_case, findings, **extra):
    return {
        "case": str(case.pk),
        "further_cases": [str(other_case.pk)],
        "kind": "coordination",
        "number": "西海岸审批协调〔2026〕12号",
        "title": "项目审批问题协调会",
        "scheduled_at": WHEN.isoformat(),
        "place": "审批局三楼会议室",
        "agenda": "消防车道；给水接入",
        "findings": [str(f.pk) for f in findings],
        **extra,
    }


def _create(api, case, other_case, findings, **extra) -> dict:
    response = api.post("/api/v1/meetings/", _payload(case, other_case, findings, **extra), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_meeting_of_two_cases_takes_up_their_findings(api, case, other_case, findings):
    meeting = _create(api, case, other_case, findings)
    assert meeting["further_cases"] == [str(other_case.pk)]
    assert sorted(meeting["findings"]) == sorted(str(f.pk) for f in findings)
    assert (meeting["status"], meeting["version"]) == ("scheduled", 1)
    for finding in findings:
        shown = api.get(f"/api/v1/findings/{finding.pk}/").json()
        assert (shown["meeting"], shown["version"]) == (meeting["id"], 2)
        assert AuditEntry.objects.filter(record_id=finding.pk).last().action == "escalate"
    listed = api.get(f"/api/v1/meetings/?finding={findings[1].pk}").json()
    assert [row["id"] for row in listed["results"]] == [meeting["id"]]
    # Letting a finding go: it stops naming the meeting.
    response = api.patch(
        f"/api/v1/meetings/{meeting['id']}/", {"findings": [str(findings[0].pk)]}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 200, response.json()
    assert Finding.objects.get(pk=findings[1].pk).meeting_id is None
    assert str(Finding.objects.get(pk=findings[0].pk).meeting_id) == meeting["id"]


def test_findings_of_other_cases_and_unseen_cases_are_refused_and_nothing_is_written(
    api, case, other_case, findings, outsider
):
    stranger = FindingFactory()  # another case of the region, not among the meeting's cases
    audit_before = AuditEntry.objects.count()
    response = api.post("/api/v1/meetings/", _payload(case, other_case, [*findings, stranger]), format="json")
    assert (response.status_code, response.json()["code"]) == (400, "finding_case_mismatch")
    assert str(stranger.pk) in response.json()["errors"]["findings"][0]
    unseen = ApprovalCaseFactory(project__region_code="370202")
    response = api.post(
        "/api/v1/meetings/", {**_payload(case, other_case, findings), "further_cases": [str(unseen.pk)]}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert "further_cases" in response.json()["errors"]
    response = api.post("/api/v1/meetings/", _payload(case, other_case, findings, kind="banquet"), format="json")
    assert response.status_code == 400 and "kind" in response.json()["errors"]
    assert Meeting.all_objects.count() == 0
    assert AuditEntry.objects.count() == audit_before
    assert Finding.objects.filter(meeting__isnull=False).count() == 0


def test_who_sees_a_meeting_sees_any_of_its_cases(api, case, other_case, findings, other_case_crew, outsider):
    meeting = _create(api, case, other_case, findings)
    participant = api.post(
        "/api/v1/meeting-participants/",
        {"meeting": meeting["id"], "person_name": "刘红", "position": "副局长", "attended": True},
        format="json",
    )
    assert participant.status_code == 201, participant.json()
    crew = _client(other_case_crew)
    assert crew.get(f"/api/v1/cases/{case.pk}/").status_code == 404  # the convening case stays unseen
    assert crew.get(f"/api/v1/meetings/{meeting['id']}/").status_code == 200
    assert [row["id"] for row in crew.get("/api/v1/meetings/").json()["results"]] == [meeting["id"]]
    assert [row["id"] for row in crew.get(f"/api/v1/meetings/?case={other_case.pk}").json()["results"]] == [
        meeting["id"]
    ]
    assert crew.get(f"/api/v1/meeting-participants/{participant.json()['id']}/").status_code == 200
    # On the timeline of both cases.
    for viewer, some_case in ((api, case), (api, other_case), (crew, other_case)):
        entries = viewer.get(f"/api/v1/cases/{some_case.pk}/timeline/").json()["results"]
        assert ("meeting", meeting["id"]) in {(entry["type"], entry["id"]) for entry in entries}
    # An outsider sees none of it.
    stranger = _client(outsider)
    assert stranger.get(f"/api/v1/meetings/{meeting['id']}/").status_code == 404
    assert stranger.get("/api/v1/meetings/").json()["results"] == []
    assert stranger.get(f"/api/v1/meeting-participants/{participant.json()['id']}/").status_code == 404


def _pull(client, cursor="0", types="meeting,meeting_participant,meeting_decision"):
    response = client.get(f"/api/v1/sync/pull?cursor={cursor}&types={types}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_device_that_sees_only_a_further_case_pulls_the_meeting_and_its_changes(
    api, case, other_case, findings, other_case_crew
):
    meeting = _create(api, case, other_case, findings)
    api.post("/api/v1/meeting-participants/", {"meeting": meeting["id"], "person_name": "赵磊"}, format="json")
    crew = _client(other_case_crew)
    page = _pull(crew)
    assert {(c["type"], c["data"].get("meeting", c["id"])) for c in page["changes"]} == {
        ("meeting", meeting["id"]),
        ("meeting_participant", meeting["id"]),
    }
    api.patch(f"/api/v1/meetings/{meeting['id']}/", {"minutes": "议定两项"}, format="json", HTTP_IF_MATCH='"1"')
    later = _pull(crew, page["cursor"])
    assert [(c["type"], c["id"], c["version"]) for c in later["changes"]] == [("meeting", meeting["id"], 2)]
    assert later["changes"][0]["data"]["minutes"] == "议定两项"
    # A case dropped: the meeting is no longer the crew's.
    api.patch(
        f"/api/v1/meetings/{meeting['id']}/",
        {"further_cases": [], "findings": [str(findings[0].pk)]},
        format="json",
        HTTP_IF_MATCH='"2"',
    )
    assert crew.get(f"/api/v1/meetings/{meeting['id']}/").status_code == 404


def test_a_case_added_later_brings_the_meeting_and_its_children_to_its_devices(api, case, other_case, other_case_crew):
    meeting = _create(api, case, other_case, [], further_cases=[])
    api.post("/api/v1/meeting-participants/", {"meeting": meeting["id"], "person_name": "赵磊"}, format="json")
    crew = _client(other_case_crew)
    page = _pull(crew)
    assert page["changes"] == []
    api.patch(
        f"/api/v1/meetings/{meeting['id']}/",
        {"further_cases": [str(other_case.pk)]},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert sorted(c["type"] for c in _pull(crew, page["cursor"])["changes"]) == ["meeting", "meeting_participant"]


def test_a_decision_of_the_held_meeting_resolves_its_finding(api, case, other_case, findings):
    meeting = _create(api, case, other_case, findings)
    body = {"meeting": meeting["id"], "text": "给水由DN300市政管接入", "finding": str(findings[1].pk)}
    body["resolves_finding"] = True
    response = api.post("/api/v1/meeting-decisions/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "meeting_not_editable")
    assert api.post(f"/api/v1/meetings/{meeting['id']}/hold", {}, format="json").status_code == 200

    response = api.post("/api/v1/meeting-decisions/", body, format="json")
    assert response.status_code == 201, response.json()
    decision = response.json()
    assert decision["case"] == str(other_case.pk)  # the finding's case: on that project's timeline
    finding = Finding.objects.get(pk=findings[1].pk)
    assert finding.status == "resolved"
    assert finding.resolution == "西海岸审批协调〔2026〕12号议定：给水由DN300市政管接入"
    assert AuditEntry.objects.filter(record_id=finding.pk).last().action == "transition:resolved"
    timeline = api.get(f"/api/v1/cases/{other_case.pk}/timeline/").json()["results"]
    assert ("meeting_decision", decision["id"]) in {(e["type"], e["id"]) for e in timeline}

    # Resolving it again is the finding's own refusal, and leaves no second decision.
    response = api.post("/api/v1/meeting-decisions/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "illegal_transition")
    assert MeetingDecision.objects.count() == 1
    # A finding the meeting did not take up, and resolving without a finding, are refused.
    stray = FindingFactory(case=case)
    response = api.post("/api/v1/meeting-decisions/", {**body, "finding": str(stray.pk)}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "finding_not_taken_up")
    response = api.post("/api/v1/meeting-decisions/", {**body, "finding": None}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "finding_required")
    assert Finding.objects.get(pk=stray.pk).status == "open"
    # The decision that resolved a finding stays while the finding is resolved.
    response = api.delete(f"/api/v1/meeting-decisions/{decision['id']}/")
    assert (response.status_code, response.json()["code"]) == (409, "decision_resolved_finding")
    response = api.patch(
        f"/api/v1/meeting-decisions/{decision['id']}/", {"resolves_finding": False}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 400


def test_a_pushed_decision_resolves_the_finding_through_the_same_service(api, case, other_case, findings, crew_member):
    meeting = _create(api, case, other_case, findings)
    api.post(f"/api/v1/meetings/{meeting['id']}/hold", {}, format="json")
    decision_id = str(uuid.uuid4())
    op = {
        "op_id": str(uuid.uuid4()),
        "type": "meeting_decision",
        "action": "upsert",
        "id": decision_id,
        "base_version": None,
        "data": {
            "meeting": meeting["id"],
            "text": "拆除现状围墙，消防车道按4.5米实施",
            "finding": str(findings[0].pk),
            "resolves_finding": True,
        },
    }
    # The crew of the convening case writes; the finding it resolves is of that case.
    receipt = (
        _client(crew_member)
        .post("/api/v1/sync/push", {"device_id": "tablet-3", "operations": [op]}, format="json")
        .json()["receipts"][0]
    )
    assert (receipt["status"], receipt["id"]) == ("applied", decision_id), receipt
    finding = Finding.objects.get(pk=findings[0].pk)
    assert (finding.status, finding.device_id) == ("resolved", "tablet-3")
    # The same resolution of the other finding, by someone who may not write its case: rejected, nothing done.
    op2 = {**op, "op_id": str(uuid.uuid4()), "id": str(uuid.uuid4())}
    op2["data"] = {**op["data"], "finding": str(findings[1].pk)}
    receipt = (
        _client(crew_member)
        .post("/api/v1/sync/push", {"device_id": "tablet-3", "operations": [op2]}, format="json")
        .json()["receipts"][0]
    )
    assert receipt["status"] == "rejected"
    assert Finding.objects.get(pk=findings[1].pk).status == "open"
    assert not MeetingDecision.all_objects.filter(pk=op2["id"]).exists()


def test_the_lifecycle_and_its_refusals(api, case, other_case, findings):
    meeting = _create(api, case, other_case, findings)
    url = f"/api/v1/meetings/{meeting['id']}/"
    response = api.post(url + "cancel", {}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "reason_required")
    response = api.post(url + "close", {}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "illegal_transition")
    held = api.post(url + "hold", {"held_at": WHEN.isoformat()}, format="json").json()
    assert (held["status"], held["held_at"]) == ("held", "2026-11-20T14:30:00+08:00")
    response = api.post(url + "close", {}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "minutes_required")
    api.patch(url, {"minutes": "纪要"}, format="json", HTTP_IF_MATCH=f'"{held["version"]}"')
    assert api.post(url + "close", {}, format="json").json()["status"] == "closed"
    response = api.patch(url, {"place": "别处"}, format="json", HTTP_IF_MATCH='"4"')
    assert (response.status_code, response.json()["code"]) == (409, "meeting_not_editable")
    assert api.delete(url).json()["code"] == "meeting_not_deletable"


def test_a_cancelled_meeting_lets_its_findings_go(api, case, other_case, findings):
    meeting = _create(api, case, other_case, findings)
    response = api.post(f"/api/v1/meetings/{meeting['id']}/cancel", {"reason": "延期"}, format="json")
    assert response.json()["status"] == "cancelled"
    assert Finding.objects.filter(meeting__isnull=False).count() == 0


def test_read_only_insiders_cannot_convene(case, other_case, findings, builder):
    response = _client(builder).post("/api/v1/meetings/", _payload(case, other_case, []), format="json")
    assert response.status_code in (400, 403)
    assert Meeting.all_objects.count() == 0


def test_photos_and_signatures_attach_to_a_meeting(api, case, other_case, findings, official):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from backend.evidence.tests.imaging import jpeg_bytes

    meeting = _create(api, case, other_case, findings)
    photo = api.post(
        "/api/v1/photos/",
        {
            "record_type": "meeting",
            "record_id": meeting["id"],
            "file": SimpleUploadedFile("meeting.jpg", jpeg_bytes(), "image/jpeg"),
        },
        format="multipart",
    )
    assert photo.status_code == 201, photo.json()
    assert photo.json()["case"] == str(case.pk)
    signature = api.post(
        "/api/v1/signatures/",
        {"record_type": "meeting", "record_id": meeting["id"], "image": png_file(3)},
        format="multipart",
    )
    assert signature.status_code == 201, signature.json()
    verified = api.get(f"/api/v1/signatures/{signature.json()['id']}/verify/").json()
    assert verified["valid"] is True
    # A change to the meeting, or to who attended, after signing is detected.
    participant = api.post(
        "/api/v1/meeting-participants/", {"meeting": meeting["id"], "person_name": "刘红"}, format="json"
    ).json()
    assert api.get(f"/api/v1/signatures/{signature.json()['id']}/verify/").json()["valid"] is False
    assert MeetingParticipant.objects.filter(pk=participant["id"]).exists()
    version = api.get(f"/api/v1/meetings/{meeting['id']}/")["ETag"]
    api.patch(f"/api/v1/meetings/{meeting['id']}/", {"minutes": "改动"}, format="json", HTTP_IF_MATCH=version)
    assert api.get(f"/api/v1/signatures/{signature.json()['id']}/verify/").json()["valid"] is False
