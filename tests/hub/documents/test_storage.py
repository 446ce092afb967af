"""One contract suite for both object stores: the filesystem store and the S3 store.

The S3 store talks to moto's ThreadedMotoServer on loopback: the stand-in for MinIO (same S3 API,
bucket versioning included), a transport seam, not a mock of our code.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from luna_hub.documents.errors import ObjectNotFoundError, ObjectStoreError
from luna_hub.documents.storage import FilesystemStore, ObjectStore, S3Store, sha256_of
from support.processes import free_port


def s3_store(endpoint: str, bucket: str | None = None) -> S3Store:
    return S3Store(
        endpoint=endpoint,
        bucket=bucket or f"luna-{uuid.uuid4().hex[:12]}",
        access_key="test",
        secret_key="test",  # noqa: S106 - moto accepts any key
        secure=False,
        region="us-east-1",
    )


@pytest.fixture(params=["filesystem", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> AsyncIterator[ObjectStore]:
    if request.param == "filesystem":
        filesystem = FilesystemStore(tmp_path / "objects")
        yield filesystem
        filesystem.close()
        return
    s3 = s3_store(s3_endpoint)
    await s3.ensure_bucket()
    yield s3
    s3.close()


async def test_put_then_get_returns_the_same_bytes_and_hash(store: ObjectStore) -> None:
    data = b"%PDF-1.7 some bytes\x00\xff"
    stored = await store.put("doc-1", data, content_type="application/pdf")
    assert stored.content_hash == sha256_of(data)
    assert stored.size == len(data)
    assert await store.get("doc-1", stored.version_id) == data


async def test_overwriting_keeps_every_version(store: ObjectStore) -> None:
    first = await store.put("doc-2", b"version one", content_type="text/plain")
    second = await store.put("doc-2", b"version two", content_type="text/markdown")
    assert first.version_id != second.version_id
    versions = await store.versions("doc-2")
    assert [v.version_id for v in versions] == [first.version_id, second.version_id]
    assert [v.content_hash for v in versions] == [sha256_of(b"version one"), sha256_of(b"version two")]
    assert [v.content_type for v in versions] == ["text/plain", "text/markdown"]
    assert [v.size for v in versions] == [11, 11]
    assert await store.get("doc-2", first.version_id) == b"version one"
    assert await store.get("doc-2", second.version_id) == b"version two"


async def test_keys_do_not_see_each_other_even_when_one_prefixes_the_other(store: ObjectStore) -> None:
    await store.put("doc", b"short key", content_type="text/plain")
    await store.put("doc-long", b"long key", content_type="text/plain")
    assert [v.size for v in await store.versions("doc")] == [9]
    await store.delete("doc")
    assert await store.versions("doc") == []
    assert [v.size for v in await store.versions("doc-long")] == [8]


async def test_deleting_one_version_keeps_the_others(store: ObjectStore) -> None:
    first = await store.put("doc-3", b"one", content_type="text/plain")
    second = await store.put("doc-3", b"two", content_type="text/plain")
    await store.delete_version("doc-3", second.version_id)
    assert [v.version_id for v in await store.versions("doc-3")] == [first.version_id]
    with pytest.raises(ObjectNotFoundError):
        await store.get("doc-3", second.version_id)
    await store.delete_version("doc-3", second.version_id)  # again: nothing to do, no error


async def test_delete_removes_every_version(store: ObjectStore) -> None:
    stored = [await store.put("doc-4", bytes([n]) * 10, content_type="text/plain") for n in range(3)]
    await store.delete("doc-4")
    assert await store.versions("doc-4") == []
    for version in stored:
        with pytest.raises(ObjectNotFoundError):
            await store.get("doc-4", version.version_id)
    await store.delete("doc-4")  # again: nothing to do


async def test_unknown_keys_are_not_found(store: ObjectStore) -> None:
    assert await store.versions("never-stored") == []
    existing = await store.put("doc-5", b"x", content_type="text/plain")
    with pytest.raises(ObjectNotFoundError):
        await store.get("never-stored", existing.version_id)


async def test_keys_that_could_escape_the_store_are_refused(store: ObjectStore) -> None:
    for key in ["../etc", "a/b", "", ".hidden"]:
        with pytest.raises(ValueError, match="not a valid object key"):
            await store.put(key, b"x", content_type="text/plain")


async def test_an_unreachable_s3_service_is_unavailable() -> None:
    port = free_port()  # nothing listens there
    store = S3Store(
        endpoint=f"127.0.0.1:{port}",
        bucket="luna-unreachable",
        access_key="k",
        secret_key="s",  # noqa: S106 - nothing listens
        secure=False,
        timeout=1,
    )
    with pytest.raises(ObjectStoreError, match="cannot be reached") as caught:
        await store.put("doc", b"x", content_type="text/plain")
    assert caught.value.status == 503
    store.close()


async def test_a_filesystem_store_that_cannot_write_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_bytes(b"")
    store = FilesystemStore(blocker)
    with pytest.raises(ObjectStoreError, match="cannot write"):
        await store.put("doc", b"x", content_type="text/plain")
    store.close()


async def test_a_bucket_without_versioning_is_refused(s3_endpoint: str) -> None:
    """Without versioning an overwrite would lose history, so the store says so instead of storing."""
    bucket = f"plain-{uuid.uuid4().hex[:12]}"
    store = s3_store(s3_endpoint, bucket)
    await store._call(store._client.make_bucket, bucket)  # made by hand, versioning never switched on
    with pytest.raises(ObjectStoreError, match="versioning is off"):
        await store.put("doc", b"x", content_type="text/plain")
    store.close()
