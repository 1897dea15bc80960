"""Photos with the blob store in S3 (a moto server): the checks read the object, downloads
redirect to a short-lived presigned URL, a refused file leaves no object."""

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from backend.evidence.models import Blob, Photo
from backend.evidence.photos import photo_make_derivatives
from backend.evidence.storage import blob_key
from backend.evidence.tests.factories import official
from backend.evidence.tests.imaging import jpeg_bytes, make_exif, zip_bytes
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/photos/"


def _post(client, site, data):
    file = SimpleUploadedFile("photo.jpg", data, "image/jpeg")
    return client.post(URL, {"record_type": "site", "record_id": str(site.pk), "file": file}, format="multipart")


def test_photos_in_s3(s3_storage):
    client = APIClient()
    client.force_authenticate(official())
    site = SiteFactory()
    data = jpeg_bytes((400, 300), exif=make_exif(lon=120.1711, lat=35.9607))

    response = _post(client, site, data)

    assert response.status_code == 201, response.json()
    sha256 = hashlib.sha256(data).hexdigest()
    assert (response.json()["sha256"], response.json()["within_site"]) == (sha256, True)
    assert Blob.objects.get().storage == "s3"
    assert s3_storage.keys("blobs/") == [blob_key(sha256)]

    original = client.get(f"{URL}{response.json()['id']}/original/")
    assert original.status_code == 302
    assert parse_qs(urlsplit(original["Location"]).query)["X-Amz-Expires"] == ["300"]
    assert requests.get(original["Location"], timeout=10).content == data

    photo = photo_make_derivatives(photo=Photo.objects.get())
    assert photo.processing_status == "ready"
    assert len(s3_storage.keys("blobs/")) == 3


def test_a_refused_polyglot_leaves_no_object_in_s3(s3_storage):
    client = APIClient()
    client.force_authenticate(official())

    response = _post(client, SiteFactory(), jpeg_bytes() + zip_bytes())

    assert (response.status_code, response.json()["code"]) == (400, "invalid_image")
    assert (Photo.all_objects.count(), Blob.objects.count(), s3_storage.keys()) == (0, 0, [])
