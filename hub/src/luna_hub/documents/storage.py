"""Object storage for uploaded files: one interface, a filesystem backend and an S3/MinIO backend.

Every ``put`` under a key adds a version and keeps the older ones (S3: bucket versioning on), so a
document's history stays retrievable. Both backends pass the same contract suite
(``tests/hub/documents/test_storage.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import os
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, ParamSpec, Protocol, TypeVar

import msgspec
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED
from minio.error import MinioException, S3Error
from minio.versioningconfig import VersioningConfig

from luna_hub.documents.errors import ObjectNotFoundError, ObjectStoreError
from luna_shared.logs import get_logger

__all__ = ["BlockingCalls", "FilesystemStore", "ObjectStore", "S3Store", "StoredObject", "sha256_of"]

_KEY: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HASH_META: Final = "sha256"
_NOT_FOUND: Final = frozenset({"NoSuchKey", "NoSuchVersion", "InvalidArgument"})
_log = get_logger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class BlockingCalls:
    """A few worker threads of our own for blocking calls (file IO, the minio client, pypdf).

    Owned rather than borrowed from the event loop's default executor so that closing the owner
    ends its threads: nothing outlives the app's lifespan or a test.
    """

    def __init__(self, name: str, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``function(*args, **kwargs)`` in a worker thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(function, *args, **kwargs)
        )

    def close(self) -> None:
        """Wait for running calls, then end the threads."""
        self._pool.shutdown(wait=True)


def sha256_of(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``: how files are compared across the hub."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class StoredObject(msgspec.Struct, frozen=True, kw_only=True):
    """One stored version of an object."""

    key: str
    version_id: str
    content_hash: str
    size: int
    content_type: str


class ObjectStore(Protocol):
    """Versioned object storage (filesystem or S3/MinIO)."""

    @property
    def description(self) -> str:
        """Say where objects go (for logs and ``/health``), without secrets."""
        ...

    async def put(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        """Store ``data`` as a new version of ``key``; older versions are kept."""
        ...

    async def get(self, key: str, version_id: str) -> bytes:
        """Return the bytes of one version; :class:`ObjectNotFoundError` if there is none."""
        ...

    async def versions(self, key: str) -> list[StoredObject]:
        """Return the versions of ``key``, oldest first (empty if there are none)."""
        ...

    async def delete_version(self, key: str, version_id: str) -> None:
        """Remove one version for good (a failed upload leaves no trace); missing is fine."""
        ...

    async def delete(self, key: str) -> None:
        """Remove every version of ``key`` for good; missing is fine."""
        ...

    def close(self) -> None:
        """Release threads and connections."""
        ...


def _check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        msg = f"not a valid object key: {key!r}"
        raise ValueError(msg)
    return key


class FilesystemStore:
    """Objects as files under ``root/<key>/``: ``<version>.bin`` plus a ``<version>.json`` description.

    Each file is written to a temporary name, flushed to disk and renamed, and the description
    last, so a crash mid-write leaves no version that lists but cannot be read. Version ids sort
    by time of writing.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._threads = BlockingCalls("luna-fs-store")

    def close(self) -> None:
        """End the worker threads."""
        self._threads.close()

    @property
    def description(self) -> str:
        """Say where the files are."""
        return f"filesystem {self._root}"

    async def put(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        """Store ``data`` as a new version of ``key``."""
        stored = StoredObject(
            key=_check_key(key),
            version_id=f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}",
            content_hash=sha256_of(data),
            size=len(data),
            content_type=content_type,
        )
        await self._threads.run(self._write, stored, data)
        return stored

    def _write(self, stored: StoredObject, data: bytes) -> None:
        folder = self._root / stored.key
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(folder / f"{stored.version_id}.bin", data)
            _write_atomically(folder / f"{stored.version_id}.json", msgspec.json.encode(stored))
        except OSError as exc:
            msg = f"cannot write {stored.key} under {self._root}: {exc}"
            raise ObjectStoreError(msg) from exc

    async def get(self, key: str, version_id: str) -> bytes:
        """Return the bytes of one version."""
        path = self._root / _check_key(key) / f"{_check_key(version_id)}.bin"
        try:
            return await self._threads.run(path.read_bytes)
        except FileNotFoundError as exc:
            msg = f"no object {key} version {version_id}"
            raise ObjectNotFoundError(msg) from exc
        except OSError as exc:
            msg = f"cannot read {path}: {exc}"
            raise ObjectStoreError(msg) from exc

    async def versions(self, key: str) -> list[StoredObject]:
        """Return the versions of ``key``, oldest first."""
        return await self._threads.run(self._versions, _check_key(key))

    def _versions(self, key: str) -> list[StoredObject]:
        folder = self._root / key
        try:
            described = sorted(folder.glob("*.json"))
            return [msgspec.json.decode(path.read_bytes(), type=StoredObject) for path in described]
        except FileNotFoundError:
            return []
        except (OSError, msgspec.DecodeError) as exc:
            msg = f"cannot list {folder}: {exc}"
            raise ObjectStoreError(msg) from exc

    async def delete_version(self, key: str, version_id: str) -> None:
        """Remove one version (its description first, so it never lists without its bytes)."""
        folder = self._root / _check_key(key)
        await self._threads.run(self._unlink, folder / f"{_check_key(version_id)}.json", folder / f"{version_id}.bin")

    async def delete(self, key: str) -> None:
        """Remove every version of ``key``."""
        folder = self._root / _check_key(key)
        for stored in await self.versions(key):
            await self._threads.run(
                self._unlink, folder / f"{stored.version_id}.json", folder / f"{stored.version_id}.bin"
            )
        with contextlib.suppress(OSError):  # not empty (a concurrent put) or already gone
            await self._threads.run(folder.rmdir)

    @staticmethod
    def _unlink(*paths: Path) -> None:
        try:
            for path in paths:
                path.unlink(missing_ok=True)
        except OSError as exc:
            msg = f"cannot delete {paths[0]}: {exc}"
            raise ObjectStoreError(msg) from exc


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


class S3Store:
    """Objects in one bucket of an S3 service (MinIO in production) with bucket versioning on.

    The ``minio`` client blocks, so each call runs in a worker thread.
    """

    def __init__(  # noqa: PLR0913 - the S3 connection, each part named
        self,
        *,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        secure: bool = True,
        region: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=http
        )
        self._http = http
        self._threads = BlockingCalls("luna-s3-store")
        self._endpoint = endpoint
        self._bucket = bucket

    @property
    def description(self) -> str:
        """Say which endpoint and bucket."""
        return f"s3 {self._endpoint}/{self._bucket}"

    async def ensure_bucket(self) -> None:
        """Create the bucket if it is missing and switch versioning on (idempotent)."""
        await self._call(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        if not self._client.bucket_exists(self._bucket):
            with contextlib.suppress(S3Error):  # created concurrently by another hub
                self._client.make_bucket(self._bucket)
        self._client.set_bucket_versioning(self._bucket, VersioningConfig(ENABLED))

    def close(self) -> None:
        """End the worker threads and close the connection pool."""
        self._threads.close()
        self._http.clear()

    async def put(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        """Store ``data`` as a new version of ``key``."""
        digest = sha256_of(data)
        result = await self._call(
            self._client.put_object,
            self._bucket,
            _check_key(key),
            io.BytesIO(data),
            len(data),
            content_type=content_type,
            metadata={_HASH_META: digest},
        )
        if not result.version_id:
            msg = f"bucket {self._bucket} returned no version id: versioning is off"
            raise ObjectStoreError(msg)
        return StoredObject(
            key=key, version_id=result.version_id, content_hash=digest, size=len(data), content_type=content_type
        )

    async def get(self, key: str, version_id: str) -> bytes:
        """Return the bytes of one version."""
        return await self._call(self._read, _check_key(key), version_id)

    def _read(self, key: str, version_id: str) -> bytes:
        response = self._client.get_object(self._bucket, key, version_id=version_id)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def versions(self, key: str) -> list[StoredObject]:
        """Return the versions of ``key``, oldest first."""
        return await self._call(self._versions, _check_key(key))

    def _versions(self, key: str) -> list[StoredObject]:
        listed = [
            item
            for item in self._client.list_objects(self._bucket, prefix=key, include_version=True)
            if item.object_name == key and not item.is_delete_marker and item.version_id
        ]
        found = []
        for item in reversed(listed):  # S3 lists a key's versions newest first
            version_id = str(item.version_id)
            stat = self._client.stat_object(self._bucket, key, version_id=version_id)
            metadata = {name.lower(): value for name, value in (stat.metadata or {}).items()}
            found.append(
                StoredObject(
                    key=key,
                    version_id=version_id,
                    content_hash=str(metadata.get(f"x-amz-meta-{_HASH_META}", "")),
                    size=int(stat.size or 0),
                    content_type=str(stat.content_type or "application/octet-stream"),
                )
            )
        return found

    async def delete_version(self, key: str, version_id: str) -> None:
        """Remove one version for good."""
        try:
            await self._call(self._client.remove_object, self._bucket, _check_key(key), version_id=version_id)
        except ObjectNotFoundError:
            return

    async def delete(self, key: str) -> None:
        """Remove every version (and delete marker) of ``key`` for good."""
        await self._call(self._delete_all, _check_key(key))

    def _delete_all(self, key: str) -> None:
        for item in self._client.list_objects(self._bucket, prefix=key, include_version=True):
            if item.object_name == key:
                self._client.remove_object(self._bucket, key, version_id=item.version_id)

    async def _call(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await self._threads.run(function, *args, **kwargs)
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                msg = f"no such object in {self.description}: {exc.object_name} ({exc.code})"
                raise ObjectNotFoundError(msg) from exc
            msg = f"{self.description}: {exc.code}: {exc.message}"
            raise ObjectStoreError(msg) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            msg = f"{self.description} cannot be reached: {exc}"
            raise ObjectStoreError(msg) from exc
