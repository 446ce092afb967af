"""Agent key files: the key on one line, readable by its owner only (mode 0600)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["read_key_file", "write_key_file"]


def write_key_file(path: Path, key: str) -> None:
    """Write ``key`` to ``path`` with mode 0600 from the start (never briefly readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    path.chmod(0o600)  # an existing file keeps its old mode through O_CREAT


def read_key_file(path: Path) -> str | None:
    """Return the key stored in ``path``, or None when the file is missing or empty."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return key or None
