"""SunSpec discovery: find ``SunS`` and walk the model chain; the reads are passed in, the walk is pure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, NamedTuple

from luna_agent.errors import DeviceRejected

__all__ = ["BASE_ADDRESSES", "SUNS", "ModelHeader", "discover_models"]

BASE_ADDRESSES: Final = (40000, 0, 50000)
"""Where the ``SunS`` marker may be, in the order pysunspec2 probes them."""
SUNS: Final = (0x5375, 0x6E53)
_END_MODEL: Final = 0xFFFF
_MAX_MODELS: Final = 64
_MAX_ADDRESS: Final = 0xFFFF

ReadHolding = Callable[[int, int], Awaitable[list[int]]]
"""``read(start, count)`` of holding registers."""


class ModelHeader(NamedTuple):
    """One model in the chain: its id, the PDU address of its ID register and its length ``L``."""

    model_id: int
    start: int
    length: int


async def discover_models(read: ReadHolding) -> list[ModelHeader]:
    """Return the device's model chain, or ``[]`` when no ``SunS`` marker is found.

    A truncated chain (a read fails mid-way) or a missing end marker ends the walk with
    the models found so far; the end model may come without a length.
    """
    for base in BASE_ADDRESSES:
        try:
            marker = await read(base, 2)
        except DeviceRejected:
            continue
        if tuple(marker) == SUNS:
            return await _walk(read, base + 2)
    return []


async def _walk(read: ReadHolding, address: int) -> list[ModelHeader]:
    models: list[ModelHeader] = []
    for _ in range(_MAX_MODELS):
        try:
            (model_id,) = await read(address, 1)
            if model_id == _END_MODEL:
                break
            (length,) = await read(address + 1, 1)
        except DeviceRejected:
            break  # truncated chain: keep what was found; a timeout propagates (device down)
        models.append(ModelHeader(model_id, address, length))
        address += 2 + length
        if address > _MAX_ADDRESS:
            break
    return models
