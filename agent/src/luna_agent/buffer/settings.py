"""What the durable buffer is configured with (``[buffer]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

__all__ = ["BufferSettings", "Synchronous"]

Synchronous = Literal["off", "normal", "full", "extra"]
"""SQLite's ``PRAGMA synchronous`` levels."""


class BufferSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The durable buffer (``[buffer]``)."""

    file: str = "buffer.sqlite3"
    """Relative to ``data_dir``."""
    synchronous: Synchronous = "full"
    """``full`` survives power loss; ``normal`` may lose the last commits on power loss, never on a crash."""
    max_rows: Annotated[int, msgspec.Meta(ge=10)] = 2_000_000
    max_bytes: Annotated[int, msgspec.Meta(ge=65536)] = 512 << 20

    def path(self, data_dir: Path) -> Path:
        """Return the buffer's database file inside ``data_dir``."""
        return data_dir / self.file
