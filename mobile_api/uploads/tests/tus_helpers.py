"""Small tus client helpers for tests (the Django test client, no network)."""

import base64
import hashlib

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def create_upload(client, data: bytes, *, sha256: str | None = None, length: int | None = None, **metadata):
    metadata.setdefault("filename", "site-photo.jpg")
    metadata.setdefault("content_type", "image/jpeg")
    metadata["sha256"] = sha256 or sha256_hex(data)
    return client.post(
        "/api/v1/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(len(data) if length is None else length),
            "Upload-Metadata": encode_metadata(**metadata),
        },
    )


def patch_chunk(client, url: str, chunk: bytes, offset: int, *, checksum: str | None = None):
    headers = {**TUS, "Upload-Offset": str(offset)}
    if checksum:
        headers["Upload-Checksum"] = checksum
    return client.generic("PATCH", url, data=chunk, content_type=OFFSET_STREAM, headers=headers)


def checksum_header(algorithm: str, chunk: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode()}"


def head(client, url: str):
    return client.head(url, headers=TUS)


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver")


def files_under(root) -> list[str]:
    """Every file below `root`, relative, sorted (the tmp dirs of the blob and upload stores)."""
    from pathlib import Path

    root = Path(root)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
