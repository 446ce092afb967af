"""What every Luna-iEMS backup tool shares: the backup directory, its manifest, checksums and CLI.

A backup is a directory ``ROOT/<UTC time>`` with the backed-up files and ``manifest.json``
(format name, SHA-256 and size of every file, plus what the tool records to prove a restore).
It is written as ``<id>.partial`` and renamed when complete, so a crash never leaves something
that looks like a backup; old backups are pruned to the newest ``keep``.

Every tool has the commands ``backup``, ``verify`` and ``restore`` (``add_commands``) and reports
a ``BackupError`` as one line on stderr and exit code 1 (``run_tool``).

Standard library only; the tools import it from their own directory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST",
    "BackupError",
    "Handler",
    "add_commands",
    "log",
    "new_backup",
    "prune",
    "run_tool",
    "sha256_file",
    "verify",
    "verify_command",
]

MANIFEST = "manifest.json"

Handler = Callable[[argparse.Namespace], None]
"""Runs one command with the parsed arguments; raises ``BackupError`` when it cannot."""


class BackupError(Exception):
    """A backup or restore cannot go on; the message says why."""


def log(tool: str, message: str) -> None:
    """Report progress on stderr (stdout carries only the result, e.g. the new backup's path)."""
    print(f"{tool}: {message}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def new_backup(root: Path, manifest: dict[str, Any]) -> Iterator[Path]:
    """Yield a fresh ``.partial`` directory; on success write the manifest and rename it.

    The caller fills the directory and ``manifest``; every regular file in the directory is
    listed under ``files`` with its size and checksum, then synced to disk before the rename.
    """
    backup_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    partial = root / f"{backup_id}.partial"
    partial.mkdir(parents=True)
    yield partial
    files = sorted(p for p in partial.rglob("*") if p.is_file())
    manifest["id"] = backup_id
    manifest["created_at"] = datetime.now(UTC).isoformat()
    manifest["files"] = [
        {"name": p.relative_to(partial).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files
    ]
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for path in [*files, partial / MANIFEST]:
        with path.open("rb") as stream:
            os.fsync(stream.fileno())
    partial.rename(root / backup_id)


def prune(tool: str, root: Path, keep: int) -> None:
    """Keep the newest ``keep`` complete backups; remove interrupted ones older than the newest."""
    complete = sorted(p for p in root.iterdir() if p.is_dir() and (p / MANIFEST).is_file() and "." not in p.name)
    for old in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(old)
        log(tool, f"removed old backup {old.name} (keeping {keep})")
    newest = complete[-1].name if complete else ""
    for stale in root.glob("*.partial"):
        if stale.name.removesuffix(".partial") < newest:
            shutil.rmtree(stale)
            log(tool, f"removed interrupted backup {stale.name}")


def verify(backup_dir: Path, backup_format: str) -> dict[str, Any]:
    """Check a backup's manifest and every file's checksum; return the manifest."""
    try:
        manifest = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        msg = f"{backup_dir}: no {MANIFEST} (not a backup, or an interrupted one)"
        raise BackupError(msg) from exc
    except json.JSONDecodeError as exc:
        msg = f"{backup_dir / MANIFEST}: line {exc.lineno}: not valid JSON"
        raise BackupError(msg) from exc
    if manifest.get("format") != backup_format:
        msg = f"{backup_dir / MANIFEST}: format {manifest.get('format')!r}, expected {backup_format!r}"
        raise BackupError(msg)
    for entry in manifest["files"]:
        path = backup_dir / entry["name"]
        if not path.is_file():
            msg = f"{path}: missing"
            raise BackupError(msg)
        if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            msg = f"{path}: checksum mismatch (the file is damaged)"
            raise BackupError(msg)
    return dict(manifest)


def add_commands(
    parser: argparse.ArgumentParser,
    *,
    backup_description: str,
    add_source: Callable[[argparse.ArgumentParser], object],
    add_target: Callable[[argparse.ArgumentParser], object],
) -> None:
    """Add the commands ``backup``, ``verify`` and ``restore`` to a tool's parser.

    ``add_source`` adds the options naming what to back up (before ``--dir`` and ``--keep``),
    ``add_target`` those naming where to restore (after the backup's directory).
    """
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    make = commands.add_parser("backup", help="write a new backup", description=backup_description)
    add_source(make)
    make.add_argument("--dir", required=True, type=Path, help="directory that holds the backups")
    make.add_argument("--keep", type=int, default=7, help="number of backups to keep (default 7)")
    check = commands.add_parser("verify", help="check a backup's checksums", description="Check a backup.")
    check.add_argument("backup", type=Path, help="the backup's directory")
    put = commands.add_parser("restore", help="restore a backup", description="Restore a backup and verify it.")
    put.add_argument("backup", type=Path, help="the backup's directory")
    add_target(put)


def verify_command(tool: str, backup_format: str) -> Handler:
    """Build the ``verify`` command: check a backup's checksums and say so."""

    def run(args: argparse.Namespace) -> None:
        verify(args.backup, backup_format)
        log(tool, f"{args.backup}: all checksums match")

    return run


def run_tool(
    tool: str, parser: argparse.ArgumentParser, handlers: Mapping[str, Handler], argv: list[str] | None
) -> int:
    """Run the command ``argv`` names; print the error and return 1 when it fails, else 0."""
    args = parser.parse_args(argv)
    try:
        handlers[args.command](args)
    except BackupError as exc:
        log(tool, f"error: {exc}")
        return 1
    return 0
