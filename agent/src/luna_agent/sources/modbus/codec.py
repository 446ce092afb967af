"""Register codecs: pure functions between 16-bit register words and numbers.

No I/O here (pymodbus keeps its converters apart from its transport the same way). The
byte order names the four bytes of a 32-bit value as they arrive: ``ABCD`` is big-endian
words and bytes (Eastron, Janitza, ABB, SunSpec), ``CDAB`` swaps the words (Carlo Gavazzi),
``BADC`` swaps the bytes inside each word, ``DCBA`` is fully little-endian. For 64-bit
values the same rule applies word by word; for 16-bit values only the byte swap matters.
"""

from __future__ import annotations

import enum
import functools
import math
import struct
from collections.abc import Callable, Sequence
from typing import Final

from luna_agent.errors import DecodeError

__all__ = [
    "ByteOrder",
    "DataType",
    "Decoder",
    "compile_decoder",
    "compile_run_decoder",
    "decode",
    "encode",
    "integer_range",
    "register_count",
    "shortest_float32",
]


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
_WORD_SWAPPED: Final = frozenset({ByteOrder.CDAB, ByteOrder.DCBA})
_BYTE_SWAPPED: Final = frozenset({ByteOrder.BADC, ByteOrder.DCBA})


def integer_range(data_type: DataType) -> tuple[int, int] | None:
    """Return the smallest and largest value an integer type holds; ``None`` for floats."""
    if data_type in {DataType.FLOAT32, DataType.FLOAT64}:
        return None
    bits = 16 * register_count(data_type)
    if data_type.value.startswith("u"):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def register_count(data_type: DataType) -> int:
    """Return how many 16-bit registers a value of ``data_type`` occupies."""
    return struct.calcsize(_FORMATS[data_type]) // 2


_FLOAT32: Final = struct.Struct(">f")


def shortest_float32(value: float) -> float:
    """Return the float with the fewest digits that is still the same float32 as ``value``.

    A float32 register holding 230.31664 widens to 230.31663513183594; the extra digits are
    noise from the conversion, not the meter's. Six to nine significant digits always suffice.
    """
    if value - value != 0:  # NaN and infinities stay as they are
        return value
    raw = _FLOAT32.pack(value)
    for digits in (6, 7, 8):
        short = float(f"{value:.{digits}g}")
        if _FLOAT32.pack(short) == raw:
            return short
    return float(f"{value:.9g}")


def _swap_bytes(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def _reorder(words: Sequence[int], order: ByteOrder) -> list[int]:
    """Convert between wire order and ``ABCD``; the operation is its own inverse."""
    ordered = list(reversed(words)) if order in _WORD_SWAPPED else list(words)
    if order in _BYTE_SWAPPED:
        ordered = [_swap_bytes(word) for word in ordered]
    return ordered


Decoder = Callable[[Sequence[int]], int | float]


@functools.cache
def compile_decoder(data_type: DataType, order: ByteOrder = ByteOrder.ABCD) -> Decoder:
    """Return a fast decoder for one data type and byte order (the poll loop calls it for every point)."""
    count = register_count(data_type)
    words_format = struct.Struct(f">{count}H")
    value_format = struct.Struct(_FORMATS[data_type])
    swap_words = order in _WORD_SWAPPED
    swap_bytes = order in _BYTE_SWAPPED
    is_float32 = data_type is DataType.FLOAT32

    def decode_words(words: Sequence[int]) -> int | float:
        if len(words) != count:
            raise DecodeError(f"{data_type} needs {count} registers, got {len(words)}")
        try:
            raw = words_format.pack(*(words[::-1] if swap_words else words))
        except struct.error as exc:
            raise DecodeError(f"registers must be 16-bit unsigned values, got {list(words)}") from exc
        if swap_bytes:
            swapped = bytearray(raw)
            swapped[0::2], swapped[1::2] = raw[1::2], raw[0::2]
            raw = bytes(swapped)
        value: int | float = value_format.unpack(raw)[0]
        return shortest_float32(value) if is_float32 else value

    return decode_words


@functools.cache
def compile_run_decoder(data_type: DataType, count: int) -> Callable[[Sequence[int]], tuple[int | float, ...]]:
    """Return a decoder of ``count`` consecutive big-endian (``ABCD``) values in one pass (a meter's block)."""
    words_format = struct.Struct(f">{count * register_count(data_type)}H")
    values_format = struct.Struct(f">{count}{_FORMATS[data_type][1:]}")
    is_float32 = data_type is DataType.FLOAT32

    def decode_run(words: Sequence[int]) -> tuple[int | float, ...]:
        try:
            values: tuple[int | float, ...] = values_format.unpack(words_format.pack(*words))
        except struct.error as exc:
            raise DecodeError(f"cannot decode {count} x {data_type} from {len(words)} registers") from exc
        return tuple(map(shortest_float32, values)) if is_float32 else values

    return decode_run


def decode(words: Sequence[int], data_type: DataType, order: ByteOrder = ByteOrder.ABCD) -> int | float:
    """Decode the registers of one value; floats may come back NaN or infinite (the caller flags them)."""
    return compile_decoder(data_type, order)(words)


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
