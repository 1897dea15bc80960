"""Judging a photo file by its bytes: formats, bombs, polyglots and EXIF, without decoding pixels."""

import datetime as dt
import io
import zoneinfo

import pytest
from PIL import Image

from backend.evidence.images import ImageTooLarge, InvalidImage, UnsupportedImage, image_derivatives, image_inspect
from backend.evidence.tests.imaging import jpeg_bytes, make_exif, png_bomb, png_bytes, webp_bytes, zip_bytes


def _write(tmp_path, data: bytes, name: str = "photo.jpg"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_jpeg_with_exif_gps_time_and_heading(tmp_path):
    exif = make_exif(lon=120.1711, lat=35.9607, heading=275.5, taken="2026:03:10 09:30:15", offset="+09:00")
    info = image_inspect(_write(tmp_path, jpeg_bytes((64, 48), exif=exif)))

    assert (info.format, info.content_type, info.width, info.height) == ("JPEG", "image/jpeg", 64, 48)
    assert info.exif_location == pytest.approx((120.1711, 35.9607), abs=1e-7)
    assert info.exif_heading == 275.5
    assert info.exif_taken_at == dt.datetime(2026, 3, 10, 9, 30, 15, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def test_southern_and_western_references_are_negative(tmp_path):
    info = image_inspect(_write(tmp_path, jpeg_bytes(exif=make_exif(lon=-70.25, lat=-33.5))))

    assert info.exif_location == pytest.approx((-70.25, -33.5), abs=1e-7)


def test_exif_time_without_offset_is_china_time(tmp_path):
    info = image_inspect(_write(tmp_path, jpeg_bytes(exif=make_exif(taken="2026:03:10 09:30:00"))))

    assert info.exif_taken_at == dt.datetime(2026, 3, 10, 9, 30, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
    assert info.exif_taken_at.utcoffset() == dt.timedelta(hours=8)
    assert info.exif_location is None


def test_zero_over_zero_rationals_mean_no_location(tmp_path):
    info = image_inspect(_write(tmp_path, jpeg_bytes(exif=make_exif(zero_gps=True))))

    assert info.exif_location is None


def test_no_exif_at_all(tmp_path):
    info = image_inspect(_write(tmp_path, jpeg_bytes()))

    assert (info.exif_location, info.exif_taken_at, info.exif_heading) == (None, None, None)


def test_a_png_named_jpg_is_a_png(tmp_path):
    info = image_inspect(_write(tmp_path, png_bytes((40, 30)), "photo.jpg"))

    assert (info.format, info.content_type, info.width, info.height) == ("PNG", "image/png", 40, 30)


def test_webp_is_accepted(tmp_path):
    info = image_inspect(_write(tmp_path, webp_bytes((40, 30)), "photo.webp"))

    assert (info.format, info.content_type, info.width, info.height) == ("WEBP", "image/webp", 40, 30)


@pytest.mark.parametrize(
    "data",
    [b"just some text, not an image", b"%PDF-1.7\n%...", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", zip_bytes(), b""],
    ids=["text", "pdf", "gif", "zip", "empty"],
)
def test_what_is_not_an_allowed_image_is_unsupported(tmp_path, data):
    with pytest.raises(UnsupportedImage) as raised:
        image_inspect(_write(tmp_path, data))

    assert (raised.value.status, raised.value.code) == (415, "unsupported_media_type")


def test_a_png_declaring_huge_dimensions_is_refused_before_decoding(tmp_path):
    bomb = png_bomb(100_000, 100_000)
    assert len(bomb) < 200

    with pytest.raises(ImageTooLarge) as raised:
        image_inspect(_write(tmp_path, bomb, "bomb.png"))

    assert (raised.value.status, raised.value.code) == (413, "image_too_large")


def test_the_pixel_limit_comes_from_settings(tmp_path, settings):
    settings.PHOTO_MAX_PIXELS = 64 * 48 - 1

    with pytest.raises(ImageTooLarge):
        image_inspect(_write(tmp_path, jpeg_bytes((64, 48))))

    settings.PHOTO_MAX_PIXELS = 64 * 48
    assert image_inspect(_write(tmp_path, jpeg_bytes((64, 48)))).width == 64


@pytest.mark.parametrize(
    "appended",
    [zip_bytes(), b"<html><script>alert(document.cookie)</script></html>", b"%PDF-1.4 trailing document", b"x" * 5000],
    ids=["zip", "html", "pdf", "5000-bytes"],
)
def test_a_jpeg_with_another_file_appended_is_refused(tmp_path, appended):
    with pytest.raises(InvalidImage) as raised:
        image_inspect(_write(tmp_path, jpeg_bytes() + appended))

    assert (raised.value.status, raised.value.code) == (400, "invalid_image")


def test_a_png_with_a_zip_appended_is_refused(tmp_path):
    with pytest.raises(InvalidImage):
        image_inspect(_write(tmp_path, png_bytes() + zip_bytes(), "photo.png"))


def test_small_vendor_trailers_and_zero_padding_are_allowed(tmp_path):
    assert image_inspect(_write(tmp_path, jpeg_bytes() + b"SEFH\x00\x01vendor trailer" * 20)).format == "JPEG"
    assert image_inspect(_write(tmp_path, jpeg_bytes() + b"\x00" * 100_000)).format == "JPEG"


def test_an_image_header_followed_by_garbage_is_invalid(tmp_path):
    with pytest.raises(InvalidImage) as raised:
        image_inspect(_write(tmp_path, b"\xff\xd8\xff\xe0" + b"<html>not really a jpeg</html>" * 10))

    assert raised.value.code == "invalid_image"


def test_a_truncated_jpeg_is_invalid(tmp_path):
    data = jpeg_bytes((64, 48))

    with pytest.raises(InvalidImage):
        image_inspect(_write(tmp_path, data[: len(data) // 2]))


def test_a_png_with_a_damaged_chunk_is_invalid(tmp_path):
    data = bytearray(png_bytes())
    data[-20] ^= 0xFF  # inside IDAT: its CRC no longer matches

    with pytest.raises(InvalidImage):
        image_inspect(_write(tmp_path, bytes(data), "photo.png"))


def test_a_multi_picture_jpeg_keeps_its_declared_pictures(tmp_path):
    out = io.BytesIO()
    first, second = Image.new("RGB", (64, 48), (10, 20, 30)), Image.new("RGB", (32, 24), (200, 10, 10))
    first.save(out, "MPO", save_all=True, append_images=[second])

    info = image_inspect(_write(tmp_path, out.getvalue()))

    assert (info.format, info.content_type, info.width, info.height) == ("JPEG", "image/jpeg", 64, 48)
    with pytest.raises(InvalidImage):
        image_inspect(_write(tmp_path, out.getvalue() + zip_bytes()))


def test_derivatives_are_upright_jpegs_without_metadata(tmp_path):
    # Orientation 6: the camera was turned; the upright picture is 48 × 64.
    exif = make_exif(lon=120.17, lat=35.96, taken="2026:03:10 09:30:00", orientation=6)
    path = _write(tmp_path, jpeg_bytes((640, 480), exif=exif))

    preview, thumbnail = image_derivatives(path, sizes=(400, 100))

    for data, size in ((preview, (300, 400)), (thumbnail, (75, 100))):
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.size) == ("JPEG", size)
        assert dict(image.getexif()) == {}
        assert "exif" not in image.info and "xmp" not in image.info
        assert b"Exif\x00\x00" not in data
