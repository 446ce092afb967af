"""Exceptions raised by ``luna_shared``.

::

    LunaError                      base of every Luna-iEMS exception (agent and hub derive theirs)
    ├── ConfigError                a settings file or environment variable is wrong
    ├── KeyFileError               an agent key file exists but is empty, unreadable or not one word
    └── WireError                  a message cannot be decoded
        ├── MalformedMessageError  not valid msgpack/JSON, or fields of the wrong type or range
        ├── MessageTooLargeError   a body beyond the receiver's size limit (also once decompressed)
        └── UnsupportedVersionError a message type or major version this side does not speak
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "KeyFileError",
    "LunaError",
    "MalformedMessageError",
    "MessageTooLargeError",
    "UnsupportedVersionError",
    "WireError",
]


class LunaError(Exception):
    """Base of every Luna-iEMS exception."""


class ConfigError(LunaError):
    """Configuration is invalid; the message names the source (file or variable), key and problem."""

    def __init__(self, source: str, key: str | None, problem: str, *, line: int | None = None) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        self.line = line
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: key '{key}': {problem}" if key else f"{where}: {problem}")


class KeyFileError(LunaError):
    """An agent key file exists but holds no usable key; the message names the file."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class WireError(LunaError):
    """A wire message cannot be decoded."""


class MalformedMessageError(WireError):
    """The bytes are not a valid message: bad encoding, wrong field type, broken invariant."""


class MessageTooLargeError(WireError):
    """The body is larger than the receiver accepts, compressed or once decompressed."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        super().__init__(f"message exceeds the limit of {max_size} bytes")


class UnsupportedVersionError(WireError):
    """The message's type tag names a type or major version this side does not speak."""

    def __init__(self, tag: str, supported: tuple[str, ...]) -> None:
        self.tag = tag
        self.supported = supported
        super().__init__(f"unsupported message type {tag!r}; this side speaks {', '.join(supported)}")
