"""GET signatures/{id}/verify/ and the public /verify/ page re-hash the signed photos' stored
bytes; the page lists every signature of the record with its state and is never "valid" when
one fails."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from backend.acceptance.models import InspectionItem
from backend.acceptance.tests.factories import department_user
from backend.accounts.models import Role
from backend.accounts.tests.factories import UserFactory
from backend.evidence.blobs import blob_local_path
from backend.evidence.photos import photo_create
from backend.evidence.tests.imaging import jpeg_bytes
from backend.signatures.content import record_content_hash
from backend.signatures.models import Signature
from backend.signatures.tests.factories import resulted_inspection, sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_inspection():
    inspection, departments = resulted_inspection(stage=2)
    item = InspectionItem.objects.filter(inspection=inspection).order_by("code").first()
    photo, _ = photo_create(
        by=None,
        record_type="inspection_item",
        target_id=item.pk,
        file=SimpleUploadedFile("p.jpg", jpeg_bytes(color=(70, 80, 90)), "image/jpeg"),
    )
    signatures = [
        sign("inspection", inspection, department_user(department), seed=n) for n, department in enumerate(departments)
    ]
    content_hash = record_content_hash(record_type="inspection", record=inspection)
    return inspection, signatures, photo, f"/verify/inspection/{inspection.pk}/{content_hash}/"


def _states(html: str) -> list[str]:
    return re.findall(r'<tr class="signature [a-z]+" data-state="([a-z_]+)">', html)


def _administrator_client():
    client = APIClient()
    client.force_authenticate(UserFactory(organization=None, roles=[Role.ADMINISTRATOR]))
    return client


@pytest.mark.urls("mobile_api.signatures.tests.urls")
def test_page_lists_every_signature_valid(signed_inspection):
    _inspection, signatures, _photo, url = signed_inspection

    html = APIClient().get(url).content.decode()

    assert "<strong>有效</strong>" in html
    assert _states(html) == ["valid"] * len(signatures)
    assert all(signature.signer_name in html for signature in signatures)


@pytest.mark.urls("mobile_api.signatures.tests.urls")
def test_a_flipped_photo_byte_fails_the_endpoint_and_the_page(signed_inspection):
    _inspection, signatures, photo, url = signed_inspection
    path = blob_local_path(blob=photo.blob)
    data = bytearray(path.read_bytes())
    data[300] ^= 0x80
    path.write_bytes(bytes(data))

    verify = _administrator_client().get(f"/api/v1/signatures/{signatures[0].pk}/verify/")
    html = APIClient().get(url).content.decode()

    assert verify.status_code == 200
    body = verify.json()
    assert (body["valid"], body["reason"], body["photos"]) == (
        False,
        "photo_changed",
        [{"sha256": photo.blob_id, "state": "changed"}],
    )
    assert body["current_hash"] == body["content_hash"]
    assert "<strong>已失效</strong>" in html and "照片文件已被改动" in html
    assert _states(html) == ["photo_changed"] * len(signatures)


@pytest.mark.urls("mobile_api.signatures.tests.urls")
def test_one_tampered_signature_is_listed_and_the_page_is_not_valid(signed_inspection):
    _inspection, signatures, _photo, url = signed_inspection
    # Another hash on the row: before, the page looked for signatures of this content only and
    # so left this one out.
    Signature.objects.filter(pk=signatures[0].pk).update(content_hash="f" * 64)

    html = APIClient().get(url).content.decode()

    assert "<strong>已失效</strong>" in html and "签名校验失败" in html
    assert _states(html) == ["bad_signature"] + ["valid"] * (len(signatures) - 1)
