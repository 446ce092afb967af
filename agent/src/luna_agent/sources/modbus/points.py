"""A Modbus point (one metric in one or more registers) and how its raw registers become a value.

Pure functions only; the connection lives in :mod:`luna_agent.sources.modbus.transport`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Literal, NamedTuple

import msgspec

from luna_agent.sources.modbus.codec import ByteOrder, DataType, decode, register_count
from luna_shared.vocabulary import Flag, metric_spec
from luna_shared.wire import MetricName

__all__ = ["Decoded", "PointSpec", "RegisterImage", "RegisterType", "decode_point", "pdu_address"]

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


def decode_point(point: PointSpec, image: RegisterImage) -> Decoded | None:  # noqa: PLR0911 - one exit per outcome
    """Decode ``point`` from the registers read in a poll; ``None`` if they were not all read."""
    try:
        words = [image[point.register_type, point.pdu + i] for i in range(point.count)]
    except KeyError:
        return None
    if point.register_type in {"coil", "discrete"}:
        return Decoded(float(bool(words[0])))
    raw = decode(words, point.data_type, point.order)
    if isinstance(raw, float) and not math.isfinite(raw):
        return Decoded(None, Flag.NOT_A_NUMBER)
    if raw in point.sentinels:
        return Decoded(None, Flag.SENTINEL)
    scale = point.scale
    if point.sf_address is not None:
        sf_word = image.get((point.register_type, point.sf_address))
        if sf_word is None:
            return None
        sf = decode([sf_word], DataType.INT16)
        if sf == _SF_NOT_IMPLEMENTED:
            return Decoded(None, Flag.SENTINEL)
        scale *= 10.0**sf
    return Decoded(raw * scale + point.offset)
