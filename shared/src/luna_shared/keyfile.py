"""Agent key files: the key on one line, readable by its owner only (mode 0600).

The hub writes them (``luna-hub create-agent --key-file``, the demo); the agent reads them.
One rule for both: a missing file means "not provisioned yet"; a file that exists but is
empty, unreadable or holds more than one word is a :class:`~luna_shared.errors.KeyFileError`
naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from luna_shared.errors import KeyFileError

__all__ = ["read_key", "write_key"]


def write_key(path: Path, key: str) -> None:
    """Write ``key`` to ``path`` with mode 0600 from the start (never briefly readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    path.chmod(0o600)  # an existing file keeps its old mode through O_CREAT


def read_key(path: Path) -> str | None:
    """Return the key in ``path`` (whitespace stripped), ``None`` if the file does not exist yet.

    Raises :class:`~luna_shared.errors.KeyFileError` naming the file when it exists but cannot
    be read or holds no single key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(path, f"cannot read the agent key: {exc}") from exc
    key = text.strip()
    if not key:
        raise KeyFileError(path, "the agent key file is empty")
    if any(ch.isspace() for ch in key):
        raise KeyFileError(path, "the agent key file holds more than one word")
    return key
