"""Images whose metadata hides another file (a ZIP in a JPEG comment or APPn segment, HTML in a
PNG text chunk, …) or is oversized are refused with 422 `image_rejected` on every path that takes
an image, leaving no row, blob or file; originals are served as sandboxed downloads."""

import hashlib
import io
import struct
import tempfile
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from backend.evidence.images import ImageRejected, image_inspect
from backend.evidence.models import Blob, Photo, Upload
from backend.evidence.tests.factories import official
from backend.evidence.tests.imaging import (
    XMP_PACKET,
    jpeg_bytes,
    jpeg_with_segment,
    png_bytes,
    png_with_chunk,
    webp_bytes,
    zip_bytes,
)
from backend.evidence.uploads import upload_append, upload_create
from backend.signatures.models import Signature
from backend.signatures.tests.factories import official_of, signature_png, submitted_survey
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/photos/"
XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"


@pytest.fixture
def user():
    return official()


@pytest.fixture
def client(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def site():
    return SiteFactory()


def _stored_files(root):
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"
    )


def _multipart(client, site, data: bytes, name="photo.jpg"):
    file = SimpleUploadedFile(name, data, "image/jpeg")
    return client.post(URL, {"record_type": "site", "record_id": str(site.pk), "file": file}, format="multipart")


def _uploaded(owner, data: bytes) -> Upload:
    upload = upload_create(owner=owner, length=len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    upload_append(upload_id=upload.id, by=owner, offset=0, body=io.BytesIO(data), content_length=len(data))
    return upload


def _problem(response) -> tuple:
    body = response.json()
    return response.status_code, response["Content-Type"], body["code"], body.get("reason"), body.get("segment")


HIDDEN = [
    (jpeg_with_segment(0xFE, zip_bytes()), "archive_in_metadata", "COM"),
    (jpeg_with_segment(0xE4, b"PK\x05\x06" + b"\0" * 18), "archive_in_metadata", "APP4"),
    (jpeg_with_segment(0xEB, b"Rar!\x1a\x07\x00 rest"), "archive_in_metadata", "APP11"),
    (jpeg_with_segment(0xE9, b"7z\xbc\xaf\x27\x1c\x00\x04"), "archive_in_metadata", "APP9"),
    (jpeg_with_segment(0xFE, b"%PDF-1.7\n1 0 obj"), "document_in_metadata", "COM"),
    (jpeg_with_segment(0xFE, b"<html><body>hi</body></html>"), "markup_in_metadata", "COM"),
    (jpeg_with_segment(0xED, b"x <SCRIPT>alert(1)</script>"), "markup_in_metadata", "APP13"),
    (jpeg_with_segment(0xFE, b'<svg xmlns="http://www.w3.org/2000/svg"/>'), "markup_in_metadata", "COM"),
    (jpeg_with_segment(0xFE, b'<?xml version="1.0"?><a/>'), "markup_in_metadata", "COM"),
    (jpeg_with_segment(0xE1, XMP_PREFIX + XMP_PACKET + b"<script>x</script>"), "markup_in_metadata", "APP1"),
    (jpeg_with_segment(0xE2, b"MZ\x90\x00\x03\x00\x00\x00"), "executable_in_metadata", "APP2"),
    (png_with_chunk(b"tEXt", b"Comment\x00" + zip_bytes()), "archive_in_metadata", "tEXt"),
    (png_with_chunk(b"zzZz", b"<html>"), "markup_in_metadata", "zzZz"),
]


@pytest.mark.parametrize(("data", "reason", "segment"), HIDDEN)
def test_multipart_refuses_files_hidden_in_metadata_and_leaves_nothing(client, site, settings, data, reason, segment):
    response = _multipart(client, site, data)

    assert _problem(response) == (422, "application/problem+json", "image_rejected", reason, segment)
    assert (Photo.all_objects.count(), Blob.objects.count(), _stored_files(settings.BLOB_ROOT)) == (0, 0, [])


def _inspect(data: bytes):
    with tempfile.NamedTemporaryFile() as handle:
        handle.write(data)
        handle.flush()
        return image_inspect(handle.name)


def test_a_zip_in_a_webp_metadata_chunk_is_refused():
    base = webp_bytes()
    chunk = b"EXIF" + struct.pack("<I", len(zip_bytes())) + zip_bytes() + b"\0" * (len(zip_bytes()) & 1)
    data = bytearray(base + chunk)
    data[4:8] = struct.pack("<I", len(data) - 8)

    with pytest.raises(ImageRejected) as refused:
        _inspect(bytes(data))

    assert refused.value.extra == {"reason": "archive_in_metadata", "segment": "EXIF"}


def test_a_zip_in_the_comment_of_a_further_picture_of_an_mpo_is_refused():
    primary, further = Image.new("RGB", (40, 30), (1, 2, 3)), Image.new("RGB", (40, 30), (9, 9, 9))
    out = io.BytesIO()
    primary.save(out, "MPO", save_all=True, append_images=[further])
    assert _inspect(out.getvalue()).format == "JPEG"
    further.info["comment"] = zip_bytes()
    out = io.BytesIO()
    primary.save(out, "MPO", save_all=True, append_images=[further])
    data = out.getvalue()
    assert data.index(b"PK\x03\x04") > data.index(b"\xff\xd9")  # in the second picture only

    with pytest.raises(ImageRejected) as refused:
        _inspect(data)

    assert refused.value.extra == {"reason": "archive_in_metadata", "segment": "COM"}


def test_xmp_with_its_xml_declaration_and_plain_comments_are_accepted(client, site):
    xmp = jpeg_with_segment(0xE1, XMP_PREFIX + XMP_PACKET)
    comment = jpeg_with_segment(0xFE, "现场照片 2026-03-10".encode(), base=jpeg_bytes(color=(1, 2, 3)))
    png_xmp = png_with_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_PACKET)

    statuses = [_multipart(client, site, data).status_code for data in (xmp, comment, png_xmp)]

    assert statuses == [201, 201, 201]


def test_metadata_over_the_limit_is_refused(client, site, settings):
    settings.PHOTO_MAX_METADATA_BYTES = 100_000
    data = jpeg_bytes()
    for marker in (0xE3, 0xE4):
        data = jpeg_with_segment(marker, b"\x01" * 60_000, base=data)

    response = _multipart(client, site, data)

    assert _problem(response) == (422, "application/problem+json", "image_rejected", "metadata_too_large", None)
    assert response.json()["metadata_bytes"] == 120_000 + 14  # and Pillow's JFIF APP0
    assert (Photo.all_objects.count(), Blob.objects.count()) == (0, 0)
    settings.PHOTO_MAX_METADATA_BYTES = 130_000
    assert _multipart(client, site, data).status_code == 201


def test_a_finished_upload_with_a_zip_in_its_comment_does_not_become_a_photo(client, user, site):
    data = jpeg_with_segment(0xFE, zip_bytes())
    upload = _uploaded(user, data)
    body = {"record_type": "site", "record_id": str(site.pk)}

    by_upload = client.post(URL, {**body, "upload": str(upload.id)}, format="json")
    by_sha256 = client.post(URL, {**body, "sha256": hashlib.sha256(data).hexdigest()}, format="json")

    assert _problem(by_upload) == (422, "application/problem+json", "image_rejected", "archive_in_metadata", "COM")
    assert _problem(by_sha256)[2:4] == ("image_rejected", "archive_in_metadata")
    # Only the upload's own blob exists (it stays the user's upload); no photo was made of it.
    assert (Photo.all_objects.count(), list(Blob.objects.values_list("pk", flat=True))) == (
        0,
        [hashlib.sha256(data).hexdigest()],
    )


def test_a_sync_photo_op_of_a_polyglot_is_rejected_and_the_others_applied(client, user, site):
    bad = jpeg_with_segment(0xFE, zip_bytes())
    good = jpeg_bytes()
    for data in (bad, good):
        _uploaded(user, data)
    operations = [
        {
            "op_id": str(uuid.uuid4()),
            "type": "photo",
            "action": "upsert",
            "id": str(uuid.uuid4()),
            "base_version": None,
            "data": {"record_type": "site", "record_id": str(site.pk), "sha256": hashlib.sha256(data).hexdigest()},
        }
        for data in (bad, good)
    ]

    response = client.post("/api/v1/sync/push", {"device_id": "tab", "operations": operations}, format="json")

    rejected, applied = response.json()["receipts"]
    assert (rejected["status"], rejected["code"], rejected["detail"]) == (
        "rejected",
        "image_rejected",
        "The image's COM metadata holds another file (archive in metadata).",
    )
    assert applied["status"] == "applied"
    assert list(Photo.objects.values_list("pk", flat=True)) == [uuid.UUID(applied["id"])]


def test_signature_images_with_hidden_files_are_refused_on_both_paths(settings):
    survey, departments, _ = submitted_survey(attending=1, absent=0)
    signer = official_of(departments[0])
    client = APIClient()
    client.force_authenticate(signer)
    data = png_with_chunk(b"tEXt", b"Comment\x00" + zip_bytes(), base=signature_png())
    form = {"record_type": "survey", "record_id": str(survey.pk)}

    multipart = client.post(
        "/api/v1/signatures/",
        {**form, "image": SimpleUploadedFile("s.png", data, "image/png")},
        format="multipart",
    )
    assert _problem(multipart) == (422, "application/problem+json", "image_rejected", "archive_in_metadata", "tEXt")
    assert (Signature.all_objects.count(), Blob.objects.count(), _stored_files(settings.BLOB_ROOT)) == (0, 0, [])

    _uploaded(signer, data)
    by_hash = client.post(
        "/api/v1/signatures/", {**form, "image_sha256": hashlib.sha256(data).hexdigest()}, format="json"
    )
    assert _problem(by_hash)[2:4] == ("image_rejected", "archive_in_metadata")
    assert (Signature.all_objects.count(), Blob.objects.count()) == (0, 1)


def test_originals_are_sandboxed_downloads_on_the_filesystem(client, site):
    photo_id = _multipart(client, site, jpeg_bytes()).json()["id"]

    original = client.get(f"{URL}{photo_id}/original/")

    assert original.status_code == 200
    assert (original["Content-Disposition"], original["Content-Type"]) == (
        f'attachment; filename="{photo_id}.jpeg"',
        "image/jpeg",
    )
    assert original["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert original["X-Content-Type-Options"] == "nosniff"


def test_signature_images_are_sandboxed_downloads():
    from backend.signatures.tests.factories import sign

    survey, departments, _ = submitted_survey(attending=1, absent=0)
    signer = official_of(departments[0])
    signature = sign("survey", survey, signer)
    client = APIClient()
    client.force_authenticate(signer)

    image = client.get(f"/api/v1/signatures/{signature.pk}/image/")

    assert image.status_code == 200
    assert image["Content-Disposition"] == f'attachment; filename="{signature.pk}.png"'
    assert (image["Content-Security-Policy"], image["X-Content-Type-Options"]) == (
        "sandbox; default-src 'none'",
        "nosniff",
    )


def test_presigned_s3_originals_are_downloads_with_a_fixed_content_type(s3_storage):
    import requests

    client = APIClient()
    client.force_authenticate(official())
    site = SiteFactory()
    data = jpeg_bytes()
    photo_id = _multipart(client, site, data).json()["id"]

    original = client.get(f"{URL}{photo_id}/original/")

    assert original.status_code == 302
    query = parse_qs(urlsplit(original["Location"]).query)
    assert query["response-content-disposition"] == [f"attachment; filename*=UTF-8''{photo_id}.jpeg"]
    assert query["response-content-type"] == ["image/jpeg"]
    assert (original["Content-Security-Policy"], original["X-Content-Type-Options"]) == (
        "sandbox; default-src 'none'",
        "nosniff",
    )
    served = requests.get(original["Location"], timeout=10)
    assert (served.content, served.headers["Content-Disposition"], served.headers["Content-Type"]) == (
        data,
        f"attachment; filename*=UTF-8''{photo_id}.jpeg",
        "image/jpeg",
    )


def test_a_refused_polyglot_in_s3_leaves_no_object(s3_storage):
    client = APIClient()
    client.force_authenticate(official())

    response = _multipart(client, SiteFactory(), jpeg_with_segment(0xFE, zip_bytes()))

    assert _problem(response)[2:4] == ("image_rejected", "archive_in_metadata")
    assert (Photo.all_objects.count(), Blob.objects.count(), s3_storage.keys()) == (0, 0, [])


def test_png_and_webp_without_hidden_files_still_pass():
    assert [_inspect(data).format for data in (png_bytes(), webp_bytes())] == ["PNG", "WEBP"]
