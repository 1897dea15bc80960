"""What a photo file is, judged from its bytes alone, without decoding its pixels.

`image_inspect(path)` answers the format (JPEG, PNG or WebP, sniffed from the magic bytes
and confirmed by Pillow), the size, and the EXIF location, time and heading. It refuses:

- anything that is not one of those formats → 415 `unsupported_media_type` (the name and the
  declared content type do not matter: a PNG called `.jpg` is a PNG);
- a file that starts like an image but is not one, or carries another file after its end
  (a JPEG with a ZIP or HTML appended) → 400 `invalid_image`;
- more pixels than PHOTO_MAX_PIXELS (decompression bombs: a small file declaring huge
  dimensions) → 413 `image_too_large`;
- metadata that hides another file → 422 `image_rejected` with a `reason`: a JPEG APPn, COM or
  JPGn segment, a PNG ancillary chunk or a WebP metadata chunk carrying the signature of an
  archive, a document, an executable or markup (`archive_in_metadata`, `document_in_metadata`,
  `executable_in_metadata`, `markup_in_metadata`; `<?xml` is markup too, except inside an
  XMP packet, where it belongs), or more metadata in all than PHOTO_MAX_METADATA_BYTES
  (`metadata_too_large`). Such a file is a valid image and would be served byte-identical:
  polyglots (a ZIP in a JPEG comment opens as a ZIP holding HTML) are refused at the door.

Trailing data rule: after the image's end (JPEG EOI, PNG IEND, the WebP RIFF length) at most
PHOTO_MAX_TRAILING_BYTES (4 KiB) may follow — phones append small vendor trailers — and even
those must not contain the signature of another format (ZIP, PDF, HTML/script/SVG, PHP, RAR,
7z, gzip, executables). Zero padding of any length is allowed. The further images a
multi-picture JPEG (MPO, CIPA DC-007) declares in its MP index count as part of the image.

Reading the header only: Image.open() and getexif() parse the markers and stop before the
pixel data; nothing here calls load(). (A PNG keeps its eXIf chunk wherever it likes and Pillow
decodes the image to find one after the pixels; such an EXIF block is ignored.)
"""

from __future__ import annotations

import datetime as dt
import io
import math
import mmap
import re
import struct
import warnings
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.common.errors import ApplicationError

JPEG, PNG, WEBP = "JPEG", "PNG", "WEBP"
CONTENT_TYPES = {JPEG: "image/jpeg", PNG: "image/png", WEBP: "image/webp"}
# Pillow's names for each sniffed format (a JPEG with an MP index opens as MPO).
PILLOW_FORMATS = {JPEG: {"JPEG", "MPO"}, PNG: {"PNG"}, WEBP: {"WEBP"}}

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATE_TIME_ORIGINAL = 0x9003
OFFSET_TIME_ORIGINAL = 0x9011
GPS_LATITUDE_REF, GPS_LATITUDE, GPS_LONGITUDE_REF, GPS_LONGITUDE = 1, 2, 3, 4
GPS_IMG_DIRECTION = 17

# Signatures of formats that have no business after an image's end.
FOREIGN_SIGNATURES = re.compile(
    rb"PK\x03\x04|PK\x05\x06|PK\x01\x02|%PDF-|Rar!\x1a\x07|7z\xbc\xaf\x27\x1c|\x1f\x8b\x08|MZ\x90\x00|\x7fELF"
    rb"|<\s*(?:html|script|svg|iframe|body|head|object|embed|\?php|!doctype)",
    re.IGNORECASE,
)
# What no metadata segment of a photo has reason to carry, by the reason it is refused. (Not gzip:
# its three-byte signature turns up by chance in binary EXIF thumbnails and ICC profiles.)
METADATA_SIGNATURES = (
    ("archive_in_metadata", re.compile(rb"PK\x03\x04|PK\x05\x06|PK\x01\x02|Rar!\x1a\x07|7z\xbc\xaf\x27\x1c")),
    ("document_in_metadata", re.compile(rb"%PDF-")),
    ("executable_in_metadata", re.compile(rb"MZ\x90\x00|\x7fELF")),
    (
        "markup_in_metadata",
        re.compile(rb"<\s*(?:html|script|svg|iframe|body|head|object|embed|\?php|!doctype)", re.IGNORECASE),
    ),
)
XML_DECLARATION = re.compile(rb"<\?xml", re.IGNORECASE)
# XMP packets: JPEG APP1 namespaces (main and extended), the PNG iTXt keyword, the WebP chunk.
JPEG_XMP_PREFIXES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp\x00"
# JPEG segments that are metadata: APP0-APP15, JPG0-JPG13 extensions, COM.
JPEG_METADATA_MARKERS = frozenset({*range(0xE0, 0xF0), *range(0xF0, 0xFE), 0xFE})
PNG_IMAGE_CHUNKS = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})
WEBP_IMAGE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"})
# A JPEG marker in entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart marker nor fill.
JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
MAX_PNG_CHUNKS = 100_000


class UnsupportedImage(ApplicationError):
    status = 415
    code = "unsupported_media_type"


class InvalidImage(ApplicationError):
    status = 400
    code = "invalid_image"


class ImageTooLarge(ApplicationError):
    status = 413
    code = "image_too_large"


class ImageRejected(ApplicationError):
    """A valid image refused for what its metadata carries (`extra.reason`, `extra.segment`)."""

    status = 422
    code = "image_rejected"


@dataclass(frozen=True)
class MetadataSegment:
    """Where one metadata segment's payload lies in the file, and what to call it in errors."""

    name: str
    start: int
    end: int
    is_xmp: bool = False


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int
    # From EXIF, WGS84 (lon, lat); None when absent, zero or malformed.
    exif_location: tuple[float, float] | None = None
    exif_taken_at: dt.datetime | None = None
    exif_heading: float | None = None
    # EXIF values that were there but unusable: ({code, detail}, …), codes `exif_gps_invalid`,
    # `exif_heading_invalid`. The photo says so instead of silently using the device's values.
    exif_warnings: tuple[dict[str, str], ...] = ()


def max_pixels() -> int:
    return int(getattr(settings, "PHOTO_MAX_PIXELS", 64_000_000))


def max_trailing_bytes() -> int:
    return int(getattr(settings, "PHOTO_MAX_TRAILING_BYTES", 4096))


def max_metadata_bytes() -> int:
    return int(settings.PHOTO_MAX_METADATA_BYTES)


def sniff_format(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def open_image(path: Path | str) -> Image.Image:
    """Image.open with the pixel limit; a bomb is an ImageTooLarge, not a warning."""
    Image.MAX_IMAGE_PIXELS = max_pixels()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageTooLarge(
                f"The image has more than {max_pixels()} pixels.", extra={"max_pixels": max_pixels()}
            ) from error


def image_inspect(path: Path | str) -> ImageInfo:
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(16)
    detected = sniff_format(head)
    if detected is None:
        raise UnsupportedImage("Not a JPEG, PNG or WebP image.", extra={"allowed": sorted(CONTENT_TYPES.values())})
    try:
        image = open_image(path)
    except ApplicationError:
        raise
    except (UnidentifiedImageError, SyntaxError, OSError, ValueError, EOFError, struct.error, TypeError) as error:
        raise InvalidImage(f"The file is not a valid {detected} image.") from error
    try:
        return _inspect_open(image, path, detected)
    finally:
        image.close()


def _inspect_open(image: Image.Image, path: Path, detected: str) -> ImageInfo:
    if image.format not in PILLOW_FORMATS[detected]:
        raise InvalidImage(f"The file starts like {detected} but reads as {image.format}.")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImage("The image has no pixels.")
    if width * height > max_pixels():
        raise ImageTooLarge(f"The image has more than {max_pixels()} pixels.", extra={"max_pixels": max_pixels()})
    try:
        exif = _read_exif(image, detected)
        extra_images = _mpo_extra_images(image) if image.format == "MPO" else []
    except (SyntaxError, OSError, ValueError, EOFError, struct.error, TypeError, KeyError) as error:
        raise InvalidImage("The image's metadata is malformed.") from error
    _check_structure(path, detected, extra_images)
    if detected == PNG:
        _verify_png(path)
    location, location_problem = _exif_location(exif.get("gps", {}))
    heading, heading_problem = _exif_heading(exif.get("gps", {}))
    return ImageInfo(
        format=detected,
        content_type=CONTENT_TYPES[detected],
        width=width,
        height=height,
        exif_location=location,
        exif_taken_at=_exif_taken_at(exif.get("exif", {})),
        exif_heading=heading,
        exif_warnings=_exif_warnings(location_problem, heading_problem),
    )


def _read_exif(image: Image.Image, detected: str) -> dict[str, dict[int, Any]]:
    if "exif" not in image.info:
        return {}  # (for PNG, getexif() would decode the pixels looking for a late eXIf chunk)
    exif = image.getexif()
    return {"exif": dict(exif.get_ifd(EXIF_IFD)), "gps": dict(exif.get_ifd(GPS_IFD))}


def _verify_png(path: Path) -> None:
    """Pillow's PNG verify() checks every chunk's CRC up to IEND (without inflating)."""
    try:
        with open_image(path) as image:
            image.verify()
    except ApplicationError:
        raise
    except (SyntaxError, OSError, ValueError, EOFError, struct.error) as error:
        raise InvalidImage("The PNG is damaged (bad chunk or checksum).") from error


# --- structure and trailing data -------------------------------------------------------------


def _mpo_extra_images(image: Image.Image) -> list[tuple[int, int]]:
    """(offset, size) of the further images an MPO declares (absolute file offsets)."""
    entries = (getattr(image, "mpinfo", None) or {}).get(0xB002) or []
    # Pillow keeps the absolute offsets (DataOffset + the MP header's position) privately.
    offsets = getattr(image, "_MpoImageFile__mpoffsets", None)
    if offsets is None or len(offsets) != len(entries):
        raise ValueError("unreadable multi-picture index")
    return [(int(offset), int(entry["Size"])) for offset, entry in zip(offsets[1:], entries[1:], strict=True)]


def _check_structure(path: Path, detected: str, extra_images: list[tuple[int, int]]) -> None:
    size = path.stat().st_size
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        metadata: list[MetadataSegment] = []
        if detected == JPEG:
            end = _jpeg_end(data, metadata=metadata)
            end = _after_declared_images(data, end, extra_images, metadata=metadata)
        elif detected == PNG:
            end = _png_end(data, metadata=metadata)
        else:
            end = _webp_end(data, metadata=metadata)
        _check_metadata(data, metadata)
        _check_trailing(data, end, size)


def _check_metadata(data: mmap.mmap, segments: list[MetadataSegment]) -> None:
    total = sum(segment.end - segment.start for segment in segments)
    if total > max_metadata_bytes():
        raise ImageRejected(
            f"The image carries {total} bytes of metadata; at most {max_metadata_bytes()} are allowed.",
            extra={"reason": "metadata_too_large", "metadata_bytes": total, "max_metadata_bytes": max_metadata_bytes()},
        )
    for segment in segments:
        payload = data[segment.start : segment.end]
        for reason, pattern in METADATA_SIGNATURES:
            if pattern.search(payload):
                raise ImageRejected(
                    f"The image's {segment.name} metadata holds another file ({reason.replace('_', ' ')}).",
                    extra={"reason": reason, "segment": segment.name},
                )
        if not segment.is_xmp and XML_DECLARATION.search(payload):
            raise ImageRejected(
                f"The image's {segment.name} metadata holds an XML document outside an XMP packet.",
                extra={"reason": "markup_in_metadata", "segment": segment.name},
            )


def _jpeg_segment_name(marker: int) -> str:
    if marker == 0xFE:
        return "COM"
    if marker >= 0xF0:
        return f"JPG{marker - 0xF0}"
    return f"APP{marker - 0xE0}"


def _jpeg_end(data: mmap.mmap, *, metadata: list[MetadataSegment], start: int = 0) -> int:
    """The offset just after the EOI marker, walking segments up to the first scan and the
    entropy-coded data after it (progressive JPEGs have several scans). Notes the metadata
    segments' payloads in `metadata`."""
    position = start + 2
    size = len(data)
    in_scan = False
    while True:
        if in_scan:
            match = JPEG_MARKER.search(data, position)
            if match is None:
                raise InvalidImage("The JPEG has no end (EOI) marker: it is truncated or not a JPEG.")
            position = match.start()
        if position + 2 > size or data[position] != 0xFF:
            raise InvalidImage("The JPEG's segment structure is broken.")
        while position + 1 < size and data[position + 1] == 0xFF:
            position += 1  # fill bytes
        if position + 2 > size:
            raise InvalidImage("The JPEG's segment structure is broken.")
        marker = data[position + 1]
        position += 2
        if marker == 0xD9:
            return position
        if marker in (0x01, *range(0xD0, 0xD8)):
            continue
        if marker == 0xD8:
            raise InvalidImage("The JPEG's segment structure is broken.")
        if position + 2 > size:
            raise InvalidImage("The JPEG is truncated.")
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 or position + length > size:
            raise InvalidImage("The JPEG is truncated.")
        if marker in JPEG_METADATA_MARKERS:
            payload_start = position + 2
            is_xmp = marker == 0xE1 and bytes(data[payload_start : payload_start + 35]).startswith(JPEG_XMP_PREFIXES)
            metadata.append(
                MetadataSegment(_jpeg_segment_name(marker), payload_start, position + length, is_xmp=is_xmp)
            )
        position += length
        if marker == 0xDA:
            in_scan = True


def _after_declared_images(
    data: mmap.mmap, end: int, extra_images: list[tuple[int, int]], *, metadata: list[MetadataSegment]
) -> int:
    for offset, length in sorted(extra_images):
        if offset < end or offset + length > len(data) or data[offset : offset + 3] != b"\xff\xd8\xff":
            raise InvalidImage("The multi-picture index points outside the file.")
        if offset - end > max_trailing_bytes():
            raise InvalidImage("Unexplained data between the pictures of a multi-picture JPEG.")
        # The further pictures' own segments are metadata like the first's (and hide files as well).
        picture_end = _jpeg_end(data, metadata=metadata, start=offset)
        if picture_end > offset + length:
            raise InvalidImage("A picture of the multi-picture JPEG runs past its declared size.")
        end = offset + length
    return end


def _png_end(data: mmap.mmap, *, metadata: list[MetadataSegment]) -> int:
    position = 8
    size = len(data)
    for _ in range(MAX_PNG_CHUNKS):
        if position + 12 > size:
            raise InvalidImage("The PNG is truncated (no IEND chunk).")
        length = int.from_bytes(data[position : position + 4], "big")
        chunk_type = bytes(data[position + 4 : position + 8])
        if chunk_type not in PNG_IMAGE_CHUNKS:
            payload_start = position + 8
            is_xmp = chunk_type == b"iTXt" and bytes(data[payload_start : payload_start + 18]) == PNG_XMP_KEYWORD
            name = chunk_type.decode("latin-1")
            metadata.append(MetadataSegment(name, payload_start, min(payload_start + length, size), is_xmp=is_xmp))
        position += 12 + length
        if position > size:
            raise InvalidImage("The PNG is truncated.")
        if chunk_type == b"IEND":
            return position
    raise InvalidImage("The PNG has too many chunks.")


def _webp_end(data: mmap.mmap, *, metadata: list[MetadataSegment]) -> int:
    riff_size = int.from_bytes(data[4:8], "little")
    end = 8 + riff_size + (riff_size & 1)
    if end > len(data):
        raise InvalidImage("The WebP file is truncated.")
    position = 12
    while position + 8 <= end:
        fourcc = bytes(data[position : position + 4])
        length = int.from_bytes(data[position + 4 : position + 8], "little")
        payload_end = position + 8 + length
        if payload_end > end:
            raise InvalidImage("A WebP chunk runs past the end of the file.")
        if fourcc not in WEBP_IMAGE_CHUNKS:
            name = fourcc.decode("latin-1").strip() or "?"
            metadata.append(MetadataSegment(name, position + 8, payload_end, is_xmp=fourcc == b"XMP "))
        position = payload_end + (length & 1)
    return end


def _check_trailing(data: mmap.mmap, end: int, size: int) -> None:
    trailing = size - end
    if trailing <= 0:
        return
    tail = data[end:size] if trailing <= max_trailing_bytes() else None
    if tail is None:
        # Zero padding is harmless however long; anything else that large is another file.
        if _all_zero(data, end, size):
            return
        raise InvalidImage(
            f"{trailing} bytes follow the end of the image; at most {max_trailing_bytes()} are allowed.",
            extra={"trailing_bytes": trailing},
        )
    if FOREIGN_SIGNATURES.search(tail):
        raise InvalidImage("Another file (archive, document or markup) follows the end of the image.")


def _all_zero(data: mmap.mmap, start: int, end: int, step: int = 1024 * 1024) -> bool:
    for offset in range(start, end, step):
        chunk = data[offset : min(offset + step, end)]
        if chunk.count(0) != len(chunk):
            return False
    return True


# --- EXIF values -----------------------------------------------------------------------------


def _rational(value: Any) -> float | None:
    """An EXIF rational as a float; None for 0/0 or other non-numbers."""
    numerator = getattr(value, "numerator", None)
    denominator = getattr(value, "denominator", None)
    if numerator is not None and denominator is not None:
        if denominator == 0:
            return None
        result = float(numerator) / float(denominator)
    elif isinstance(value, tuple) and len(value) == 2:
        if value[1] == 0:
            return None
        result = float(value[0]) / float(value[1])
    elif isinstance(value, int | float):
        result = float(value)
    else:
        return None
    return result if math.isfinite(result) else None


class MalformedGps(ValueError):
    """An EXIF GPS value that is present but cannot be a position (its message says why)."""


def _degrees(name: str, value: Any, reference: Any, positive: str, negative: str, limit: float) -> float:
    if not isinstance(value, tuple | list) or len(value) != 3:
        raise MalformedGps(f"EXIF GPS {name} is not three numbers (degrees, minutes, seconds)")
    parts = [_rational(part) for part in value]
    if any(part is None or part < 0 for part in parts):
        raise MalformedGps(f"EXIF GPS {name} has a part that is not a non-negative number")
    degrees, minutes, seconds = parts
    for label, part in (("minutes", minutes), ("seconds", seconds)):
        if part >= 60:
            raise MalformedGps(f"EXIF GPS {name} {label} is {part:g} (must be below 60)")
    result = degrees + minutes / 60 + seconds / 3600
    if isinstance(reference, bytes):
        reference = reference.decode("ascii", "replace")
    reference = str(reference or "").strip("\x00 ").upper()
    if reference == negative:
        result = -result
    elif reference != positive:
        raise MalformedGps(f"EXIF GPS {name} reference is {reference[:8]!r} (must be {positive} or {negative})")
    if abs(result) > limit:
        raise MalformedGps(f"EXIF GPS {name} is {result:g}° (beyond ±{limit:g}°)")
    return result


def _exif_location(gps: dict[int, Any]) -> tuple[tuple[float, float] | None, str | None]:
    """((lon, lat) or None, why a position that is there was not usable)."""
    if gps.get(GPS_LATITUDE) is None and gps.get(GPS_LONGITUDE) is None:
        return None, None
    try:
        latitude = _degrees("latitude", gps.get(GPS_LATITUDE), gps.get(GPS_LATITUDE_REF), "N", "S", 90)
        longitude = _degrees("longitude", gps.get(GPS_LONGITUDE), gps.get(GPS_LONGITUDE_REF), "E", "W", 180)
    except MalformedGps as error:
        return None, str(error)
    if latitude == 0 and longitude == 0:
        return None, None  # cameras without a fix write zeros
    return (longitude, latitude), None


def _exif_heading(gps: dict[int, Any]) -> tuple[float | None, str | None]:
    value = gps.get(GPS_IMG_DIRECTION)
    if value is None:
        return None, None
    heading = _rational(value)
    if heading is None or heading < 0 or heading > 360:
        return None, "EXIF GPS image direction is not a number from 0 to 360"
    return heading % 360, None


def _exif_warnings(location_problem: str | None, heading_problem: str | None) -> tuple[dict[str, str], ...]:
    warnings = []
    if location_problem:
        warnings.append({"code": "exif_gps_invalid", "detail": location_problem})
    if heading_problem:
        warnings.append({"code": "exif_heading_invalid", "detail": heading_problem})
    return tuple(warnings)


_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def _exif_text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip("\x00 ")


def _exif_taken_at(exif: dict[int, Any]) -> dt.datetime | None:
    """DateTimeOriginal with OffsetTimeOriginal; without an offset, local time in China."""
    text = _exif_text(exif.get(DATE_TIME_ORIGINAL))
    try:
        naive = dt.datetime.strptime(text, "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007 - the zone follows
    except ValueError:
        return None
    offset = _OFFSET.match(_exif_text(exif.get(OFFSET_TIME_ORIGINAL)))
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        minutes = int(offset.group(2)) * 60 + int(offset.group(3))
        if minutes <= 18 * 60:
            return naive.replace(tzinfo=dt.timezone(sign * dt.timedelta(minutes=minutes)))
    return naive.replace(tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


# --- derivatives -----------------------------------------------------------------------------


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def _jpeg_bytes(image: Image.Image) -> bytes:
    # Pillow writes EXIF, XMP and ICC only when asked, but a comment from `info`: drop it all.
    image.info = {}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def image_derivatives(path: Path | str, *, sizes: tuple[int, ...]) -> list[bytes]:
    """JPEG renditions no larger than each size (longest side), upright (EXIF orientation
    applied), without metadata. Sizes largest first; each is scaled from the one before."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = open_image(path)
        try:
            if image.format in PILLOW_FORMATS[JPEG]:
                # DCT scaling: libjpeg decodes at 1/2, 1/4 or 1/8 size straight away.
                image.draft("RGB", _fit(image.size, sizes[0]))
            upright = ImageOps.exif_transpose(image)
            current = _to_rgb(upright)
        finally:
            image.close()
    renditions = []
    for index, longest in enumerate(sizes):
        target = _fit(current.size, longest)
        if target != current.size:
            # The first step is a small reduction after DCT scaling: Hamming is ~3× faster than
            # Lanczos at no visible cost there; the small renditions get Lanczos.
            resample = Image.Resampling.HAMMING if index == 0 else Image.Resampling.LANCZOS
            current = current.resize(target, resample, reducing_gap=3.0)
        renditions.append(_jpeg_bytes(current.copy()))
    return renditions
