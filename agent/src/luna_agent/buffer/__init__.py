"""The durable buffer between validation and sync: SQLite, WAL, gap-free sequence numbers."""

from luna_agent.buffer.sqlite import BufferedEvent, BufferStats, ReadingBuffer, SeqRange, Synchronous

__all__ = ["BufferStats", "BufferedEvent", "ReadingBuffer", "SeqRange", "Synchronous"]
