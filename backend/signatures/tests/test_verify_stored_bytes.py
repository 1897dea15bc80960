"""Verification re-hashes the bytes a signature covers: a byte flipped in a signed photo's stored
file (filesystem or S3), or the file gone, makes the signature invalid with a specific reason,
although every hash in the database still agrees."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backend.evidence.blobs import blob_local_path
from backend.evidence.models import Blob
from backend.evidence.photos import photo_create
from backend.evidence.storage import blob_key
from backend.evidence.tests.imaging import jpeg_bytes
from backend.signatures.models import Signature
from backend.signatures.services import signature_verify
from backend.signatures.tests.factories import official_of, sign, submitted_survey
from backend.surveys.models import SurveyParticipant

pytestmark = pytest.mark.django_db


def _photo(record_type: str, record, data: bytes):
    photo, _created = photo_create(
        by=None, record_type=record_type, target_id=record.pk, file=SimpleUploadedFile("p.jpg", data, "image/jpeg")
    )
    return photo


@pytest.fixture
def signed_with_photos():
    """A survey with a photo of its own and one of a participant, signed by both departments."""
    survey, departments, _ = submitted_survey(attending=2, absent=0)
    own = _photo("survey", survey, jpeg_bytes(color=(10, 20, 30)))
    participant = SurveyParticipant.objects.filter(survey=survey).order_by("pk").first()
    child = _photo("survey_participant", participant, jpeg_bytes(color=(200, 20, 30)))
    signatures = [sign("survey", survey, official_of(department), seed=n) for n, department in enumerate(departments)]
    assert all(signature_verify(signature=s)["valid"] for s in signatures)
    return survey, signatures, own, child


def _flip_first_byte_after_header(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[200] ^= 0x01
    return bytes(flipped)


def test_a_flipped_byte_in_a_signed_photo_on_disk_is_photo_changed(signed_with_photos):
    _survey, signatures, own, _child = signed_with_photos
    path = blob_local_path(blob=own.blob)
    path.write_bytes(_flip_first_byte_after_header(path.read_bytes()))

    outcomes = [signature_verify(signature=s) for s in signatures]

    assert [(o["valid"], o["reason"], o["photos"]) for o in outcomes] == [
        (False, "photo_changed", [{"sha256": own.blob_id, "state": "changed"}])
    ] * 2
    # The database still agrees with itself: only the bytes tell.
    assert outcomes[0]["current_hash"] == outcomes[0]["content_hash"]


def test_a_changed_photo_of_a_child_row_is_detected(signed_with_photos):
    _survey, signatures, _own, child = signed_with_photos
    path = blob_local_path(blob=child.blob)
    path.write_bytes(path.read_bytes() + b"\0")

    outcome = signature_verify(signature=signatures[0])

    assert (outcome["valid"], outcome["reason"], outcome["photos"]) == (
        False,
        "photo_changed",
        [{"sha256": child.blob_id, "state": "changed"}],
    )


def test_a_signed_photo_whose_file_is_gone_is_photo_missing(signed_with_photos):
    _survey, signatures, own, _child = signed_with_photos
    blob_local_path(blob=own.blob).unlink()

    outcome = signature_verify(signature=signatures[1])

    assert (outcome["valid"], outcome["reason"], outcome["photos"]) == (
        False,
        "photo_missing",
        [{"sha256": own.blob_id, "state": "missing"}],
    )


def test_a_flipped_byte_in_a_signed_photo_in_s3_is_photo_changed(s3_storage):
    survey, departments, _ = submitted_survey(attending=1, absent=0)
    data = jpeg_bytes(color=(40, 50, 60))
    photo = _photo("survey", survey, data)
    assert Blob.objects.get(pk=photo.blob_id).storage == "s3"
    signature = sign("survey", survey, official_of(departments[0]))
    assert signature_verify(signature=signature)["valid"] is True

    s3_storage.client.put_object(
        Bucket=s3_storage.bucket, Key=blob_key(photo.blob_id), Body=_flip_first_byte_after_header(data)
    )

    outcome = signature_verify(signature=Signature.objects.get(pk=signature.pk))
    assert (outcome["valid"], outcome["reason"], outcome["photos"]) == (
        False,
        "photo_changed",
        [{"sha256": hashlib.sha256(data).hexdigest(), "state": "changed"}],
    )
    s3_storage.client.delete_object(Bucket=s3_storage.bucket, Key=blob_key(photo.blob_id))
    assert signature_verify(signature=signature)["reason"] == "photo_missing"


def test_a_voided_signature_altered_in_the_database_is_a_bad_signature(signed_with_photos):
    from django.utils import timezone

    _survey, signatures, _own, _child = signed_with_photos
    Signature.all_objects.filter(pk=signatures[0].pk).update(
        status="voided", voided_at=timezone.now(), content_hash="0" * 64
    )

    assert signature_verify(signature=signatures[0])["reason"] == "bad_signature"
