"""Demo photos of the land-use survey of the demo key project, made with Pillow.

- the survey: a view over the plant site with EXIF GPS inside the red line (on site), and one
  taken back at the approval service centre, located by the device fix only (~2 km away:
  flagged, not refused);
- the drainage finding: a photo with EXIF GPS and heading at the ditch on the south-east corner.

Written through the photo service (audited, measured against the red line in PostGIS); the
thumbnails are made straight away so the demo shows them without a worker. Idempotent by fixed
ids; tolerant: without the demo survey it does nothing.
"""

import io
import uuid

from django.contrib.gis.geos import Point
from PIL import Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

from backend.evidence.models import Photo
from backend.evidence.photos import photo_create, photo_make_derivatives
from backend.surveys.models import Finding, Survey

NAMESPACE = uuid.UUID("3f0c2b8e-51a7-4d7e-b6a4-9c1e0d7f5a21")
SURVEYS_NAMESPACE = uuid.UUID("6a1f7d9e-3c0b-4f4e-9a51-2f7c5b1e8d40")  # backend.demo.surveys


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 1000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 1000)


def demo_jpeg(*, sky: tuple[int, int, int], ground: tuple[int, int, int], gps=None, heading=None, taken=None) -> bytes:
    """A 1200 × 900 'landscape' with EXIF (GPS IFD 0x8825, DateTimeOriginal with offset)."""
    image = Image.new("RGB", (1200, 900), sky)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 520, 1200, 900), fill=ground)
    draw.polygon([(180, 520), (420, 300), (660, 520)], fill=(120, 120, 130))
    draw.rectangle((760, 380, 1080, 520), fill=(200, 200, 205))
    exif = Image.Exif()
    if gps is not None:
        lon, lat = gps
        exif.get_ifd(0x8825).update({1: "N", 2: _dms(lat), 3: "E", 4: _dms(lon)})
    if heading is not None:
        exif.get_ifd(0x8825).update({16: "T", 17: IFDRational(round(heading * 10), 10)})
    if taken is not None:
        exif.get_ifd(0x8769).update({0x9003: taken, 0x9011: "+08:00"})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def seed() -> None:
    survey = Survey.objects.filter(pk=uuid.uuid5(SURVEYS_NAMESPACE, "survey-land-use")).first()
    if survey is None:
        return
    drainage = Finding.objects.filter(pk=uuid.uuid5(SURVEYS_NAMESPACE, "finding-land-use-drainage")).first()
    photos = [
        (
            "survey-site-view",
            "survey",
            survey.pk,
            demo_jpeg(
                sky=(150, 190, 230),
                ground=(120, 150, 90),
                gps=(120.1740, 35.9628),
                heading=45.0,
                taken="2026:04:08 09:42:10",
            ),
            None,
        ),
        (
            "survey-service-centre",
            "survey",
            survey.pk,
            demo_jpeg(sky=(210, 210, 215), ground=(160, 150, 140)),
            Point(120.1585, 35.9512, srid=4326),
        ),
    ]
    if drainage is not None:
        photos.append(
            (
                "finding-drainage-ditch",
                "finding",
                drainage.pk,
                demo_jpeg(
                    sky=(170, 200, 225),
                    ground=(95, 110, 70),
                    gps=(120.1765, 35.9610),
                    heading=135.0,
                    taken="2026:04:08 10:15:00",
                ),
                None,
            )
        )
    for name, record_type, target_id, data, device_location in photos:
        photo_id = _id(name)
        if Photo.all_objects.filter(pk=photo_id).exists():
            continue
        photo, _ = photo_create(
            by=None,
            record_id=photo_id,
            record_type=record_type,
            target_id=target_id,
            file=io.BytesIO(data),
            location=device_location,
            device_id="demo",
        )
        photo_make_derivatives(photo=photo)
