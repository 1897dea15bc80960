"""Test images made with Pillow: JPEG/PNG/WebP with or without EXIF GPS, bombs, polyglots."""

import io
import struct
import zlib

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

GPS_IFD = 0x8825
EXIF_IFD = 0x8769


def dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Degrees as (degrees, minutes, seconds×10000/10000) rationals, exact to 1e-7°."""
    value = abs(value)
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = round((minutes_float - minutes) * 60 * 10000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 10000)


def make_exif(
    *,
    lon: float | None = None,
    lat: float | None = None,
    heading: float | None = None,
    taken: str | None = None,
    offset: str | None = None,
    zero_gps: bool = False,
    orientation: int | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(GPS_IFD)
    if lat is not None and lon is not None:
        gps[1] = "N" if lat >= 0 else "S"
        gps[2] = dms(lat)
        gps[3] = "E" if lon >= 0 else "W"
        gps[4] = dms(lon)
    if zero_gps:
        zero = (IFDRational(0, 0), IFDRational(0, 0), IFDRational(0, 0))
        gps[1], gps[2], gps[3], gps[4] = "N", zero, "E", zero
    if heading is not None:
        gps[16] = "T"
        gps[17] = IFDRational(round(heading * 100), 100)
    if taken is not None:
        exif_ifd = exif.get_ifd(EXIF_IFD)
        exif_ifd[0x9003] = taken
        if offset is not None:
            exif_ifd[0x9011] = offset
    return exif


def jpeg_bytes(size=(64, 48), *, color=(180, 60, 40), exif: Image.Exif | None = None, quality: int = 90) -> bytes:
    image = Image.new("RGB", size, color)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif if exif is not None else b"")
    return out.getvalue()


def png_bytes(size=(40, 30), *, color=(20, 120, 200, 255)) -> bytes:
    image = Image.new("RGBA", size, color)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def webp_bytes(size=(40, 30), *, color=(90, 160, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "WEBP")
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares a huge image (a few hundred bytes on disk)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return out.getvalue()


def jpeg_with_segment(marker: int, payload: bytes, *, base: bytes | None = None) -> bytes:
    """A valid JPEG with one more segment (`marker`, e.g. 0xFE COM, 0xE4 APP4) right after SOI."""
    base = base if base is not None else jpeg_bytes()
    assert len(payload) <= 65533
    return base[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + base[2:]


def png_with_chunk(kind: bytes, data: bytes, *, base: bytes | None = None) -> bytes:
    """A valid PNG with one more chunk right after IHDR."""
    base = base if base is not None else png_bytes()
    ihdr_end = 8 + 12 + struct.unpack(">I", base[8:12])[0]
    return base[:ihdr_end] + _png_chunk(kind, data) + base[ihdr_end:]


XMP_PACKET = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><?xml version="1.0"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
