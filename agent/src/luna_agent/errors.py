"""Exceptions raised by ``luna_agent``.

::

    LunaError (luna_shared)
    └── AgentError                  base of every agent exception
        ├── ProfileError            a shipped or named device profile is missing or malformed
        ├── DecodeError             registers cannot be decoded as the point says (wrong count, not 16-bit)
        ├── DeviceError             talking to a device failed
        │   ├── DeviceUnreachable   no connection, timeout, broken frame: retry later with back-off
        │   └── DeviceRejected      the device answered with a Modbus exception code for a request
        ├── StorageError            the durable buffer cannot be opened or written
        └── SyncError               forwarding readings to the hub failed
            └── KeyFileError        the agent key file exists but is empty or unreadable (from luna_shared's)
"""

from __future__ import annotations

from luna_shared.errors import LunaError

__all__ = [
    "AgentError",
    "DecodeError",
    "DeviceError",
    "DeviceRejected",
    "DeviceUnreachable",
    "KeyFileError",
    "ProfileError",
    "StorageError",
    "SyncError",
]


class AgentError(LunaError):
    """Base of every agent exception."""


class ProfileError(AgentError):
    """A device profile is missing or malformed."""


class DecodeError(AgentError):
    """Registers do not fit the point's data type."""


class DeviceError(AgentError):
    """Talking to a device failed."""


class DeviceUnreachable(DeviceError):  # noqa: N818 - reads as a state, like httpx's ConnectError family
    """No answer: connection refused or lost, timeout, garbled frame."""


class DeviceRejected(DeviceError):  # noqa: N818
    """The device answered a request with a Modbus exception code."""

    def __init__(self, message: str, *, exception_code: int) -> None:
        self.exception_code = exception_code
        super().__init__(f"{message}: Modbus exception {exception_code:#04x}")


class StorageError(AgentError):
    """The durable buffer failed."""


class SyncError(AgentError):
    """Forwarding readings to the hub failed."""


class KeyFileError(SyncError):
    """The agent key file exists but cannot be read or holds no key; the message names the file."""
