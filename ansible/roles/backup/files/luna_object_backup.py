#!/usr/bin/env python3
"""Mirror the hub's document bucket, every version of every object, into a checksummed backup.

    luna_object_backup.py backup  --endpoint HOST:PORT --bucket BUCKET --dir DIR [--keep N]
    luna_object_backup.py verify  BACKUP
    luna_object_backup.py restore BACKUP --endpoint HOST:PORT --bucket NEW_BUCKET

The documents bucket keeps history through S3 versioning; this copies that history to a second
location. A backup (see ``luna_backup_store``) holds one file per object version under
``objects/`` and a manifest listing, per key in version order, the version id, time, size,
SHA-256 and content type, and the delete markers. ``restore`` checks every checksum, replays
the versions oldest first into a new versioned bucket (delete markers as deletes), then reads
the bucket back and fails, naming the key, unless every key has its versions and its latest
content back.

Needs the ``minio`` package. Credentials come from the environment, never the command line:
``LUNA_S3_ACCESS_KEY`` and ``LUNA_S3_SECRET_KEY``; ``--secure`` for HTTPS.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from luna_backup_store import BackupError, add_commands, log, new_backup, prune, run_tool, verify, verify_command
from minio import Minio
from minio.commonconfig import ENABLED
from minio.datatypes import Object
from minio.error import S3Error
from minio.versioningconfig import VersioningConfig

TOOL = "luna-object-backup"
FORMAT = "luna-object-backup/1"


@contextmanager
def _s3_failures() -> Iterator[None]:
    """Report an S3 error as a ``BackupError`` with the server's code, message and resource."""
    try:
        yield
    except S3Error as exc:
        msg = f"S3 {exc.code}: {exc.message} ({exc.resource})"
        raise BackupError(msg) from exc


def _client(endpoint: str, *, secure: bool) -> Minio:
    try:
        access_key, secret_key = os.environ["LUNA_S3_ACCESS_KEY"], os.environ["LUNA_S3_SECRET_KEY"]
    except KeyError as exc:
        msg = f"set {exc.args[0]} in the environment"
        raise BackupError(msg) from exc
    return Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)


def _age(item: Object) -> tuple[datetime, bool]:
    return item.last_modified or datetime.min.replace(
        tzinfo=UTC
    ), item.is_latest == "true"  # the SDK keeps IsLatest as text


def _versions(client: Minio, bucket: str) -> dict[str, list[Object]]:
    """Every version of every key, oldest first.

    S3 lists a key's versions newest first, but versions and delete markers in separate lists;
    they are merged by time (whole seconds on some servers), the latest last among equals.
    """
    by_key: dict[str, list[Object]] = defaultdict(list)
    for item in client.list_objects(bucket, recursive=True, include_version=True):
        by_key[item.object_name].append(item)
    ordered = {}
    for key, items in sorted(by_key.items()):
        oldest_first = [*reversed([i for i in items if not i.is_delete_marker])]
        oldest_first += reversed([i for i in items if i.is_delete_marker])
        ordered[key] = sorted(oldest_first, key=_age)
    return ordered


@_s3_failures()
def backup(client: Minio, bucket: str, root: Path, *, keep: int) -> Path:
    """Copy every version of every object of ``bucket`` into a new backup under ``root``."""
    if not client.bucket_exists(bucket):
        msg = f"bucket {bucket!r} does not exist"
        raise BackupError(msg)
    versioning = client.get_bucket_versioning(bucket).status
    if versioning != ENABLED:
        log(TOOL, f"warning: versioning is {versioning!r} on {bucket!r}; only the latest versions exist to copy")
    manifest: dict[str, Any] = {"format": FORMAT, "bucket": bucket, "versioning": versioning}
    keys: dict[str, list[dict[str, Any]]] = {}
    with new_backup(root, manifest) as partial:
        (partial / "objects").mkdir()
        versions = _versions(client, bucket)
        total = sum(len(items) for items in versions.values())
        done = 0
        for key, items in versions.items():
            entries = []
            for item in items:
                entry: dict[str, Any] = {
                    "version_id": item.version_id,
                    "last_modified": item.last_modified.isoformat() if item.last_modified else None,
                    "delete_marker": bool(item.is_delete_marker),
                }
                if not item.is_delete_marker:
                    name = f"objects/{done:08d}"
                    client.fget_object(bucket, key, str(partial / name), version_id=item.version_id)
                    entry |= {"file": name, "content_type": item.content_type}
                entries.append(entry)
                done += 1
                if done % 100 == 0 or done == total:
                    log(TOOL, f"copied {done}/{total} versions")
            keys[key] = entries
        manifest["keys"] = keys
        manifest["versions"] = total
    final = root / str(manifest["id"])
    log(TOOL, f"backup {final} complete: {len(keys)} keys, {manifest['versions']} versions")
    prune(TOOL, root, keep)
    return final


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@_s3_failures()
def restore(client: Minio, backup_dir: Path, bucket: str) -> None:
    """Replay a verified backup into a new versioned bucket and prove every key is back."""
    manifest = verify(backup_dir, FORMAT)
    checksums = {entry["name"]: entry["sha256"] for entry in manifest["files"]}
    if client.bucket_exists(bucket):
        msg = f"bucket {bucket!r} already exists; restore into a new bucket"
        raise BackupError(msg)
    client.make_bucket(bucket)
    client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    keys: dict[str, list[dict[str, Any]]] = manifest["keys"]
    log(TOOL, f"restoring {len(keys)} keys, {manifest['versions']} versions into {bucket!r}")
    for key, entries in keys.items():
        for entry in entries:
            if entry["delete_marker"]:
                client.remove_object(bucket, key)
            else:
                path = backup_dir / entry["file"]
                client.fput_object(
                    bucket, key, str(path), content_type=entry["content_type"] or "application/octet-stream"
                )
    restored = _versions(client, bucket)
    for key, entries in keys.items():
        got = restored.get(key, [])
        if len(got) != len(entries):
            msg = f"restore incomplete: {key!r} has {len(got)} versions, expected {len(entries)}"
            raise BackupError(msg)
        latest = entries[-1]
        if not latest["delete_marker"]:
            response = client.get_object(bucket, key)
            try:
                content = response.read()
            finally:
                response.close()
                response.release_conn()
            if _sha256(content) != checksums[latest["file"]]:
                msg = f"restore incomplete: the latest content of {key!r} differs from the backup"
                raise BackupError(msg)
    log(TOOL, f"restore verified: {len(keys)} keys, {manifest['versions']} versions")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luna_object_backup.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--secure", action="store_true", help="talk HTTPS to the endpoint")
    add_commands(
        parser,
        backup_description="Mirror a bucket, prune old ones.",
        add_source=lambda make: _add_bucket(make, "the bucket to back up"),
        add_target=lambda put: _add_bucket(put, "the new bucket to restore into (must not exist)"),
    )
    return parser


def _add_bucket(command: argparse.ArgumentParser, bucket_help: str) -> None:
    command.add_argument("--endpoint", required=True, help="HOST:PORT of the S3/MinIO server")
    command.add_argument("--bucket", required=True, help=bucket_help)


def main(argv: list[str] | None = None) -> int:
    """Run one command; print the error and exit 1 when it fails."""
    return run_tool(
        TOOL,
        _parser(),
        {
            "backup": lambda args: print(
                backup(_client(args.endpoint, secure=args.secure), args.bucket, args.dir, keep=args.keep)
            ),
            "verify": verify_command(TOOL, FORMAT),
            "restore": lambda args: restore(_client(args.endpoint, secure=args.secure), args.backup, args.bucket),
        },
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
