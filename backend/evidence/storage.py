"""Where evidence bytes live: a private, content-addressed blob store and the data of
uploads in progress, on the local filesystem or in an S3-compatible bucket.

Blobs are stored once under `blobs/ab/cd/<sha256>` and never rewritten. Nothing here
is public: the filesystem store is read through authenticated views, S3 objects through
presigned URLs with a short expiry.

Everything streams: files are read and written in chunks of `CHUNK_SIZE`, never whole.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol

from django.conf import settings
from django.db import transaction

from backend.evidence.models import StorageBackend

if TYPE_CHECKING:
    from backend.evidence.models import Upload

CHUNK_SIZE = 1024 * 1024
# S3 refuses multipart parts smaller than 5 MiB, except the last one.
S3_MIN_PART_SIZE = 5 * 1024 * 1024
S3_MAX_COPY_OBJECT_SIZE = 5 * 1024 * 1024 * 1024


def blob_key(sha256: str) -> str:
    return f"blobs/{sha256[0:2]}/{sha256[2:4]}/{sha256}"


def s3_is_configured() -> bool:
    return bool(settings.S3_BUCKET)


def current_backend() -> StorageBackend:
    return StorageBackend.S3 if s3_is_configured() else StorageBackend.FILESYSTEM


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def blob_url_expiry_seconds() -> int:
    return int(_setting("BLOB_URL_EXPIRY_SECONDS", 300))


def s3_part_size() -> int:
    return max(int(_setting("UPLOAD_S3_PART_SIZE", 8 * 1024 * 1024)), S3_MIN_PART_SIZE)


def copy_stream(source: IO[bytes], target: IO[bytes]) -> int:
    copied = 0
    while chunk := source.read(CHUNK_SIZE):
        target.write(chunk)
        copied += len(chunk)
    return copied


class FileSlice:
    """A read-only, seekable window [start, start + length) of a file, so a part of a
    local buffer can be sent to S3 without loading it into memory (botocore rewinds the
    body when it retries)."""

    def __init__(self, file: IO[bytes], start: int, length: int) -> None:
        self._file = file
        self._start = start
        self._length = length
        self._position = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._position
        if remaining <= 0:
            return b""
        if size is None or size < 0 or size > remaining:
            size = remaining
        self._file.seek(self._start + self._position)
        data = self._file.read(size)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        else:
            position = self._length + offset
        self._position = min(max(position, 0), self._length)
        return self._position

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


# --- blob stores -------------------------------------------------------------------------


class BlobStore(Protocol):
    backend: StorageBackend

    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, path: Path, *, content_type: str, move: bool) -> None: ...

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def url(self, key: str, *, content_type: str, filename: str | None = None) -> str | None: ...

    def temporary_directory(self) -> Path | None: ...


class FilesystemBlobStore:
    backend = StorageBackend.FILESYSTEM

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def temporary_directory(self) -> Path:
        # On the same filesystem as the blobs, so finished files are linked in, not copied.
        directory = self.root / "tmp"
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def put_file(self, key: str, path: Path, *, content_type: str, move: bool) -> None:
        """Store `path` under `key` unless it is there already (same key, same bytes)."""
        target = self.path(key)
        if target.exists():
            if move:
                Path(path).unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                self._link_new(Path(path), target)
            except OSError:
                # Another filesystem: copy, then publish atomically.
                self._copy_in(Path(path), target)
            Path(path).unlink(missing_ok=True)
        else:
            self._copy_in(Path(path), target)

    def _copy_in(self, source: Path, target: Path) -> None:
        with tempfile.NamedTemporaryFile(dir=self.temporary_directory(), delete=False) as temporary:
            with open(source, "rb") as handle:
                copy_stream(handle, temporary)
            temporary.flush()
            os.fsync(temporary.fileno())
        try:
            self._link_new(Path(temporary.name), target)
        finally:
            Path(temporary.name).unlink(missing_ok=True)

    @staticmethod
    def _link_new(source: Path, target: Path) -> None:
        """Publish without ever overwriting: a hard link fails if the name exists."""
        try:
            os.link(source, target)
        except FileExistsError:
            return
        os.chmod(target, 0o444)

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")  # noqa: SIM115 - the caller closes it

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def url(self, key: str, *, content_type: str, filename: str | None = None) -> str | None:
        return None  # served by an authenticated view

    def probe(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f".probe-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"ok")
            if probe.read_bytes() != b"ok":
                raise OSError("probe read back differently")
        finally:
            probe.unlink(missing_ok=True)


def s3_client_config():
    from botocore.config import Config

    return Config(
        connect_timeout=int(_setting("S3_CONNECT_TIMEOUT", 5)),
        read_timeout=int(_setting("S3_READ_TIMEOUT", 60)),
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4",
        # MinIO-style servers reject the CRC32 trailers newer botocore adds by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Self-hosted endpoints rarely have wildcard DNS for virtual-hosted buckets.
        s3={"addressing_style": "path"} if settings.S3_ENDPOINT_URL else {},
    )


class S3BlobStore:
    backend = StorageBackend.S3

    def __init__(self) -> None:
        from storages.backends.s3 import S3Storage

        self.bucket = settings.S3_BUCKET
        self.storage = S3Storage(
            bucket_name=self.bucket,
            endpoint_url=settings.S3_ENDPOINT_URL or None,
            access_key=settings.S3_ACCESS_KEY_ID or None,
            secret_key=settings.S3_SECRET_ACCESS_KEY or None,
            region_name=settings.S3_REGION or None,
            client_config=s3_client_config(),
            default_acl=None,
            querystring_auth=True,
            querystring_expire=blob_url_expiry_seconds(),
            file_overwrite=False,
        )

    @property
    def client(self):
        return self.storage.connection.meta.client

    def temporary_directory(self) -> None:
        return None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def put_file(self, key: str, path: Path, *, content_type: str, move: bool) -> None:
        if not self.exists(key):
            self.client.upload_file(
                str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self.transfer_config()
            )
        if move:
            Path(path).unlink(missing_ok=True)

    def copy_in(self, source_key: str, key: str, *, content_type: str) -> None:
        """Server-side copy: the bytes do not pass through this process."""
        if self.exists(key):
            return
        size = self.client.head_object(Bucket=self.bucket, Key=source_key)["ContentLength"]
        if size <= S3_MAX_COPY_OBJECT_SIZE:
            # One request; the managed copy would split it into many UploadPartCopy calls.
            self.client.copy_object(
                CopySource={"Bucket": self.bucket, "Key": source_key},
                Bucket=self.bucket,
                Key=key,
                ContentType=content_type,
                MetadataDirective="REPLACE",
            )
            return
        self.client.copy(
            {"Bucket": self.bucket, "Key": source_key},
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type, "MetadataDirective": "REPLACE"},
            Config=self.transfer_config(),
        )

    @staticmethod
    def transfer_config():
        from boto3.s3.transfer import TransferConfig

        part_size = s3_part_size()
        return TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)

    def open(self, key: str) -> BinaryIO:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    def url(self, key: str, *, content_type: str, filename: str | None = None) -> str:
        parameters = {"ResponseContentType": content_type}
        if filename:
            parameters["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{_quote(filename)}"
        return self.storage.url(key, parameters=parameters, expire=blob_url_expiry_seconds())

    def probe(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def _quote(filename: str) -> str:
    from urllib.parse import quote

    return quote(filename, safe="")


@functools.cache
def _filesystem_blob_store(root: str) -> FilesystemBlobStore:
    return FilesystemBlobStore(Path(root))


@functools.cache
def _s3_blob_store(bucket: str, endpoint_url: str, access_key_id: str) -> S3BlobStore:
    return S3BlobStore()


def blob_store(backend: str | None = None) -> FilesystemBlobStore | S3BlobStore:
    """The store for `backend` (default: the configured one)."""
    backend = backend or current_backend()
    if backend == StorageBackend.S3:
        if not s3_is_configured():
            raise RuntimeError("S3 storage is not configured (S3_BUCKET is empty)")
        return _s3_blob_store(settings.S3_BUCKET, settings.S3_ENDPOINT_URL, settings.S3_ACCESS_KEY_ID)
    return _filesystem_blob_store(str(settings.BLOB_ROOT))


def storage_cache_clear() -> None:
    """Forget cached clients, e.g. after tests change the S3 settings."""
    _filesystem_blob_store.cache_clear()
    _s3_blob_store.cache_clear()


# --- data of uploads in progress ---------------------------------------------------------


class AppendSink(Protocol):
    def write(self, chunk: bytes) -> None: ...

    def commit(self, *, is_final: bool) -> None: ...

    def discard(self) -> None: ...


class FilesystemAppendSink:
    """Appends straight into the upload's file; a discarded chunk is cut off again."""

    def __init__(self, path: Path, offset: int) -> None:
        self.offset = offset
        self.file = open(path, "r+b")  # noqa: SIM115 - closed in commit/discard
        # Bytes past the recorded offset belong to a request that never committed.
        self.file.seek(offset)
        self.file.truncate()

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)

    def commit(self, *, is_final: bool) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()

    def discard(self) -> None:
        if not self.file.closed:
            self.file.truncate(self.offset)
            self.file.close()


class FilesystemUploadStore:
    backend = StorageBackend.FILESYSTEM

    def __init__(self) -> None:
        self.root = Path(settings.UPLOAD_ROOT)

    def path(self, upload: Upload) -> Path:
        return self.root / f"{upload.id}.part"

    def create(self, upload: Upload) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.path(upload).touch(exist_ok=False)

    def appender(self, upload: Upload) -> FilesystemAppendSink:
        return FilesystemAppendSink(self.path(upload), upload.offset)

    @contextlib.contextmanager
    def assembled(self, upload: Upload) -> Iterator[AssembledUpload]:
        yield FilesystemAssembledUpload(self.path(upload), upload.length)

    def discard(self, upload: Upload) -> None:
        self.path(upload).unlink(missing_ok=True)


class AssembledUpload(Protocol):
    def read_chunks(self) -> Iterator[bytes]: ...

    def store_as_blob(self, key: str, *, content_type: str) -> None: ...


class FilesystemAssembledUpload:
    def __init__(self, path: Path, length: int) -> None:
        self.path = path
        self.length = length

    def read_chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as handle:
            remaining = self.length
            while remaining > 0 and (chunk := handle.read(min(CHUNK_SIZE, remaining))):
                remaining -= len(chunk)
                yield chunk

    def store_as_blob(self, key: str, *, content_type: str) -> None:
        with open(self.path, "r+b") as handle:
            handle.truncate(self.length)
        blob_store(StorageBackend.FILESYSTEM).put_file(key, self.path, content_type=content_type, move=True)


class S3AppendSink:
    """Buffers one PATCH body in a local temporary file; only on commit (after the chunk's
    checksum was verified) does anything reach S3: full parts go into the multipart upload,
    a rest too small for a part is kept as a pending object."""

    def __init__(self, store: S3UploadStore, upload: Upload) -> None:
        self.store = store
        self.upload = upload
        self.buffer = tempfile.TemporaryFile()  # noqa: SIM115 - closed in commit/discard
        self.received = 0

    def write(self, chunk: bytes) -> None:
        self.buffer.write(chunk)
        self.received += len(chunk)

    def discard(self) -> None:
        self.buffer.close()

    def commit(self, *, is_final: bool) -> None:
        try:
            self._commit(is_final=is_final)
        finally:
            self.buffer.close()

    def _commit(self, *, is_final: bool) -> None:
        upload, store = self.upload, self.store
        client, bucket = store.blobs.client, store.blobs.bucket
        part_size = s3_part_size()
        pending = list(upload.s3_pending)
        pending_size = sum(item["size"] for item in pending)
        total = pending_size + self.received
        if not is_final and total < part_size:
            if self.received:
                upload.s3_pending = [*pending, store.put_pending(upload, FileSlice(self.buffer, 0, self.received))]
            return

        data = self.buffer
        assembled = None
        if pending:
            # The pending objects and this chunk, in order, become parts.
            assembled = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
            for item in pending:
                body = client.get_object(Bucket=bucket, Key=item["key"])["Body"]
                copy_stream(body, assembled)
            self.buffer.seek(0)
            copy_stream(self.buffer, assembled)
            data = assembled
        try:
            if is_final and not upload.s3_parts and not upload.s3_multipart_upload_id:
                # Everything fits in one request: no multipart upload needed.
                client.put_object(
                    Bucket=bucket,
                    Key=store.assembled_key(upload),
                    Body=FileSlice(data, 0, total),
                    ContentLength=total,
                    ContentType=upload.content_type,
                )
                upload.s3_pending = []
            else:
                self._upload_parts(data, total, is_final=is_final, part_size=part_size)
        finally:
            if assembled is not None:
                assembled.close()
        stale = [item["key"] for item in pending]
        if stale:
            transaction.on_commit(lambda: store.delete_keys(stale))

    def _upload_parts(self, data: IO[bytes], total: int, *, is_final: bool, part_size: int) -> None:
        upload, store = self.upload, self.store
        client, bucket = store.blobs.client, store.blobs.bucket
        if not upload.s3_multipart_upload_id:
            response = client.create_multipart_upload(
                Bucket=bucket, Key=store.assembled_key(upload), ContentType=upload.content_type
            )
            upload.s3_multipart_upload_id = response["UploadId"]
        parts = list(upload.s3_parts)
        position = 0
        while total - position >= part_size or (is_final and position < total):
            size = min(part_size, total - position)
            number = len(parts) + 1
            response = client.upload_part(
                Bucket=bucket,
                Key=store.assembled_key(upload),
                UploadId=upload.s3_multipart_upload_id,
                PartNumber=number,
                Body=FileSlice(data, position, size),
                ContentLength=size,
            )
            parts.append({"part_number": number, "etag": response["ETag"], "size": size})
            position += size
        upload.s3_parts = parts
        upload.s3_pending = []
        if position < total:
            upload.s3_pending = [store.put_pending(upload, FileSlice(data, position, total - position))]


class S3UploadStore:
    """The upload in progress lives in the bucket under `uploads/<id>/` (a multipart upload
    and pending objects) and its state in the Upload row, so any app server can continue."""

    backend = StorageBackend.S3

    def __init__(self) -> None:
        self.blobs = blob_store(StorageBackend.S3)

    @staticmethod
    def prefix(upload: Upload) -> str:
        return f"uploads/{upload.id}/"

    def assembled_key(self, upload: Upload) -> str:
        return f"{self.prefix(upload)}assembled"

    def create(self, upload: Upload) -> None:
        pass  # the multipart upload starts with the first full part

    def appender(self, upload: Upload) -> S3AppendSink:
        return S3AppendSink(self, upload)

    def put_pending(self, upload: Upload, body: FileSlice) -> dict[str, Any]:
        # A fresh name each time: an aborted request never overwrites what the row points to.
        key = f"{self.prefix(upload)}pending/{upload.offset:012d}-{uuid.uuid4().hex[:12]}"
        self.blobs.client.put_object(Bucket=self.blobs.bucket, Key=key, Body=body, ContentLength=len(body))
        return {"key": key, "size": len(body)}

    def delete_keys(self, keys: list[str]) -> None:
        objects = [{"Key": key} for key in keys]
        for start in range(0, len(objects), 1000):
            self.blobs.client.delete_objects(
                Bucket=self.blobs.bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True}
            )

    @contextlib.contextmanager
    def assembled(self, upload: Upload) -> Iterator[AssembledUpload]:
        client, bucket = self.blobs.client, self.blobs.bucket
        key = self.assembled_key(upload)
        if upload.s3_multipart_upload_id:
            client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload.s3_multipart_upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": part["part_number"], "ETag": part["etag"]} for part in upload.s3_parts]
                },
            )
            upload.s3_multipart_upload_id = ""
        elif upload.length == 0:
            client.put_object(Bucket=bucket, Key=key, Body=b"", ContentType=upload.content_type)
        yield S3AssembledUpload(self.blobs, key)

    def discard(self, upload: Upload) -> None:
        from botocore.exceptions import ClientError

        if upload.s3_multipart_upload_id:
            try:
                self.blobs.client.abort_multipart_upload(
                    Bucket=self.blobs.bucket, Key=self.assembled_key(upload), UploadId=upload.s3_multipart_upload_id
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise
        self.blobs.delete_prefix(self.prefix(upload))


class S3AssembledUpload:
    def __init__(self, blobs: S3BlobStore, key: str) -> None:
        self.blobs = blobs
        self.key = key

    def read_chunks(self) -> Iterator[bytes]:
        body = self.blobs.client.get_object(Bucket=self.blobs.bucket, Key=self.key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        finally:
            body.close()

    def store_as_blob(self, key: str, *, content_type: str) -> None:
        self.blobs.copy_in(self.key, key, content_type=content_type)


def upload_store(backend: str) -> FilesystemUploadStore | S3UploadStore:
    if backend == StorageBackend.S3:
        return S3UploadStore()
    return FilesystemUploadStore()


def storage_probe() -> None:
    """Raise if the configured store cannot be reached (readiness)."""
    store = blob_store()
    store.probe()
