"""Signatures over HTTP: create (multipart, finished upload), replay, verify, locking, reopen
voiding, scoping, refusals; sync push of a signature."""

import hashlib
import io
import uuid

import pytest
from rest_framework.test import APIClient

from backend.audit.models import AuditEntry
from backend.evidence.models import Blob
from backend.evidence.tests.imaging import jpeg_bytes
from backend.evidence.uploads import upload_append, upload_create
from backend.signatures.models import Signature
from backend.signatures.tests.factories import official_of, png_file, signature_png, submitted_survey
from backend.surveys.models import Survey

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _finished_upload(owner, data: bytes):
    upload = upload_create(owner=owner, length=len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    return upload_append(upload_id=upload.id, by=owner, offset=0, body=io.BytesIO(data), content_length=len(data))


def _sign(client, survey, *, seed=0, **fields):
    return client.post(
        "/api/v1/signatures/",
        {"record_type": "survey", "record_id": str(survey.pk), "image": png_file(seed), **fields},
        format="multipart",
    )


def test_multipart_signature_of_a_survey():
    survey, (first, _second), _ = submitted_survey(attending=2, absent=0)
    user = official_of(first)
    response = _sign(
        client_for(user), survey, **{"signer.role": "科长", "location": '{"type":"Point","coordinates":[120.17,35.96]}'}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    signature = Signature.objects.get()
    assert body["signer"] == {
        "name": user.username,
        "role": "科长",
        "organization": str(first.pk),
        "organization_name": first.name,
        "user": str(user.pk),
        "witness": None,
    }
    assert (body["record_type"], body["record_id"], body["department"], body["status"]) == (
        "survey",
        str(survey.pk),
        str(first.pk),
        "valid",
    )
    assert body["content_hash"] == signature.content_hash and len(body["content_hash"]) == 64
    assert body["server_signature"] == signature.server_signature
    assert body["image"]["sha256"] == hashlib.sha256(signature_png(0)).hexdigest()
    assert body["location"] == {"type": "Point", "coordinates": [120.17, 35.96]}
    assert response["ETag"] == '"1"'

    image = client_for(user).get(f"/api/v1/signatures/{signature.pk}/image/")
    assert (image.status_code, image["Content-Type"]) == (200, "image/png")
    assert b"".join(image.streaming_content) == signature_png(0)


def test_json_signature_from_a_finished_upload_and_replay_by_client_id():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    user = official_of(department)
    data = signature_png(7)
    _finished_upload(user, data)
    client = client_for(user)
    payload = {
        "id": str(uuid.uuid4()),
        "record_type": "survey",
        "record_id": str(survey.pk),
        "image_sha256": hashlib.sha256(data).hexdigest(),
        "device_signed_at": "2026-04-08T11:40:12+08:00",
        "strokes": [[[1, 2], [3, 4]]],
    }
    first = client.post("/api/v1/signatures/", payload, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["device_signed_at"] == "2026-04-08T11:40:12+08:00"
    again = client.post("/api/v1/signatures/", payload, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == payload["id"]
    assert Signature.objects.count() == 1
    # The last (only) attending department signed: the survey is locked.
    assert Survey.objects.get(pk=survey.pk).status == "signed"


def test_someone_elses_upload_reads_as_missing():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    data = signature_png(8)
    _finished_upload(official_of(department), data)
    response = client_for(official_of(department)).post(
        "/api/v1/signatures/",
        {"record_type": "survey", "record_id": str(survey.pk), "image_sha256": hashlib.sha256(data).hexdigest()},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "file_missing")
    assert Signature.objects.count() == 0


def test_non_png_image_is_refused_and_nothing_is_stored():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    from django.core.files.uploadedfile import SimpleUploadedFile

    blobs = Blob.objects.count()
    response = client_for(official_of(department)).post(
        "/api/v1/signatures/",
        {
            "record_type": "survey",
            "record_id": str(survey.pk),
            "image": SimpleUploadedFile("s.png", jpeg_bytes(), content_type="image/png"),
        },
        format="multipart",
    )
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    assert (Signature.objects.count(), Blob.objects.count()) == (0, blobs)


def test_oversized_image_is_413(settings):
    settings.SIGNATURE_IMAGE_MAX_BYTES = 100
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    response = _sign(client_for(official_of(department)), survey)
    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")
    assert Signature.objects.count() == 0


def test_verify_endpoint_valid_then_record_changed():
    survey, (first, _second), _ = submitted_survey(attending=2, absent=0)
    user = official_of(first)
    client = client_for(user)
    signature_id = _sign(client, survey).json()["id"]
    valid = client.get(f"/api/v1/signatures/{signature_id}/verify/")
    assert valid.status_code == 200
    assert (valid.json()["valid"], valid.json()["reason"]) == (True, None)
    Survey.objects.filter(pk=survey.pk).update(summary="被改过的概况")
    changed = client.get(f"/api/v1/signatures/{signature_id}/verify/")
    assert (changed.json()["valid"], changed.json()["reason"]) == (False, "record_changed")


def test_editing_a_signed_survey_is_refused_with_record_locked():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    user = official_of(department)
    client = client_for(user)
    assert _sign(client, survey).status_code == 201
    stored = Survey.objects.get(pk=survey.pk)
    response = client.patch(
        f"/api/v1/surveys/{survey.pk}/", {"minutes": "改"}, format="json", HTTP_IF_MATCH=f'"{stored.version}"'
    )
    assert (response.status_code, response.json()["code"]) == (409, "record_locked")
    assert Survey.objects.get(pk=survey.pk).minutes == "纪要：同意选址。"


def test_reopen_over_http_voids_the_signatures_and_is_audited():
    survey, (first, second), _ = submitted_survey(attending=2, absent=0)
    official = official_of(first)
    _sign(client_for(official), survey, seed=1)
    _sign(client_for(official_of(second)), survey, seed=2)
    assert Survey.objects.get(pk=survey.pk).is_locked is True

    response = client_for(official).post(f"/api/v1/surveys/{survey.pk}/reopen", {"reason": "纪要有误"}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["is_locked"]) == ("submitted", False)
    assert set(Signature.objects.filter(record_id=survey.pk).values_list("status", "void_reason")) == {
        ("voided", "reopened")
    }
    voids = AuditEntry.objects.filter(record_type="signature", action="void")
    assert voids.count() == 2 and {entry.actor_id for entry in voids} == {official.pk}
    reopen = AuditEntry.objects.get(record_type="survey", record_id=survey.pk, action="reopen")
    assert reopen.reason == "纪要有误"
    first_signature = Signature.objects.filter(department=first).first()
    verify = client_for(official).get(f"/api/v1/signatures/{first_signature.pk}/verify/")
    assert (verify.json()["valid"], verify.json()["reason"]) == (False, "voided")
    # The slot is free again.
    assert _sign(client_for(official), survey, seed=3).status_code == 201


def test_second_signature_for_a_filled_slot_is_409():
    survey, (first, _second), _ = submitted_survey(attending=2, absent=0)
    assert _sign(client_for(official_of(first)), survey).status_code == 201
    response = _sign(client_for(official_of(first)), survey, seed=4)
    assert (response.status_code, response.json()["code"]) == (409, "already_signed")
    assert Signature.objects.count() == 1


def test_outsider_can_neither_sign_nor_read():
    from backend.accounts.models import OrganizationKind, Role
    from backend.accounts.tests.factories import OrganizationFactory, UserFactory

    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    outsider = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370202"),
        roles=[Role.OFFICIAL],
    )
    blobs = Blob.objects.count()
    refused = _sign(client_for(outsider), survey)
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"record_id": ["No such record."]}
    assert (Signature.objects.count(), Blob.objects.count()) == (0, blobs)

    signature_id = _sign(client_for(official_of(department)), survey).json()["id"]
    client = client_for(outsider)
    assert client.get(f"/api/v1/signatures/{signature_id}/").status_code == 404
    assert client.get(f"/api/v1/signatures/{signature_id}/verify/").status_code == 404
    assert client.get(f"/api/v1/signatures/{signature_id}/image/").status_code == 404
    assert client.get("/api/v1/signatures/").json()["count"] == 0


def test_signatures_are_never_changed_or_deleted_over_http():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    client = client_for(official_of(department))
    signature_id = _sign(client, survey).json()["id"]
    assert client.patch(f"/api/v1/signatures/{signature_id}/", {"signer": {}}, format="json").status_code == 405
    assert client.delete(f"/api/v1/signatures/{signature_id}/").status_code == 405
    assert client.post(f"/api/v1/signatures/{signature_id}/reopen/", {"reason": "x"}).status_code == 404
    assert Signature.objects.get().status == "valid"


def test_list_filters_by_record():
    survey, (first, second), _ = submitted_survey(attending=2, absent=0)
    other, (third,), _ = submitted_survey(attending=1, absent=0)
    _sign(client_for(official_of(first)), survey, seed=1)
    _sign(client_for(official_of(third)), other, seed=2)
    admin = official_of(second)
    admin.roles = ["administrator"]
    admin.save()
    response = client_for(admin).get(f"/api/v1/signatures/?record_id={survey.pk}")
    assert [row["department"] for row in response.json()["results"]] == [str(first.pk)]


def test_sync_push_creates_a_signature_through_the_same_service():
    survey, (department,), _ = submitted_survey(attending=1, absent=0)
    user = official_of(department)
    data = signature_png(11)
    _finished_upload(user, data)
    signature_id = str(uuid.uuid4())
    response = client_for(user).post(
        "/api/v1/sync/push",
        {
            "device_id": "tablet-7",
            "operations": [
                {
                    "op_id": str(uuid.uuid4()),
                    "type": "signature",
                    "action": "upsert",
                    "id": signature_id,
                    "base_version": None,
                    "data": {
                        "record_type": "survey",
                        "record_id": str(survey.pk),
                        "image_sha256": hashlib.sha256(data).hexdigest(),
                        "device_signed_at": "2026-04-08T11:40:12+08:00",
                    },
                    "attachments": [{"sha256": hashlib.sha256(data).hexdigest(), "kind": "signature"}],
                }
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    receipt = response.json()["receipts"][0]
    assert (receipt["status"], receipt["id"]) == ("applied", signature_id)
    assert Signature.objects.get(pk=signature_id).device_id == "tablet-7"
    assert Survey.objects.get(pk=survey.pk).is_locked is True
