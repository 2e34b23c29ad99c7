"""Where export objects live: the stack's S3 bucket in AWS, a folder under the project locally (serve).

One prefix per learner, `users/<user_id>/`, so erasure and reset remove every object of a learner by
listing it, also an object a worker was still writing when the learner's rows went. An object is written as
it is produced (a multipart upload, parts of EXPORT_PART_BYTES), so memory stays flat whatever its size.
Objects are read only through a download link valid for a few minutes (an S3 pre-signed URL; locally, a
loopback URL signed the same way). boto3 is imported only when S3 is used.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from progress_common.errors import ConfigurationError, ExportUnavailableError
from progress_common.settings import ExportSettings, get_export_settings

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/gzip"
# S3: a slow part upload must not hang the worker; the listing and deletes of erasure are small calls
S3_CONNECT_TIMEOUT_SECONDS = 2.0
S3_READ_TIMEOUT_SECONDS = 30.0
S3_MAX_ATTEMPTS = 3
# S3's DeleteObjects takes at most 1 000 keys
DELETE_BATCH = 1000
OBJECT_KEY = re.compile(r"users/[0-9]{1,19}/[0-9a-f-]{36}/[0-9a-f-]{36}\.jsonl\.gz")


def user_prefix(user_id: int) -> str:
    """Every export object of one learner is under this prefix."""
    return f"users/{user_id}/"


def object_key(user_id: int, export_id: uuid.UUID, run_id: uuid.UUID) -> str:
    """The object one worker run writes (each run its own: a run that lost the export deletes only its own)."""
    return f"{user_prefix(user_id)}{export_id}/{run_id}.jsonl.gz"


def download_name(export_id: uuid.UUID) -> str:
    """The file name a browser saves the download as."""
    return f"progress-export-{export_id}.jsonl.gz"


class ObjectWriter(Protocol):
    def write(self, data: bytes) -> None: ...
    def close(self) -> int: ...  # completes the object; returns its size in bytes
    def abort(self) -> None: ...  # best effort: nothing of the object remains


class ExportStore(Protocol):
    def writer(self, key: str, filename: str) -> ObjectWriter: ...
    def delete_object(self, key: str) -> None: ...
    def delete_user_objects(self, user_id: int) -> int: ...
    def download_url(self, key: str, filename: str, expires_in: int) -> str: ...


# --- S3 --------------------------------------------------------------------------------------------------


class S3Upload:
    """One object written as a multipart upload: a part goes up whenever EXPORT_PART_BYTES have gathered
    (S3 wants at least 5 MiB for every part but the last), so at most one part is held in memory."""

    def __init__(self, client: Any, bucket: str, key: str, filename: str, part_bytes: int) -> None:
        self._client, self._bucket, self._key, self._part_bytes = client, bucket, key, part_bytes
        self._parts: list[dict[str, Any]] = []
        self._buffer = bytearray()
        self._size = 0
        self._upload_id = client.create_multipart_upload(
            Bucket=bucket,
            Key=key,
            ContentType=CONTENT_TYPE,
            ContentDisposition=f'attachment; filename="{filename}"',
            ServerSideEncryption="AES256",
        )["UploadId"]

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self._part_bytes:
            self._send_part()

    def _send_part(self) -> None:
        body, self._buffer = self._buffer, bytearray()  # handed over as it is: no copy of a part
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
        self._size += len(body)

    def close(self) -> int:
        if self._buffer or not self._parts:
            self._send_part()
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        return self._size

    def abort(self) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        except Exception as exc:  # the bucket's lifecycle rule removes incomplete uploads after a day
            log.warning("could not abort the multipart upload of an export: %s", type(exc).__name__)


class S3ExportStore:
    def __init__(self, bucket: str, part_bytes: int) -> None:
        self.bucket, self.part_bytes = bucket, part_bytes
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # only the paths that touch export objects need it (cold start)
                from botocore.config import Config

                self._client = boto3.session.Session().client(
                    "s3",
                    config=Config(
                        connect_timeout=S3_CONNECT_TIMEOUT_SECONDS,
                        read_timeout=S3_READ_TIMEOUT_SECONDS,
                        retries={"mode": "standard", "total_max_attempts": S3_MAX_ATTEMPTS},
                        signature_version="s3v4",
                    ),
                )
            return self._client

    def writer(self, key: str, filename: str) -> ObjectWriter:
        return S3Upload(self.client(), self.bucket, key, filename, self.part_bytes)

    def delete_object(self, key: str) -> None:
        self.client().delete_object(Bucket=self.bucket, Key=key)

    def delete_user_objects(self, user_id: int) -> int:
        """Delete every object under the learner's prefix; the number deleted. Raises on any failure."""
        client = self.client()
        deleted = 0
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=user_prefix(user_id), PaginationConfig={"PageSize": DELETE_BATCH}
        ):
            keys = [{"Key": item["Key"]} for item in page.get("Contents") or ()]
            if not keys:
                continue
            answer = client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
            if answer.get("Errors"):
                raise ExportUnavailableError(f"{len(answer['Errors'])} export objects could not be deleted")
            deleted += len(keys)
        return deleted

    def download_url(self, key: str, filename: str, expires_in: int) -> str:
        # signed here, with this function's credentials; no call to S3
        url: str = self.client().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_in,
        )
        return url


# --- a folder, locally -----------------------------------------------------------------------------------


class LocalUpload:
    """The object is written to `<key>.part` and renamed when complete: a reader never sees half of it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path, self._partial = path, path.with_name(path.name + ".part")
        self._file = self._partial.open("wb")
        self._size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._size += len(data)

    def close(self) -> int:
        self._file.close()
        self._partial.replace(self._path)
        return self._size

    def abort(self) -> None:
        self._file.close()
        self._partial.unlink(missing_ok=True)


class LocalExportStore:
    """Export objects in a folder (`.local/exports` under the project for serve), downloaded from serve's
    loopback URL with a link signed like a pre-signed URL: the key, an expiry and an HMAC of both."""

    def __init__(self, root: Path, base_url: str | None = None, signing_key: bytes | None = None) -> None:
        # without a URL and key (progress-admin erase): it writes and deletes, but signs no links
        self.root, self.base_url, self._signing_key = root, (base_url or "").rstrip("/"), signing_key

    def path_of(self, key: str) -> Path:
        if not OBJECT_KEY.fullmatch(key):
            raise ValueError("not an export object key")
        return self.root / key

    def writer(self, key: str, filename: str) -> ObjectWriter:
        return LocalUpload(self.path_of(key))

    def delete_object(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    def delete_user_objects(self, user_id: int) -> int:
        folder = self.root / user_prefix(user_id)
        if not folder.is_dir():
            return 0
        deleted = 0
        for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                path.rmdir()
            else:
                deleted += not path.name.endswith(".part")
                path.unlink()
        folder.rmdir()
        return deleted

    def _signature(self, key: str, expires: int) -> str:
        if not self._signing_key:
            raise ConfigurationError(
                "this export folder signs no download links (no EXPORT_LOCAL_SIGNING_KEY)"
            )
        return hmac.new(self._signing_key, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def download_url(self, key: str, filename: str, expires_in: int) -> str:
        expires = int(time.time()) + expires_in
        query = urlencode({"expires": expires, "signature": self._signature(key, expires)})
        return f"{self.base_url}/{quote(key)}?{query}"

    def verify(self, key: str, expires: str, signature: str, now: float | None = None) -> bool:
        """Whether a download link is one this store signed and has not expired."""
        if not expires.isdigit() or not OBJECT_KEY.fullmatch(key):
            return False
        if int(expires) < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._signature(key, int(expires)), signature)


_stores: dict[ExportSettings, ExportStore] = {}
_stores_lock = threading.Lock()


def export_store(settings: ExportSettings | None = None) -> ExportStore | None:
    """The store the settings name (EXPORT_BUCKET, else the local folder), one per process; None without."""
    settings = settings or get_export_settings()
    with _stores_lock:
        store = _stores.get(settings)
        if store is None:
            if settings.export_bucket:
                store = S3ExportStore(settings.export_bucket, settings.export_part_bytes)
            elif (
                settings.export_local_dir and settings.export_local_url and settings.export_local_signing_key
            ):
                store = LocalExportStore(
                    Path(settings.export_local_dir),
                    settings.export_local_url,
                    settings.export_local_signing_key.get_secret_value().encode(),
                )
            else:
                return None
            _stores[settings] = store
    return store


def forget_stores() -> None:
    """Drop the stores (and their clients) made so far (tests, serve: the settings changed)."""
    with _stores_lock:
        _stores.clear()


def required_export_store() -> ExportStore:
    """The store, for the functions that cannot work without one (checked at cold start)."""
    store = export_store()
    if store is None:
        raise ConfigurationError(
            "set EXPORT_BUCKET (AWS) or EXPORT_LOCAL_DIR, EXPORT_LOCAL_URL and "
            "EXPORT_LOCAL_SIGNING_KEY (local)"
        )
    return store
