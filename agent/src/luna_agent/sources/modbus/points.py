"""A Modbus point (one metric in one or more registers) and how its raw registers become a value.

Pure functions only; the connection lives in :mod:`luna_agent.sources.modbus.transport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal, NamedTuple

import msgspec

from luna_agent.sources.modbus.codec import ByteOrder, DataType, compile_decoder, decode, register_count
from luna_shared.vocabulary import Flag, metric_spec
from luna_shared.wire import MetricName

__all__ = ["CompiledPoint", "Decoded", "PointSpec", "RegisterImage", "RegisterType", "decode_point", "pdu_address"]

RegisterType = Literal["holding", "input", "coil", "discrete"]
RegisterImage = Mapping[tuple[str, int], int]
"""Words (or 0/1 bits) read in one poll, by (register type, PDU address)."""

_TABLE_PREFIX = {"coil": 0, "discrete": 1, "input": 3, "holding": 4}
_MAX_PDU = 0xFFFF


def pdu_address(address: int, address_base: int, register_type: RegisterType) -> int:
    """Return the 0-based PDU address sent on the wire.

    ``address_base = 1`` accepts a 1-based register number with or without the Modicon
    table prefix: input ``30001`` or ``300001`` and holding ``40001`` or ``400001`` are all 0.
    """
    if address_base == 0:
        pdu = address
    else:
        prefix = _TABLE_PREFIX[register_type]
        if prefix and prefix * 100_000 < address < (prefix + 1) * 100_000:
            pdu = address - prefix * 100_000 - 1
        elif prefix and prefix * 10_000 < address < (prefix + 1) * 10_000:
            pdu = address - prefix * 10_000 - 1
        else:
            pdu = address - 1
    if not 0 <= pdu <= _MAX_PDU:
        msg = f"address {address} (base {address_base}) is outside the Modbus range 0..65535"
        raise ValueError(msg)
    return pdu


class PointSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where one metric lives on a device and how to decode it (profile files and ``[[devices.points]]``)."""

    metric: MetricName
    register_type: RegisterType = "holding"
    address: Annotated[int, msgspec.Meta(ge=0, le=465_536)]
    address_base: Literal[0, 1] = 0
    data_type: DataType = DataType.FLOAT32
    order: ByteOrder = ByteOrder.ABCD
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None
    """Unit of ``raw * scale + offset``; default: the metric's unit in the vocabulary."""
    sentinels: tuple[int, ...] = ()
    """Raw values meaning "not available" (ABB ``0xFFFFFFFF``, SunSpec ``0x8000``)."""
    sf_address: int | None = None
    """PDU address of a SunSpec scale-factor register (int16, same table): value = raw * 10**sf * scale."""

    def __post_init__(self) -> None:
        pdu = pdu_address(self.address, self.address_base, self.register_type)
        if pdu + self.count - 1 > _MAX_PDU:
            msg = f"{self.metric}: registers run past address 65535"
            raise ValueError(msg)

    @property
    def pdu(self) -> int:
        """0-based address of the first register."""
        return pdu_address(self.address, self.address_base, self.register_type)

    @property
    def count(self) -> int:
        """Registers (or bits) this point occupies."""
        return 1 if self.register_type in {"coil", "discrete"} else register_count(self.data_type)

    @property
    def resolved_unit(self) -> str:
        """The unit readings of this point carry."""
        if self.unit is not None:
            return self.unit
        spec = metric_spec(self.metric)
        return spec.unit.value if spec else ""


class Decoded(NamedTuple):
    """A point's value, or ``None`` with the reason it is missing."""

    value: float | None
    flag: Flag | None = None


_SF_NOT_IMPLEMENTED = -32768
_BITS = frozenset({"coil", "discrete"})


class CompiledPoint:
    """A point with its addresses and decoder worked out once; :meth:`decode` runs on every poll."""

    __slots__ = ("addresses", "bits", "decoder", "offset", "plain", "point", "scale", "sentinels", "sf_key", "unit")

    def __init__(self, point: PointSpec) -> None:
        self.point = point
        self.addresses = [(point.register_type, point.pdu + i) for i in range(point.count)]
        self.bits = point.register_type in _BITS
        self.decoder = compile_decoder(point.data_type, point.order)
        self.sf_key = None if point.sf_address is None else (point.register_type, point.sf_address)
        self.unit = point.resolved_unit
        self.scale = point.scale
        self.offset = point.offset
        self.sentinels = frozenset(point.sentinels)
        self.plain = not self.sentinels and self.scale == 1 and self.offset == 0 and self.sf_key is None

    def decode(self, image: RegisterImage) -> Decoded | None:
        """Decode from the registers read in a poll; ``None`` if they were not all read."""
        try:
            words = [image[key] for key in self.addresses]
        except KeyError:
            return None
        sf_word = None
        if self.sf_key is not None:
            sf_word = image.get(self.sf_key)
            if sf_word is None:
                return None
        return self.from_words(words, sf_word)

    def from_words(self, words: Sequence[int], sf_word: int | None = None) -> Decoded:
        """Decode the point's own registers (and its SunSpec scale factor, if it has one)."""
        if self.bits:
            return Decoded(float(bool(words[0])))
        return self.from_raw(self.decoder(words), sf_word)

    def from_raw(self, raw: float, sf_word: int | None = None) -> Decoded:
        """Apply sentinels, NaN check, scale factor, scale and offset to a decoded raw number."""
        if raw - raw != 0:  # NaN or infinity (for ints this is always 0); cheaper than math.isfinite
            return Decoded(None, Flag.NOT_A_NUMBER)
        if self.sentinels and raw in self.sentinels:
            return Decoded(None, Flag.SENTINEL)
        scale = self.scale
        if sf_word is not None:
            sf = decode([sf_word], DataType.INT16)
            if sf == _SF_NOT_IMPLEMENTED:
                return Decoded(None, Flag.SENTINEL)
            scale *= 10.0**sf
        return Decoded(raw * scale + self.offset)


def decode_point(point: PointSpec, image: RegisterImage) -> Decoded | None:
    """Decode ``point`` from the registers read in a poll; ``None`` if they were not all read."""
    return CompiledPoint(point).decode(image)
