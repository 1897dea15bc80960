"""Creating photos through the service: EXIF, device and no location; the red line; dedup;
sources (file, tus upload, sha256); locked records; nothing left behind on failure."""

import hashlib
import io
import uuid

import pytest
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile

from backend.audit.models import AuditEntry
from backend.common.errors import ApplicationError, RecordLocked, ValidationFailed
from backend.evidence.blobs import blob_store_from_file
from backend.evidence.images import ImageTooLarge, InvalidImage, UnsupportedImage
from backend.evidence.models import Blob, Photo, Upload, UploadStatus
from backend.evidence.photos import photo_create, photo_delete, photo_make_derivatives, photos_visible_to
from backend.evidence.tests.factories import metres_along_parallel, official
from backend.evidence.tests.imaging import jpeg_bytes, make_exif, png_bomb, png_bytes, zip_bytes
from backend.evidence.uploads import upload_append, upload_create
from backend.sites.tests.factories import SiteFactory
from backend.surveys.tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db

INSIDE = (120.1711, 35.9607)  # inside the factory's red line (120.1700–120.1722, 35.9600–35.9614)


@pytest.fixture
def user():
    return official()


@pytest.fixture
def site():
    return SiteFactory()


def _file(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def _files(root):
    """Stored files (the store's own scratch directory `tmp/` aside)."""
    relative = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
    return sorted(str(p) for p in relative if p.parts[0] != "tmp")


def _create(user, site, data, **kwargs):
    return photo_create(by=user, record_type="site", target_id=site.pk, file=_file(data), **kwargs)


def test_exif_gps_is_the_location(user, site):
    exif = make_exif(lon=INSIDE[0], lat=INSIDE[1], heading=90.25, taken="2026:03:10 09:30:00", offset="+08:00")
    data = jpeg_bytes((64, 48), exif=exif)

    photo, created = _create(user, site, data, location=Point(120.0, 36.0, srid=4326), heading=10.0)

    assert created is True
    photo.refresh_from_db()
    assert (photo.location_source, photo.within_site, photo.distance_to_site_m) == ("exif", True, 0.0)
    assert (photo.location.x, photo.location.y) == pytest.approx(INSIDE, abs=1e-7)
    assert photo.heading == 90.25
    assert photo.taken_at.isoformat() == "2026-03-10T01:30:00+00:00"
    assert (photo.case_id, photo.record_type, photo.record_id) == (site.case_id, "site", site.pk)
    assert (photo.sha256, photo.content_type, photo.width, photo.height) == (
        hashlib.sha256(data).hexdigest(),
        "image/jpeg",
        64,
        48,
    )
    assert (photo.processing_status, photo.version, photo.created_by_id) == ("pending", 1, user.pk)
    assert AuditEntry.objects.filter(record_type="photo", record_id=photo.pk, action="create").count() == 1


def test_without_gps_the_device_fix_is_the_location(user, site):
    photo, _ = _create(user, site, jpeg_bytes(), location=Point(*INSIDE, srid=4326), heading=180.0)

    assert photo.location_source == "device"
    assert (photo.location.x, photo.location.y) == INSIDE
    assert (photo.heading, photo.within_site, photo.distance_to_site_m) == (180.0, True, 0.0)


def test_without_gps_or_device_fix_there_is_no_location(user, site):
    photo, _ = _create(user, site, jpeg_bytes())

    assert (photo.location_source, photo.location, photo.within_site, photo.distance_to_site_m) == (
        "none",
        None,
        None,
        None,
    )


def test_zero_over_zero_gps_falls_back_to_the_device(user, site):
    photo, _ = _create(user, site, jpeg_bytes(exif=make_exif(zero_gps=True)), location=Point(*INSIDE, srid=4326))

    assert photo.location_source == "device"


def test_a_photo_outside_the_red_line_is_flagged_not_refused(user, site):
    lon, lat = 120.1800, 35.9607  # east of the east edge (lon 120.1722)
    photo, created = _create(user, site, jpeg_bytes(exif=make_exif(lon=lon, lat=lat)))

    expected = metres_along_parallel(lat, 120.1722, lon)
    assert created is True
    assert photo.within_site is False
    assert 700 < expected < 710
    assert photo.distance_to_site_m == pytest.approx(expected, abs=1.0)


def test_within_the_tolerance_counts_as_on_site(user, site, settings):
    settings.PHOTO_SITE_TOLERANCE_M = 50
    lon = 120.1722 + 0.0003  # ~27 m east of the edge
    photo, _ = _create(user, site, jpeg_bytes(exif=make_exif(lon=lon, lat=35.9607)))

    assert photo.within_site is True
    assert photo.distance_to_site_m == pytest.approx(metres_along_parallel(35.9607, 120.1722, lon), abs=0.5)


def test_a_record_without_a_site_is_measured_against_its_case_sites(user, site):
    survey = SurveyFactory(case=site.case)
    data = jpeg_bytes(exif=make_exif(lon=120.1800, lat=35.9607))

    photo, _ = photo_create(by=user, record_type="survey", target_id=survey.pk, file=_file(data))

    assert (photo.case_id, photo.within_site) == (site.case_id, False)
    assert photo.distance_to_site_m == pytest.approx(metres_along_parallel(35.9607, 120.1722, 120.1800), abs=1.0)


def test_no_red_line_means_no_verdict(user):
    survey = SurveyFactory()
    survey.case.assigned_organizations.add(user.organization)
    data = jpeg_bytes(exif=make_exif(lon=120.1800, lat=35.9607))

    photo, _ = photo_create(by=user, record_type="survey", target_id=survey.pk, file=_file(data))

    assert (photo.location_source, photo.within_site, photo.distance_to_site_m) == ("exif", None, None)


def test_the_same_bytes_twice_on_one_record_without_an_id_are_one_photo(user, site):
    data = jpeg_bytes()
    first, created_first = _create(user, site, data)
    second, created_second = _create(user, site, data)

    assert (created_first, created_second) == (True, False)
    assert second.pk == first.pk
    assert Photo.objects.count() == 1
    assert Blob.objects.count() == 1


def test_the_same_bytes_on_one_record_under_a_new_client_id_are_a_photo_under_that_id(user, site):
    data = jpeg_bytes()
    first, _ = _create(user, site, data)
    photo_id = uuid.uuid4()
    second, created = _create(user, site, data, record_id=photo_id)

    assert (created, second.pk, second.blob_id, second.has_client_id) == (True, photo_id, first.blob_id, True)
    assert Photo.objects.count() == 2
    assert Blob.objects.count() == 1


def test_the_same_bytes_on_another_record_are_another_photo_of_one_blob(user, site):
    other = SiteFactory(case=site.case, project=site.project)
    data = jpeg_bytes()

    first, _ = _create(user, site, data)
    second, created = _create(user, other, data)

    assert created is True
    assert first.pk != second.pk and first.blob_id == second.blob_id
    assert Blob.objects.count() == 1


def test_a_replayed_client_id_returns_the_photo_and_other_content_conflicts(user, site):
    photo_id = uuid.uuid4()
    photo, _ = _create(user, site, jpeg_bytes(), record_id=photo_id, digest="d1")

    again, created = _create(user, site, jpeg_bytes(), record_id=photo_id, digest="d1")
    assert (again.pk, created) == (photo.pk, False)
    with pytest.raises(ApplicationError) as raised:
        _create(user, site, jpeg_bytes(color=(1, 2, 3)), record_id=photo_id, digest="d2")
    assert raised.value.code == "id_conflict"


def test_a_png_named_jpg_is_stored_as_a_png(user, site):
    photo, _ = photo_create(
        by=user, record_type="site", target_id=site.pk, file=_file(png_bytes(), "photo.jpg", "image/jpeg")
    )

    assert (photo.content_type, photo.blob.content_type, photo.width, photo.height) == (
        "image/png",
        "image/png",
        40,
        30,
    )


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (b"not an image at all", UnsupportedImage, "unsupported_media_type"),
        (png_bomb(), ImageTooLarge, "image_too_large"),
        (jpeg_bytes() + zip_bytes(), InvalidImage, "invalid_image"),
        (b"\xff\xd8\xff\xe0garbage after a jpeg header" * 4, InvalidImage, "invalid_image"),
    ],
    ids=["not-an-image", "bomb", "polyglot", "fake-header"],
)
def test_a_refused_file_leaves_nothing_behind(user, site, settings, data, error, code):
    audit_before = AuditEntry.objects.count()

    with pytest.raises(error) as raised:
        _create(user, site, data)

    assert raised.value.code == code
    assert Photo.all_objects.count() == 0
    assert Blob.objects.count() == 0
    assert _files(settings.BLOB_ROOT) == []
    assert AuditEntry.objects.count() == audit_before


def test_a_failure_after_the_file_was_stored_removes_it(user, site, settings, monkeypatch):
    kept = jpeg_bytes()
    _create(user, site, kept)
    blobs_before, files_before = Blob.objects.count(), _files(settings.BLOB_ROOT)

    def fail(**kwargs):
        raise RuntimeError("the database went away")

    # Measuring against the red line happens after the bytes are in the blob store.
    monkeypatch.setattr("backend.evidence.photos.photo_site_distance_m", fail)
    with pytest.raises(RuntimeError):
        _create(user, site, jpeg_bytes(color=(9, 9, 9), exif=make_exif(lon=INSIDE[0], lat=INSIDE[1])))

    assert len(files_before) == 1
    assert (Blob.objects.count(), _files(settings.BLOB_ROOT)) == (blobs_before, files_before)
    assert Photo.all_objects.count() == 1
    # Bytes that were there before the failed attempt stay.
    with pytest.raises(RuntimeError):
        _create(user, SiteFactory(case=site.case, project=site.project), kept, location=Point(*INSIDE, srid=4326))
    assert (Blob.objects.count(), _files(settings.BLOB_ROOT)) == (blobs_before, files_before)


def test_an_invisible_record_reads_as_missing(site):
    stranger = official(region="110101")

    with pytest.raises(ValidationFailed) as raised:
        _create(stranger, site, jpeg_bytes())

    assert raised.value.errors == {"record_id": ["No such record."]}
    assert Photo.all_objects.count() == 0 and Blob.objects.count() == 0


def test_photos_cannot_be_attached_to_evidence(user, site):
    photo, _ = _create(user, site, jpeg_bytes())

    with pytest.raises(ValidationFailed) as raised:
        photo_create(by=user, record_type="photo", target_id=photo.pk, file=_file(jpeg_bytes(color=(5, 5, 5))))

    assert list(raised.value.errors) == ["record_type"]


def test_a_locked_record_takes_no_new_photos_and_keeps_its_photos(user, site):
    photo, _ = _create(user, site, jpeg_bytes())
    type(site).all_objects.filter(pk=site.pk).update(is_locked=True)

    with pytest.raises(RecordLocked):
        _create(user, site, jpeg_bytes(color=(3, 3, 3)))
    with pytest.raises(RecordLocked):
        photo_delete(instance=photo, by=user)

    assert Photo.objects.count() == 1 and Blob.objects.count() == 1


def _finished_upload(owner, data: bytes) -> Upload:
    upload = upload_create(owner=owner, length=len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    return upload_append(upload_id=upload.id, by=owner, offset=0, body=io.BytesIO(data), content_length=len(data))


def test_a_photo_from_a_finished_tus_upload(user, site):
    data = jpeg_bytes(exif=make_exif(lon=INSIDE[0], lat=INSIDE[1]))
    upload = _finished_upload(user, data)
    assert upload.status == UploadStatus.COMPLETE

    photo, created = photo_create(by=user, record_type="site", target_id=site.pk, upload=upload.id)

    assert created is True
    assert (photo.sha256, photo.location_source, photo.within_site) == (upload.blob_id, "exif", True)


def test_someone_elses_or_an_unfinished_upload_is_refused(user, site):
    data = jpeg_bytes()
    others = _finished_upload(official(), data)
    unfinished = upload_create(owner=user, length=len(data), expected_sha256=hashlib.sha256(data).hexdigest())

    with pytest.raises(ValidationFailed) as raised:
        photo_create(by=user, record_type="site", target_id=site.pk, upload=others.id)
    assert raised.value.errors == {"upload": ["No such upload."]}
    with pytest.raises(ApplicationError) as raised:
        photo_create(by=user, record_type="site", target_id=site.pk, upload=unfinished.id)
    assert (raised.value.status, raised.value.code) == (409, "upload_incomplete")
    assert Photo.all_objects.count() == 0


def test_a_sha256_needs_your_own_upload_or_a_photo_you_can_see(user, site):
    data = jpeg_bytes()
    blob = blob_store_from_file(path_or_fileobj=io.BytesIO(data))  # stored, but not by this user
    never_stored = hashlib.sha256(b"guess").hexdigest()

    for sha256 in (blob.sha256, never_stored):
        with pytest.raises(ValidationFailed) as raised:
            photo_create(by=user, record_type="site", target_id=site.pk, sha256=sha256)
        assert (raised.value.code, raised.value.errors) == ("file_missing", {"sha256": ["No such file."]})

    _finished_upload(user, data)
    photo, created = photo_create(by=user, record_type="site", target_id=site.pk, sha256=blob.sha256)
    assert (created, photo.sha256) == (True, blob.sha256)

    # A colleague who can see that photo may attach the same file to another record.
    colleague = official()
    other = SiteFactory(case=site.case, project=site.project)
    again, created = photo_create(by=colleague, record_type="site", target_id=other.pk, sha256=blob.sha256)
    assert (created, again.sha256) == (True, blob.sha256)


def test_an_existing_blob_that_is_not_an_image_is_refused_and_kept(user, site):
    upload = _finished_upload(user, b"%PDF-1.7 a scanned form")

    with pytest.raises(UnsupportedImage):
        photo_create(by=user, record_type="site", target_id=site.pk, upload=upload.id)

    assert Photo.all_objects.count() == 0
    assert Blob.objects.filter(pk=upload.blob_id).exists()


def test_photos_are_visible_exactly_when_their_record_is(user, site):
    photo, _ = _create(user, site, jpeg_bytes())

    assert list(photos_visible_to(user=user)) == [photo]
    assert list(photos_visible_to(user=official(region="110101"))) == []


def test_derivatives_are_jpegs_without_exif(user, site, settings):
    exif = make_exif(lon=INSIDE[0], lat=INSIDE[1], taken="2026:03:10 09:30:00")
    photo, _ = _create(user, site, jpeg_bytes((2000, 1500), exif=exif))

    photo = photo_make_derivatives(photo=photo)

    assert photo.processing_status == "ready"
    from PIL import Image

    for blob, size in ((photo.preview, (1600, 1200)), (photo.thumbnail, (320, 240))):
        data = (settings.BLOB_ROOT / f"blobs/{blob.sha256[:2]}/{blob.sha256[2:4]}/{blob.sha256}").read_bytes()
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.size, blob.content_type) == ("JPEG", size, "image/jpeg")
        assert dict(image.getexif()) == {}
        assert b"Exif" not in data
    assert photo_make_derivatives(photo=photo).thumbnail_id == photo.thumbnail_id


def test_derivatives_are_queued_on_commit(user, site, settings, django_capture_on_commit_callbacks):
    from procrastinate.contrib.django.models import ProcrastinateJob

    settings.PHOTO_DERIVATIVES_INLINE = False

    with django_capture_on_commit_callbacks(execute=True):
        photo, _ = _create(user, site, jpeg_bytes())

    job = ProcrastinateJob.objects.get(task_name="evidence.photo_make_derivatives")
    assert job.args == {"photo_id": str(photo.pk)}


def test_derivatives_inline_in_development(user, site, settings, django_capture_on_commit_callbacks):
    settings.PHOTO_DERIVATIVES_INLINE = True

    with django_capture_on_commit_callbacks(execute=True):
        photo, _ = _create(user, site, jpeg_bytes())

    photo.refresh_from_db()
    assert (photo.processing_status, photo.thumbnail_id is not None) == ("ready", True)
