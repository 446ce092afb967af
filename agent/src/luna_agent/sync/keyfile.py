"""The agent's key, read from its file: missing means "not provisioned yet", empty or unreadable is an error."""

from __future__ import annotations

from pathlib import Path

from luna_agent.errors import KeyFileError

__all__ = ["read_key"]


def read_key(path: Path) -> str | None:
    """Return the key in ``path`` (whitespace stripped), ``None`` if the file does not exist yet.

    Raises :class:`~luna_agent.errors.KeyFileError` naming the file when it exists but cannot be
    read or holds no key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read the agent key: {exc}") from exc
    key = text.strip()
    if not key:
        raise KeyFileError(f"{path}: the agent key file is empty")
    if any(ch.isspace() for ch in key):
        raise KeyFileError(f"{path}: the agent key file holds more than one word")
    return key
