"""Register codecs: pure functions between 16-bit register words and numbers.

No I/O here (pymodbus keeps its converters apart from its transport the same way). The
byte order names the four bytes of a 32-bit value as they arrive: ``ABCD`` is big-endian
words and bytes (Eastron, Janitza, ABB, SunSpec), ``CDAB`` swaps the words (Carlo Gavazzi),
``BADC`` swaps the bytes inside each word, ``DCBA`` is fully little-endian. For 64-bit
values the same rule applies word by word; for 16-bit values only the byte swap matters.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Sequence
from typing import Final

from luna_agent.errors import DecodeError

__all__ = ["ByteOrder", "DataType", "decode", "encode", "register_count"]


class DataType(enum.StrEnum):
    """How the registers of one point hold a number."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"


class ByteOrder(enum.StrEnum):
    """Order of the bytes on the wire, named after the big-endian ``ABCD``."""

    ABCD = "ABCD"
    CDAB = "CDAB"
    BADC = "BADC"
    DCBA = "DCBA"


_FORMATS: Final = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.INT64: ">q",
    DataType.UINT64: ">Q",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
}
_WORD_MAX: Final = 0xFFFF
_WORD_SWAPPED: Final = frozenset({ByteOrder.CDAB, ByteOrder.DCBA})
_BYTE_SWAPPED: Final = frozenset({ByteOrder.BADC, ByteOrder.DCBA})


def register_count(data_type: DataType) -> int:
    """Return how many 16-bit registers a value of ``data_type`` occupies."""
    return struct.calcsize(_FORMATS[data_type]) // 2


def _swap_bytes(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def _reorder(words: Sequence[int], order: ByteOrder) -> list[int]:
    """Convert between wire order and ``ABCD``; the operation is its own inverse."""
    ordered = list(reversed(words)) if order in _WORD_SWAPPED else list(words)
    if order in _BYTE_SWAPPED:
        ordered = [_swap_bytes(word) for word in ordered]
    return ordered


def decode(words: Sequence[int], data_type: DataType, order: ByteOrder = ByteOrder.ABCD) -> int | float:
    """Decode the registers of one value; floats may come back NaN or infinite (the caller flags them)."""
    expected = register_count(data_type)
    if len(words) != expected:
        raise DecodeError(f"{data_type} needs {expected} registers, got {len(words)}")
    if any(not 0 <= word <= _WORD_MAX for word in words):
        raise DecodeError(f"registers must be 16-bit unsigned values, got {list(words)}")
    raw = b"".join(word.to_bytes(2, "big") for word in _reorder(words, order))
    value: int | float = struct.unpack(_FORMATS[data_type], raw)[0]
    return value


def encode(value: float, data_type: DataType, order: ByteOrder = ByteOrder.ABCD) -> list[int]:
    """Encode ``value`` as a device would put it into registers (simulator, tests, probe)."""
    if data_type in {DataType.FLOAT32, DataType.FLOAT64}:
        raw = struct.pack(_FORMATS[data_type], float(value))
    else:
        if not math.isfinite(value) or value != int(value):
            raise DecodeError(f"{data_type} holds whole numbers, got {value}")
        try:
            raw = struct.pack(_FORMATS[data_type], int(value))
        except struct.error as exc:
            raise DecodeError(f"{value} does not fit {data_type}") from exc
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return _reorder(words, order)
