"""Commissioning assistant: which shipped profile, byte order and address base make a device's values plausible."""

from __future__ import annotations

import msgspec

from luna_agent.errors import DeviceError
from luna_agent.sources.modbus.codec import ByteOrder
from luna_agent.sources.modbus.points import PointSpec, decode_point
from luna_agent.sources.modbus.profiles import MeterProfile, SunSpecProfile, load_profile, profile_names
from luna_agent.sources.modbus.reader import RegisterSource
from luna_agent.sources.modbus.sunspec import discover_models

__all__ = ["PLAUSIBLE", "ProbeResult", "probe_device"]

PLAUSIBLE = {"voltage_l1_v": (207.0, 253.0), "frequency_hz": (49.5, 50.5)}
"""230 V +-10 % and 50 Hz +-1 %."""


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    """One decoding that gave plausible values."""

    profile: str
    order: str
    address_shift: int
    values: dict[str, float]


async def _read_point(source: RegisterSource, point: PointSpec, unit: int) -> float | None:
    try:
        words = await source.read(point.register_type, point.pdu, point.count, unit)
    except DeviceError:
        return None
    decoded = decode_point(point, {(point.register_type, point.pdu + i): w for i, w in enumerate(words)})
    return decoded.value if decoded else None


async def probe_device(source: RegisterSource, unit: int) -> list[ProbeResult]:
    """Try every fixed profile with each byte order and address shift, and SunSpec discovery."""
    results: list[ProbeResult] = []
    for name in profile_names():
        profile = load_profile(name)
        if isinstance(profile, SunSpecProfile):
            results += await _probe_sunspec(source, unit, profile)
            continue
        assert isinstance(profile, MeterProfile)  # noqa: S101 - the two kinds are exhaustive
        points = [p for p in profile.points if p.metric in PLAUSIBLE]
        if not points:
            continue
        for order in ByteOrder:
            for shift in (0, -1, 1):
                values: dict[str, float] = {}
                for point in points:
                    address = point.pdu + shift
                    if address < 0:
                        break
                    variant = msgspec.structs.replace(point, address=address, address_base=0, order=order)
                    value = await _read_point(source, variant, unit)
                    low, high = PLAUSIBLE[point.metric]
                    if value is None or not low <= value <= high:
                        break
                    values[point.metric] = round(value, 3)
                else:
                    results.append(ProbeResult(profile=name, order=order.value, address_shift=shift, values=values))
    return results


async def _probe_sunspec(source: RegisterSource, unit: int, profile: SunSpecProfile) -> list[ProbeResult]:
    try:
        models = await discover_models(lambda start, count: source.read("holding", start, count, unit))
    except DeviceError:
        return []
    results = []
    for model in models:
        if model.model_id in profile.profile.models:
            values = {}
            for point in profile.points_at(model.start):
                if point.metric in PLAUSIBLE:
                    words = await source.read("holding", point.pdu, 1, unit)
                    sf = await source.read("holding", point.sf_address or 0, 1, unit)
                    decoded = decode_point(
                        point, {("holding", point.pdu): words[0], ("holding", point.sf_address or 0): sf[0]}
                    )
                    if decoded and decoded.value is not None:
                        values[point.metric] = round(decoded.value, 3)
            results.append(
                ProbeResult(
                    profile=f"sunspec (model {model.model_id} at {model.start})",
                    order="ABCD",
                    address_shift=0,
                    values=values,
                )
            )
    return results
