"""`/api/v1/photos/` as a tablet uses it: multipart and JSON creation, refusals as problem+json,
dedup, scoping, filters, downloads."""

import hashlib
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from backend.common.geometry import wgs84_to_gcj02
from backend.evidence.models import Blob, Photo
from backend.evidence.photos import photo_make_derivatives
from backend.evidence.tests.factories import official
from backend.evidence.tests.imaging import jpeg_bytes, make_exif, png_bomb, png_bytes, zip_bytes
from backend.evidence.uploads import upload_append, upload_create
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/photos/"


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


def _post(client, site, data: bytes, name="photo.jpg", content_type="image/jpeg", **fields):
    body = {"record_type": "site", "record_id": str(site.pk), "file": SimpleUploadedFile(name, data, content_type)}
    return client.post(URL, {**body, **fields}, format="multipart")


def _stored_files(root):
    relative = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
    return sorted(str(p) for p in relative if p.parts[0] != "tmp")


def test_multipart_create_with_exif(client, site):
    data = jpeg_bytes((64, 48), exif=make_exif(lon=120.1711, lat=35.9607, heading=45.5))

    response = client.post(
        URL,
        {
            "record_type": "site",
            "record_id": str(site.pk),
            "file": SimpleUploadedFile("IMG_0001.jpg", data, "image/jpeg"),
            "lon": "120.0",
            "lat": "36.0",
            "taken_at": "2026-03-10T09:30:00+08:00",
        },
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    photo = Photo.objects.get()
    assert response["ETag"] == '"1"'
    assert body["id"] == str(photo.pk)
    assert {k: body[k] for k in ("record_type", "record_id", "case", "sha256", "content_type", "width", "height")} == {
        "record_type": "site",
        "record_id": str(site.pk),
        "case": str(site.case_id),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": "image/jpeg",
        "width": 64,
        "height": 48,
    }
    assert body["location"]["type"] == "Point"
    assert body["location"]["coordinates"] == pytest.approx([120.1711, 35.9607], abs=1e-7)
    assert (body["location_source"], body["heading"], body["within_site"], body["distance_to_site_m"]) == (
        "exif",
        45.5,
        True,
        0.0,
    )
    assert body["taken_at"] == "2026-03-10T09:30:00+08:00"
    assert body["processing_status"] == "pending"
    assert body["urls"] == {
        "original": f"http://testserver/api/v1/photos/{photo.pk}/original/",
        "thumbnail": None,
        "preview": None,
    }
    assert "file" not in body and "lon" not in body


def test_device_location_as_geojson_in_a_form(client, site):
    response = _post(client, site, jpeg_bytes(), location='{"type": "Point", "coordinates": [120.1711, 35.9607]}')

    assert response.status_code == 201, response.json()
    assert (response.json()["location_source"], response.json()["within_site"]) == ("device", True)


def test_gcj02_device_location_is_stored_as_wgs84(client, site):
    lon, lat = wgs84_to_gcj02(120.1711, 35.9607)
    response = client.post(
        URL,
        {
            "record_type": "site",
            "record_id": str(site.pk),
            "file": SimpleUploadedFile("a.jpg", jpeg_bytes(), "image/jpeg"),
            "lon": str(lon),
            "lat": str(lat),
        },
        format="multipart",
        HTTP_X_COORD_SYSTEM="gcj02",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["location"]["coordinates"] == pytest.approx([120.1711, 35.9607], abs=1e-6)
    assert response.json()["within_site"] is True


def test_the_same_bytes_twice_without_an_id_give_the_same_photo_with_200(client, site):
    data = jpeg_bytes()
    first = _post(client, site, data)
    second = _post(client, site, data)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert Photo.objects.count() == 1


def test_a_multipart_retry_with_the_same_id_is_a_replay(client, site):
    photo_id = str(uuid.uuid4())
    first = _post(client, site, jpeg_bytes(), id=photo_id)
    replay = _post(client, site, jpeg_bytes(), id=photo_id)
    other = _post(client, site, jpeg_bytes(color=(1, 1, 1)), id=photo_id)

    assert (first.status_code, replay.status_code, other.status_code) == (201, 200, 409)
    assert other.json()["code"] == "id_conflict"


def test_a_png_named_jpg_is_accepted_as_png(client, site):
    response = _post(client, site, png_bytes((40, 30)), name="photo.jpg", content_type="image/jpeg")

    assert response.status_code == 201, response.json()
    assert (response.json()["content_type"], response.json()["width"]) == ("image/png", 40)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"MZ\x90\x00 an executable", 415, "unsupported_media_type"),
        (png_bomb(), 413, "image_too_large"),
        (jpeg_bytes() + zip_bytes(), 400, "invalid_image"),
        (jpeg_bytes() + b"<html><body><script>alert(1)</script></body></html>", 400, "invalid_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 400, "invalid_image"),
    ],
    ids=["executable", "bomb", "jpeg-zip", "jpeg-html", "png-header-only"],
)
def test_refused_files_are_problems_and_leave_nothing(client, site, settings, data, status, code):
    response = _post(client, site, data)

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert (Photo.all_objects.count(), Blob.objects.count(), _stored_files(settings.BLOB_ROOT)) == (0, 0, [])


def test_a_file_over_the_size_limit_is_refused(client, site, settings):
    settings.PHOTO_MAX_BYTES = 1000

    response = _post(client, site, jpeg_bytes((200, 200), quality=100))

    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert (Photo.all_objects.count(), Blob.objects.count()) == (0, 0)


def test_no_file_no_upload_no_sha256_is_a_validation_error(client, site):
    response = client.post(URL, {"record_type": "site", "record_id": str(site.pk)}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == {"file": ["Send exactly one of file, upload, sha256."]}


def test_create_from_a_finished_tus_upload(client, user, site):
    data = jpeg_bytes(exif=make_exif(lon=120.1800, lat=35.9607))
    upload = upload_create(owner=user, length=len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    upload_append(upload_id=upload.id, by=user, offset=0, body=io.BytesIO(data), content_length=len(data))

    response = client.post(
        URL, {"record_type": "site", "record_id": str(site.pk), "upload": str(upload.id)}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["sha256"], body["location_source"], body["within_site"]) == (
        hashlib.sha256(data).hexdigest(),
        "exif",
        False,
    )
    assert 700 < body["distance_to_site_m"] < 710
    again = client.post(
        URL, {"record_type": "site", "record_id": str(site.pk), "sha256": body["sha256"]}, format="json"
    )
    assert (again.status_code, again.json()["id"]) == (200, body["id"])


def test_photos_of_invisible_records_do_not_exist(client, site):
    created = _post(client, site, jpeg_bytes()).json()
    stranger = APIClient()
    stranger.force_authenticate(official(region="110101"))

    assert stranger.get(f"{URL}{created['id']}/").status_code == 404
    assert stranger.get(f"{URL}{created['id']}/original/").status_code == 404
    assert stranger.get(URL).json()["count"] == 0
    refused = _post(stranger, site, jpeg_bytes(color=(7, 7, 7)))
    assert (refused.status_code, refused.json()["errors"]) == (400, {"record_id": ["No such record."]})


def test_list_filters_by_record_and_case(client, site):
    other = SiteFactory()
    a = _post(client, site, jpeg_bytes()).json()
    b = _post(client, other, jpeg_bytes()).json()

    def ids(query):
        response = client.get(URL + query)
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [a["id"], b["id"]]
    assert ids(f"?record_type=site&record_id={site.pk}") == [a["id"]]
    assert ids(f"?case={other.case_id}") == [b["id"]]
    assert ids("?record_type=survey") == []


def test_downloads_are_authenticated_and_private(client, site):
    data = jpeg_bytes((400, 300), exif=make_exif(lon=120.1711, lat=35.9607))
    created = _post(client, site, data).json()

    original = client.get(f"{URL}{created['id']}/original/")
    assert original.status_code == 200
    assert (original["Content-Type"], original["Cache-Control"], original["X-Content-Type-Options"]) == (
        "image/jpeg",
        "private, max-age=300",
        "nosniff",
    )
    assert b"".join(original.streaming_content) == data
    assert client.get(f"{URL}{created['id']}/thumbnail/").json()["code"] == "not_ready"
    assert APIClient().get(f"{URL}{created['id']}/original/").status_code == 401

    photo_make_derivatives(photo=Photo.objects.get(pk=created["id"]))
    body = client.get(f"{URL}{created['id']}/").json()
    assert body["urls"]["thumbnail"] == f"http://testserver/api/v1/photos/{created['id']}/thumbnail/"
    thumbnail = client.get(f"{URL}{created['id']}/thumbnail/")
    image = Image.open(io.BytesIO(b"".join(thumbnail.streaming_content)))
    assert (thumbnail.status_code, image.format, image.size, dict(image.getexif())) == (200, "JPEG", (320, 240), {})


def test_heading_can_be_corrected_but_not_the_evidence(client, site):
    created = _post(client, site, jpeg_bytes(), heading="10").json()
    url = f"{URL}{created['id']}/"

    fixed = client.patch(url, {"heading": 20.5}, format="json", HTTP_IF_MATCH='"1"')
    moved = client.patch(url, {"record_id": str(uuid.uuid4())}, format="json", HTTP_IF_MATCH='"2"')

    assert (fixed.status_code, fixed.json()["heading"], fixed.json()["version"]) == (200, 20.5, 2)
    assert (moved.status_code, moved.json()["errors"]) == (400, {"record_id": ["Cannot be changed."]})


def test_a_locked_record_refuses_new_and_removed_photos(client, site):
    created = _post(client, site, jpeg_bytes()).json()
    type(site).all_objects.filter(pk=site.pk).update(is_locked=True)

    added = _post(client, site, jpeg_bytes(color=(4, 4, 4)))
    removed = client.delete(f"{URL}{created['id']}/")

    assert (added.status_code, added.json()["code"]) == (409, "record_locked")
    assert (removed.status_code, removed.json()["code"]) == (409, "record_locked")
    assert Photo.objects.count() == 1


def test_delete_leaves_a_tombstone_and_the_bytes_can_be_attached_again(client, site):
    data = jpeg_bytes()
    created = _post(client, site, data).json()

    assert client.delete(f"{URL}{created['id']}/").status_code == 204
    assert client.get(f"{URL}{created['id']}/").status_code == 404
    again = _post(client, site, data)
    assert again.status_code == 201
    assert again.json()["id"] != created["id"]


def test_a_multipart_file_is_streamed_to_a_temporary_file_however_small(user):
    from django.core.files.uploadedfile import TemporaryUploadedFile
    from rest_framework.test import APIRequestFactory

    from mobile_api.evidence.views import PhotoViewSet

    django_request = APIRequestFactory().post(
        URL, {"record_type": "site", "file": SimpleUploadedFile("a.jpg", jpeg_bytes(), "image/jpeg")}
    )
    request = PhotoViewSet(action_map={"post": "create"}).initialize_request(django_request)

    assert isinstance(request.data["file"], TemporaryUploadedFile)
