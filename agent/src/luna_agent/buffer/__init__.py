"""The durable buffer between validation and sync: SQLite, WAL, gap-free sequence numbers."""

from luna_agent.buffer.settings import BufferSettings, Synchronous
from luna_agent.buffer.sqlite import BufferedEvent, BufferStats, ReadingBuffer, SeqRange

__all__ = ["BufferSettings", "BufferStats", "BufferedEvent", "ReadingBuffer", "SeqRange", "Synchronous"]
