"""Server work per photo for a 12-megapixel JPEG (4000 × 3000, EXIF GPS), against baselines
measured in the same run on the same file.

Steps timed (what the request path and the background job do, without the database):
- check   : image_inspect — magic bytes, Pillow header parse, EXIF GPS/time/heading,
            marker walk to EOI and trailing-data check (no pixel decoding)
- sha256  : hashing the file in 1 MiB chunks (as blob storage does)
- derive  : image_derivatives — 1600 px preview + 320 px thumbnail, JPEG without EXIF
            (DCT-scaled decoding via draft())
Baselines:
- raw sha256 of the bytes already in memory (hashlib, one call)
- plain Pillow: open + thumbnail((320, 320)) + save as JPEG, without draft()

Environment: BENCH_PHOTO_ROUNDS (5).
"""

from __future__ import annotations

import hashlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("BENCH_PHOTO_ROUNDS", 5))


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    os.environ.setdefault("DJANGO_DEVELOPMENT", "1")
    import django

    django.setup()


def _twelve_megapixel_jpeg(path: Path) -> None:
    """A photo-like 4000 × 3000 JPEG (gradients and noise, so it compresses like a real one)."""
    from PIL import Image

    from backend.evidence.tests.imaging import make_exif

    width, height = 4000, 3000
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    exif = make_exif(lon=120.1711, lat=35.9607, heading=275.5, taken="2026:03:10 09:30:15", offset="+08:00")
    image.save(path, "JPEG", quality=90, exif=exif)


def _time(function, rounds: int = ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    _setup_django()
    from PIL import Image

    from backend.evidence.images import image_derivatives, image_inspect
    from backend.evidence.photos import file_sha256

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "12mp.jpg"
        _twelve_megapixel_jpeg(path)
        data = path.read_bytes()
        info = image_inspect(path)
        assert (info.width, info.height) == (4000, 3000) and info.exif_location is not None

        def plain_pillow() -> None:
            with Image.open(path) as image:
                image.thumbnail((320, 320))
                image.save(io.BytesIO(), "JPEG", quality=85)

        check = _time(lambda: image_inspect(path))
        sha256 = _time(lambda: file_sha256(path))
        derive = _time(lambda: image_derivatives(path, sizes=(1600, 320)), rounds=max(1, ROUNDS // 2 + 1))
        raw_sha256 = _time(lambda: hashlib.sha256(data).hexdigest())
        pillow = _time(plain_pillow, rounds=max(1, ROUNDS // 2 + 1))

    request_path = check + sha256
    total = request_path + derive
    megabytes = len(data) / 1024 / 1024
    print(f"12 MP JPEG: {len(data):,} bytes ({megabytes:.1f} MiB), median of {ROUNDS} rounds")
    print(f"{'step':<44}{'ms':>10}{'× baseline':>14}")
    rows = [
        ("check (header, EXIF, structure)", check, f"{check / raw_sha256:.2f} × raw sha256"),
        ("sha256 (1 MiB chunks from disk)", sha256, f"{sha256 / raw_sha256:.2f} × raw sha256"),
        ("request path = check + sha256", request_path, f"{request_path / raw_sha256:.2f} × raw sha256"),
        ("derive (preview 1600 + thumbnail 320)", derive, f"{derive / pillow:.2f} × plain Pillow"),
        ("total server work", total, f"{total / pillow:.2f} × plain Pillow"),
        ("baseline: raw sha256 in memory", raw_sha256, ""),
        ("baseline: plain Pillow open+thumbnail+save", pillow, ""),
    ]
    for name, seconds, ratio in rows:
        print(f"{name:<44}{seconds * 1000:>10.1f}  {ratio}")


if __name__ == "__main__":
    main()
