"""Survey notices (踏勘通知): invited departments are told, and confirm or decline before the survey.

The answer is one rule (`survey_participant_confirm`), reached by `POST survey-participants/{id}/confirm`,
by a PATCH of `confirmation` and by a pushed upsert alike. E-mail goes through the notices path,
to a real SMTP server.
"""

import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.audit.models import AuditEntry
from backend.cases.tests.smtp import smtp_server  # noqa: F401 - the real SMTP fixture
from backend.notifications.models import Notification, NotificationKind
from backend.surveys import services
from backend.surveys.models import ParticipantConfirmation, SurveyParticipant
from backend.surveys.tests.factories import SHANGHAI

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def fire():
    """The fire brigade: a head, a colleague (neither an official) and a retired head."""
    department = OrganizationFactory(name="消防救援大队", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    return {
        "department": department,
        "head": UserFactory(
            username="fire_head", organization=department, roles=[Role.DEPARTMENT_HEAD], email="head@fire.cn"
        ),
        "colleague": UserFactory(username="fire_colleague", organization=department, roles=[], email="c@fire.cn"),
        "retired": UserFactory(
            username="fire_retired", organization=department, roles=[Role.DEPARTMENT_HEAD], is_active=False
        ),
    }


@pytest.fixture
def survey(case, official):
    survey, _ = services.survey_create(by=official, case=case, scheduled_at=WHEN, summary="联合踏勘")
    return survey


def _invite(api, survey, department) -> dict:
    response = api.post(
        "/api/v1/survey-participants/", {"survey": str(survey.pk), "department": str(department.pk)}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _told(kind=NotificationKind.SURVEY_SCHEDULED) -> list[str]:
    return sorted(Notification.objects.filter(kind=kind).values_list("recipient__username", flat=True))


def test_an_invited_department_is_told_its_heads_or_else_everyone(api, survey, fire, official):
    participant = _invite(api, survey, fire["department"])
    assert participant["confirmation"] == "pending"
    assert participant["notified_at"] is not None
    # The head only, not the colleague, not the inactive head.
    assert _told() == ["fire_head"]
    notice = Notification.objects.get(kind=NotificationKind.SURVEY_SCHEDULED)
    assert notice.title == f"踏勘通知：{survey.case.external_no} 2026-12-03 09:00"
    assert notice.data == {
        "survey": str(survey.pk),
        "participant": participant["id"],
        "case": str(survey.case_id),
        "scheduled_at": WHEN.isoformat(),
        "must_attend": True,
    }
    # A department without a head: every active user of it.
    water = OrganizationFactory(name="水务局", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    UserFactory(username="water_a", organization=water, roles=[Role.OFFICIAL])
    UserFactory(username="water_b", organization=water, roles=[])
    _invite(api, survey, water)
    assert _told() == ["fire_head", "water_a", "water_b"]


def test_a_participant_added_on_site_is_not_sent_a_notice(api, survey, fire, official):
    services.survey_start(survey=survey, by=official)
    participant = _invite(api, survey, fire["department"])
    assert participant["notified_at"] is None
    assert _told() == []


def test_a_new_time_asks_every_participant_again(api, survey, fire, official):
    participant = _invite(api, survey, fire["department"])
    head = _client(fire["head"])
    assert head.post(f"/api/v1/survey-participants/{participant['id']}/confirm", {"attending": True}).status_code == 200
    stored = SurveyParticipant.objects.get(pk=participant["id"])
    assert stored.confirmation == ParticipantConfirmation.CONFIRMED
    # The same time again changes nothing and tells no one.
    etag = api.get(f"/api/v1/surveys/{survey.pk}/")["ETag"]
    api.patch(f"/api/v1/surveys/{survey.pk}/", {"scheduled_at": WHEN.isoformat()}, format="json", HTTP_IF_MATCH=etag)
    assert Notification.objects.count() == 1
    later = WHEN + dt.timedelta(days=2)
    response = api.patch(
        f"/api/v1/surveys/{survey.pk}/", {"scheduled_at": later.isoformat()}, format="json", HTTP_IF_MATCH=etag
    )
    assert response.status_code == 200, response.json()
    stored.refresh_from_db()
    assert (stored.confirmation, stored.confirmed_at, stored.decline_reason) == ("pending", None, "")
    assert stored.notified_at is not None
    assert AuditEntry.objects.filter(record_id=stored.pk).last().action == "renotify"
    titles = sorted(Notification.objects.values_list("title", flat=True))
    assert titles == [
        f"踏勘通知：{survey.case.external_no} 2026-12-03 09:00",
        f"踏勘通知：{survey.case.external_no} 2026-12-05 09:00",
    ]


def test_the_department_confirms_or_declines_over_rest(api, survey, fire):
    participant = _invite(api, survey, fire["department"])
    url = f"/api/v1/survey-participants/{participant['id']}/confirm"
    colleague = _client(fire["colleague"])  # no official role: still answers for its department
    response = colleague.post(url, {"attending": False, "reason": "当日另有现场任务"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["confirmation"] == "declined"
    assert response.json()["decline_reason"] == "当日另有现场任务"
    assert response["ETag"] == f'"{response.json()["version"]}"'
    assert AuditEntry.objects.filter(record_id=participant["id"]).last().action == "decline"
    # Changing its mind: confirmed, the reason cleared.
    response = colleague.post(url, {"attending": True}, format="json")
    assert (response.json()["confirmation"], response.json()["decline_reason"]) == ("confirmed", "")
    assert response.json()["confirmed_at"] is not None
    # The organisers record an answer given by phone.
    assert api.post(url, {"attending": False}, format="json").json()["confirmation"] == "declined"


def test_confirming_is_refused_to_others_after_the_start_and_for_bad_input(
    api, survey, fire, official, builder, outsider
):
    participant = _invite(api, survey, fire["department"])
    url = f"/api/v1/survey-participants/{participant['id']}/confirm"
    version = SurveyParticipant.objects.get(pk=participant["id"]).version

    # The builder sees the case but is not the invited department nor a writer.
    response = _client(builder).post(url, {"attending": True}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert _client(outsider).post(url, {"attending": True}, format="json").status_code == 404
    response = api.post(url, {"attending": "perhaps"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert "attending" in response.json()["errors"]
    assert api.post(url, {}, format="json").status_code == 400
    response = api.post(url, {"attending": True}, format="json", HTTP_IF_MATCH='"99"')
    assert (response.status_code, response.json()["code"]) == (412, "version_mismatch")

    services.survey_start(survey=survey, by=official)
    response = _client(fire["head"]).post(url, {"attending": True}, format="json")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "survey_not_scheduled"
    stored = SurveyParticipant.objects.get(pk=participant["id"])
    assert (stored.version, stored.confirmation) == (version, "pending")


def test_a_patch_of_the_confirmation_follows_the_same_rule(api, survey, fire, builder):
    participant = _invite(api, survey, fire["department"])
    url = f"/api/v1/survey-participants/{participant['id']}/"
    head = _client(fire["head"])
    # Still pending: nothing to answer, nothing written.
    response = head.patch(url, {"confirmation": "pending"}, format="json", HTTP_IF_MATCH='"1"')
    assert (response.status_code, response.json()["version"]) == (200, 1)
    response = head.patch(
        url, {"confirmation": "declined", "decline_reason": "人员不足"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["confirmation"], response.json()["version"]) == ("declined", 2)
    # Back to pending is not an answer: only a new survey time asks again.
    response = head.patch(url, {"confirmation": "pending"}, format="json", HTTP_IF_MATCH='"2"')
    assert (response.status_code, response.json()["code"]) == (400, "invalid_confirmation")
    # The department's head may answer, but not change the rest of the participant.
    response = head.patch(url, {"confirmation": "confirmed", "person_name": "王队"}, format="json", HTTP_IF_MATCH='"2"')
    assert response.status_code == 403
    assert SurveyParticipant.objects.get(pk=participant["id"]).confirmation == "declined"


def _push(client, participant_id, data, base_version):
    op = {
        "op_id": str(uuid.uuid4()),
        "type": "survey_participant",
        "action": "upsert",
        "id": str(participant_id),
        "base_version": base_version,
        "data": data,
    }
    response = client.post("/api/v1/sync/push", {"device_id": "tablet-7", "operations": [op]}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["receipts"][0]


def test_a_pushed_answer_follows_the_same_rule(api, survey, fire, builder, official):
    participant = _invite(api, survey, fire["department"])
    head = _client(fire["head"])
    receipt = _push(head, participant["id"], {"confirmation": "declined", "decline_reason": "设备检修"}, 1)
    assert (receipt["status"], receipt["version"]) == ("applied", 2)
    stored = SurveyParticipant.objects.get(pk=participant["id"])
    assert (stored.confirmation, stored.decline_reason, stored.device_id) == ("declined", "设备检修", "tablet-7")
    assert AuditEntry.objects.filter(record_id=stored.pk).last().action == "decline"

    receipt = _push(_client(builder), participant["id"], {"confirmation": "confirmed"}, 2)
    assert (receipt["status"], receipt["code"]) == ("rejected", "permission_denied")
    receipt = _push(head, participant["id"], {"confirmation": "maybe"}, 2)
    assert (receipt["status"], receipt["code"]) == ("rejected", "validation_error")

    services.survey_start(survey=survey, by=official)
    receipt = _push(head, participant["id"], {"confirmation": "confirmed"}, 2)
    assert (receipt["status"], receipt["code"]) == ("rejected", "survey_not_scheduled")
    assert SurveyParticipant.objects.get(pk=participant["id"]).version == 2


def test_notices_are_e_mailed_through_the_notices_path(
    api,
    survey,
    fire,
    smtp_server,  # noqa: F811 - the imported fixture
    settings,
    django_capture_on_commit_callbacks,
):
    settings.DEFAULT_FROM_EMAIL = "surveys@example.cn"
    with django_capture_on_commit_callbacks(execute=True):
        _invite(api, survey, fire["department"])
        assert smtp_server.messages == []
    assert smtp_server.messages == [
        ("surveys@example.cn", ["head@fire.cn"], f"踏勘通知：{survey.case.external_no} 2026-12-03 09:00")
    ]
    assert Notification.objects.get(kind=NotificationKind.SURVEY_SCHEDULED).emailed_at is not None


def test_an_invitation_is_not_created_answered(api, survey, fire):
    body = {"survey": str(survey.pk), "department": str(fire["department"].pk), "confirmation": "confirmed"}
    response = api.post("/api/v1/survey-participants/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert "confirmation" in response.json()["errors"]
    assert not SurveyParticipant.all_objects.exists()
    response = api.post("/api/v1/survey-participants/", {**body, "confirmation": "pending"}, format="json")
    assert (response.status_code, response.json()["confirmation"]) == (201, "pending")
