"""The document-bucket backup tool, run as a program against an S3 server on loopback.

MinIO does not run here; moto's ThreadedMotoServer stands in for it at the S3 API (it keeps
object versions as S3 does). Every version of every key, delete markers included, must come
back in order in the restored bucket, and a damaged backup must be refused before anything is
created.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig
from moto.server import ThreadedMotoServer

from support.processes import free_port

TOOL = Path(__file__).resolve().parents[2] / "ansible/roles/backup/files/luna_object_backup.py"
CREDENTIALS = {"LUNA_S3_ACCESS_KEY": "testing", "LUNA_S3_SECRET_KEY": "testing-secret"}
History = dict[str, list[bytes | None]]


@pytest.fixture
def s3() -> Iterator[tuple[str, Minio]]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"127.0.0.1:{port}"
    # moto keeps its state per process, not per server: start every test from an empty S3
    urllib.request.urlopen(
        urllib.request.Request(f"http://{endpoint}/moto-api/reset", method="POST"), timeout=10
    ).close()
    try:
        yield (
            endpoint,
            Minio(
                endpoint,
                access_key=CREDENTIALS["LUNA_S3_ACCESS_KEY"],
                secret_key=CREDENTIALS["LUNA_S3_SECRET_KEY"],
                secure=False,
            ),
        )
    finally:
        server.stop()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **CREDENTIALS}
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def _put(client: Minio, bucket: str, key: str, content: bytes) -> None:
    client.put_object(bucket, key, io.BytesIO(content), len(content), content_type="text/plain")


def _history(client: Minio, bucket: str) -> History:
    """Per key, the content of every version oldest first (None for a delete marker)."""
    items = list(client.list_objects(bucket, recursive=True, include_version=True))
    # the latest version is the last; the others by time, then newest-first listing order reversed
    items.reverse()
    items.sort(key=lambda item: (item.object_name, item.is_latest == "true", item.last_modified))
    history: History = {}
    for item in items:
        assert item.object_name is not None
        content = None
        if not item.is_delete_marker:
            response = client.get_object(bucket, item.object_name, version_id=item.version_id)
            content = response.read()
            response.close()
            response.release_conn()
        history.setdefault(item.object_name, []).append(content)
    return history


@pytest.fixture
def documents(s3: tuple[str, Minio]) -> tuple[str, Minio, History]:
    endpoint, client = s3
    client.make_bucket("documents")
    client.set_bucket_versioning("documents", VersioningConfig(ENABLED))
    _put(client, "documents", "regulation/msbg.md", b"version 1")
    _put(client, "documents", "regulation/msbg.md", b"version 2, amended")
    _put(client, "documents", "manuals/sdm630.pdf", bytes(range(256)) * 40)
    _put(client, "documents", "old/withdrawn.txt", b"withdrawn later")
    client.remove_object("documents", "old/withdrawn.txt")
    return endpoint, client, _history(client, "documents")


def _backup(endpoint: str, root: Path) -> Path:
    made = _run("backup", "--endpoint", endpoint, "--bucket", "documents", "--dir", str(root))
    assert made.returncode == 0, made.stderr
    return Path(made.stdout.strip())


def test_backup_then_restore_brings_every_version_back_in_order(
    documents: tuple[str, Minio, History], tmp_path: Path
) -> None:
    endpoint, client, before = documents
    backup = _backup(endpoint, tmp_path)
    assert backup.parent == tmp_path
    assert _run("verify", str(backup)).returncode == 0

    restored = _run("restore", str(backup), "--endpoint", endpoint, "--bucket", "documents-restored")
    assert restored.returncode == 0, restored.stderr
    assert "restore verified: 3 keys, 5 versions" in restored.stderr
    assert _history(client, "documents-restored") == before
    assert before["regulation/msbg.md"] == [b"version 1", b"version 2, amended"]
    assert before["old/withdrawn.txt"] == [b"withdrawn later", None]


def test_a_damaged_backup_is_refused_and_no_bucket_is_created(
    documents: tuple[str, Minio, History], tmp_path: Path
) -> None:
    endpoint, client, _ = documents
    backup = _backup(endpoint, tmp_path)
    damaged = min((backup / "objects").iterdir())
    damaged.write_bytes(b"bit rot")

    result = _run("restore", str(backup), "--endpoint", endpoint, "--bucket", "documents-restored")
    assert result.returncode == 1
    assert f"{damaged}: checksum mismatch" in result.stderr
    assert not client.bucket_exists("documents-restored")


def test_restore_refuses_an_existing_bucket(documents: tuple[str, Minio, History], tmp_path: Path) -> None:
    endpoint, _, _ = documents
    result = _run("restore", str(_backup(endpoint, tmp_path)), "--endpoint", endpoint, "--bucket", "documents")
    assert result.returncode == 1
    assert "bucket 'documents' already exists" in result.stderr


def test_missing_credentials_are_named(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUNA_S3_")}
    result = subprocess.run(
        [sys.executable, str(TOOL), "backup", "--endpoint", "127.0.0.1:1", "--bucket", "b", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "set LUNA_S3_ACCESS_KEY in the environment" in result.stderr
