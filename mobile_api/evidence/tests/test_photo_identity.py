"""A photo created with a client id lives under that id, on every path (multipart, finished
upload, known sha256, sync push), even when its bytes are already on the record under another
id; and unusable EXIF GPS is reported on the photo instead of silently replaced."""

import hashlib
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from rest_framework.test import APIClient

from backend.audit.models import AuditEntry
from backend.evidence.models import Blob, Photo
from backend.evidence.tests.factories import official
from backend.evidence.tests.imaging import GPS_IFD, jpeg_bytes, make_exif
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


def _multipart(client, site, data: bytes, **fields):
    file = SimpleUploadedFile("photo.jpg", data, "image/jpeg")
    return client.post(URL, {"record_type": "site", "record_id": str(site.pk), "file": file, **fields}, "multipart")


def _uploaded(user, data: bytes):
    upload = upload_create(owner=user, length=len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    upload_append(upload_id=upload.id, by=user, offset=0, body=io.BytesIO(data), content_length=len(data))
    return upload


def _push(client, operations):
    response = client.post("/api/v1/sync/push", {"device_id": "tablet-7", "operations": operations}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["receipts"]


def _photo_op(photo_id, site, sha256, **data):
    return {
        "op_id": str(uuid.uuid4()),
        "type": "photo",
        "action": "upsert",
        "id": str(photo_id),
        "base_version": None,
        "data": {"record_type": "site", "record_id": str(site.pk), "sha256": sha256, **data},
    }


def test_multipart_with_a_new_id_and_bytes_already_on_the_record_is_a_new_photo_under_that_id(client, site):
    data = jpeg_bytes()
    first_id, second_id = uuid.uuid4(), uuid.uuid4()
    first = _multipart(client, site, data, id=str(first_id))

    second = _multipart(client, site, data, id=str(second_id))

    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["id"], second.json()["id"]) == (str(first_id), str(second_id))
    fetched = client.get(f"{URL}{second_id}/")
    assert (fetched.status_code, fetched.json()["sha256"]) == (200, hashlib.sha256(data).hexdigest())
    assert sorted(Photo.objects.values_list("id", "blob_id")) == sorted(
        [(first_id, hashlib.sha256(data).hexdigest()), (second_id, hashlib.sha256(data).hexdigest())]
    )
    assert Blob.objects.count() == 1
    # The retry of the second create is still a replay, other bytes under its id still a 409.
    replay = _multipart(client, site, data, id=str(second_id))
    other = _multipart(client, site, jpeg_bytes(color=(3, 3, 3)), id=str(second_id))
    assert (replay.status_code, replay.json()["id"]) == (200, str(second_id))
    assert (other.status_code, other.json()["code"]) == (409, "id_conflict")
    assert Photo.objects.count() == 2


def test_without_an_id_the_bytes_are_the_identity_even_next_to_a_client_id_photo(client, site):
    data = jpeg_bytes()
    photo_id = uuid.uuid4()
    assert _multipart(client, site, data, id=str(photo_id)).status_code == 201

    again = _multipart(client, site, data)

    assert (again.status_code, again.json()["id"]) == (200, str(photo_id))
    assert Photo.objects.count() == 1


def test_from_upload_and_by_sha256_a_new_id_is_kept(client, user, site):
    data = jpeg_bytes(exif=make_exif(lon=120.1711, lat=35.9607))
    upload = _uploaded(user, data)
    sha256 = hashlib.sha256(data).hexdigest()
    ids = [uuid.uuid4() for _ in range(3)]
    body = {"record_type": "site", "record_id": str(site.pk)}

    responses = [
        client.post(URL, {**body, "id": str(ids[0]), "upload": str(upload.id)}, format="json"),
        client.post(URL, {**body, "id": str(ids[1]), "upload": str(upload.id)}, format="json"),
        client.post(URL, {**body, "id": str(ids[2]), "sha256": sha256}, format="json"),
    ]

    assert [(r.status_code, r.json()["id"], r.json()["sha256"]) for r in responses] == [
        (201, str(ids[0]), sha256),
        (201, str(ids[1]), sha256),
        (201, str(ids[2]), sha256),
    ]
    assert [client.get(f"{URL}{photo_id}/").status_code for photo_id in ids] == [200, 200, 200]
    assert Photo.objects.filter(blob_id=sha256).count() == 3


def test_sync_push_of_the_same_bytes_under_a_new_id_applies_it_under_that_id(client, user, site):
    data = jpeg_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    _uploaded(user, data)
    first_id, second_id = uuid.uuid4(), uuid.uuid4()

    receipts = _push(client, [_photo_op(first_id, site, sha256), _photo_op(second_id, site, sha256, heading=90)])

    assert [(r["status"], r["id"], r["version"]) for r in receipts] == [
        ("applied", str(first_id), 1),
        ("applied", str(second_id), 1),
    ]
    second = Photo.objects.get(pk=second_id)
    assert (second.blob_id, second.heading, second.device_id) == (sha256, 90.0, "tablet-7")
    assert AuditEntry.objects.filter(record_type="photo", record_id=second_id, action="create").count() == 1
    pulled = client.get("/api/v1/sync/pull", {"types": "photo"}).json()["changes"]
    assert sorted(change["id"] for change in pulled) == sorted([str(first_id), str(second_id)])


def _exif_with_gps(latitude, longitude, latitude_ref="N", longitude_ref="E") -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = latitude_ref, latitude, longitude_ref, longitude
    return exif


SIXTY_SECONDS = (IFDRational(35, 1), IFDRational(57, 1), IFDRational(60, 1))
VALID_LONGITUDE = (IFDRational(120, 1), IFDRational(10, 1), IFDRational(1560, 100))


def test_malformed_exif_gps_is_reported_and_the_device_fix_used(client, site):
    data = jpeg_bytes(exif=_exif_with_gps(SIXTY_SECONDS, VALID_LONGITUDE))

    response = _multipart(client, site, data, lon="120.1711", lat="35.9607")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["location_source"], body["location"]["coordinates"]) == ("device", [120.1711, 35.9607])
    assert body["location_warnings"] == [
        {
            "code": "exif_gps_invalid",
            "detail": "EXIF GPS latitude seconds is 60 (must be below 60); the device location was used.",
        }
    ]
    assert client.get(f"{URL}{body['id']}/").json()["location_warnings"] == body["location_warnings"]


def test_malformed_exif_gps_without_a_device_fix_leaves_no_location_and_says_why(client, site):
    data = jpeg_bytes(exif=_exif_with_gps(SIXTY_SECONDS, VALID_LONGITUDE, longitude_ref="X"))

    body = _multipart(client, site, data).json()

    assert (body["location_source"], body["location"]) == ("none", None)
    assert body["location_warnings"] == [
        {
            "code": "exif_gps_invalid",
            "detail": "EXIF GPS latitude seconds is 60 (must be below 60); the photo has no location.",
        }
    ]


def test_good_or_absent_exif_gps_gives_no_warning(client, site):
    good = _multipart(client, site, jpeg_bytes(exif=make_exif(lon=120.1711, lat=35.9607))).json()
    absent = _multipart(client, site, jpeg_bytes(color=(9, 9, 9)), lon="120.1711", lat="35.9607").json()

    assert (good["location_source"], good["location_warnings"]) == ("exif", [])
    assert (absent["location_source"], absent["location_warnings"]) == ("device", [])


def test_the_openapi_document_describes_location_warnings(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    photo = schema["components"]["schemas"]["Photo"]["properties"]["location_warnings"]
    assert photo["readOnly"] is True
    assert "exif_gps_invalid" in photo["description"]
    assert photo["items"] == {"$ref": "#/components/schemas/PhotoLocationWarning"}
