"""Commissioning assistant: which shipped profile, byte order and address base fit a device, and how sure that is.

Each fixed profile is tried with every byte order and address shift until its L1 voltage and
frequency are plausible; then the evidence is weighed (:func:`score`):

- identity registers the profile's source documents: a meter code that matches is strong evidence,
  one that does not answer or differs counts against; a serial number that answers counts a little;
- every point of the profile read with that decoding: the share whose value is plausible for its
  metric (:func:`plausible`) counts, implausible ones count against.

SunSpec devices identify themselves (the ``SunS`` marker and a model id), which counts as a matching code.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from typing import Final

import msgspec

from luna_agent.errors import DecodeError, DeviceError
from luna_agent.sources.modbus.codec import ByteOrder, decode
from luna_agent.sources.modbus.points import PointSpec, decode_point
from luna_agent.sources.modbus.profiles import (
    IdentityRegister,
    MeterProfile,
    SunSpecProfile,
    load_profile,
    profile_names,
)
from luna_agent.sources.modbus.reader import RegisterSource
from luna_agent.sources.modbus.sunspec import discover_models

__all__ = ["Certainty", "Evidence", "ProbeResult", "certainty", "plausible", "probe_device", "score"]

_KEY_RANGES: Final = {"voltage_l1_v": (180.0, 260.0), "frequency_hz": (45.0, 65.0)}
"""What the L1 voltage and the frequency must read before a decoding is looked at further."""

_RANGES: Final = (
    (re.compile(r"voltage_l\d_l\d_v|voltage_ll_avg_v"), (310.0, 450.0)),
    (re.compile(r"voltage_.*_v"), (180.0, 260.0)),
    (re.compile(r"frequency_hz"), (45.0, 65.0)),
    (re.compile(r"power_factor.*"), (-1.0, 1.0)),
    (re.compile(r"current_.*_a"), (-10_000.0, 10_000.0)),
    (re.compile(r"thd_.*_pct"), (0.0, 100.0)),
    (re.compile(r"phase_angle.*_deg"), (-360.0, 360.0)),
    (re.compile(r".*energy.*|charge_ah"), (-1e10, 1e10)),
    (re.compile(r".*power.*"), (-1e8, 1e8)),
)
_ANY: Final = (-1e9, 1e9)

_CODE_MATCH: Final = 4.0
_CODE_MISSING: Final = -2.0
_CODE_DIFFERS: Final = -4.0
_SERIAL_ANSWERS: Final = 0.5
_VALUES_WEIGHT: Final = 3.0
_SURE_MARGIN: Final = 2.0
_LIKELY_MARGIN: Final = 0.5


def plausible(metric: str, value: float) -> bool | None:
    """Whether ``value`` is plausible for ``metric``; ``None`` for 0 (an unused phase reads 0 on a real meter)."""
    if not math.isfinite(value):
        return False
    if value == 0:
        return None
    low, high = next((limits for pattern, limits in _RANGES if pattern.fullmatch(metric)), _ANY)
    return low <= value <= high


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    """What was seen of one profile on the device."""

    plausible: int = 0
    """Points read with a value plausible for their metric."""
    implausible: int = 0
    checked: int = 0
    """Points of the profile that were read (answered and not zero)."""
    codes_matched: tuple[str, ...] = ()
    codes_missing: tuple[str, ...] = ()
    codes_differing: tuple[str, ...] = ()
    serials: tuple[str, ...] = ()
    """Serial numbers that answered, as ``name value``."""


def score(evidence: Evidence) -> float:
    """Weigh the evidence: identity codes first, then the share of plausible values."""
    total = _CODE_MATCH * len(evidence.codes_matched)
    total += _CODE_MISSING * len(evidence.codes_missing) + _CODE_DIFFERS * len(evidence.codes_differing)
    total += _SERIAL_ANSWERS * len(evidence.serials)
    if evidence.checked:
        total += _VALUES_WEIGHT * (evidence.plausible - 2 * evidence.implausible) / evidence.checked
    return round(total, 2)


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    """One profile with the decoding that made its key values plausible, and the evidence for it."""

    profile: str
    order: str
    address_shift: int
    values: dict[str, float]
    """The key values (L1 voltage, frequency) as decoded."""
    evidence: Evidence
    score: float


class Certainty(enum.StrEnum):
    """How sure the ranking is of its first candidate."""

    SURE = "sure"
    LIKELY = "likely"
    UNSURE = "unsure"


def certainty(ranked: Sequence[ProbeResult]) -> Certainty:
    """``sure``: a matching identity code or a wide lead; ``likely``: some lead; ``unsure``: a tie."""
    if not ranked:
        return Certainty.UNSURE
    lead = ranked[0].score - (ranked[1].score if len(ranked) > 1 else 0.0)
    if lead >= _SURE_MARGIN or (ranked[0].evidence.codes_matched and lead > 0):
        return Certainty.SURE
    return Certainty.LIKELY if lead >= _LIKELY_MARGIN else Certainty.UNSURE


async def _read_point(source: RegisterSource, point: PointSpec, unit: int) -> float | None:
    try:
        words = await source.read(point.register_type, point.pdu, point.count, unit)
    except DeviceError:
        return None
    decoded = decode_point(point, {(point.register_type, point.pdu + i): w for i, w in enumerate(words)})
    return decoded.value if decoded else None


async def _read_identity(source: RegisterSource, register: IdentityRegister, unit: int) -> int | None:
    count = 2 if register.data_type.value.endswith("32") else 1
    try:
        words = await source.read(register.register_type, register.address, count, unit)
        return int(decode(words, register.data_type))
    except (DeviceError, DecodeError):
        return None


async def _identity_evidence(source: RegisterSource, profile: MeterProfile, unit: int) -> Evidence:
    matched: list[str] = []
    missing: list[str] = []
    differing: list[str] = []
    serials: list[str] = []
    for register in profile.profile.identity:
        value = await _read_identity(source, register, unit)
        if register.expect is None:
            if value not in {None, 0, 0xFFFFFFFF}:
                serials.append(f"{register.name} {value}")
        elif value is None:
            missing.append(f"{register.name} (documented 0x{register.expect:04X}) does not answer")
        elif value == register.expect:
            matched.append(f"{register.name} 0x{value:04X}")
        else:
            differing.append(f"{register.name} reads 0x{value:04X}, documented 0x{register.expect:04X}")
    return Evidence(
        codes_matched=tuple(matched),
        codes_missing=tuple(missing),
        codes_differing=tuple(differing),
        serials=tuple(serials),
    )


def _shifted(point: PointSpec, order: ByteOrder, shift: int) -> PointSpec | None:
    address = point.pdu + shift
    if address < 0:
        return None
    return msgspec.structs.replace(point, address=address, address_base=0, order=order)


async def _key_values(
    source: RegisterSource, points: Sequence[PointSpec], unit: int, order: ByteOrder, shift: int
) -> dict[str, float] | None:
    values: dict[str, float] = {}
    for point in points:
        variant = _shifted(point, order, shift)
        value = None if variant is None else await _read_point(source, variant, unit)
        low, high = _KEY_RANGES[point.metric]
        if value is None or not low <= value <= high:
            return None
        values[point.metric] = round(value, 3)
    return values


async def _value_evidence(
    source: RegisterSource, profile: MeterProfile, unit: int, order: ByteOrder, shift: int
) -> tuple[int, int, int]:
    good = bad = checked = 0
    for point in profile.points:
        variant = _shifted(point, order, shift)
        value = None if variant is None else await _read_point(source, variant, unit)
        verdict = None if value is None else plausible(point.metric, value)
        if verdict is None:
            continue
        checked += 1
        good += verdict
        bad += not verdict
    return good, bad, checked


async def _probe_fixed(source: RegisterSource, unit: int, name: str, profile: MeterProfile) -> list[ProbeResult]:
    keys = [p for p in profile.points if p.metric in _KEY_RANGES]
    if not keys:
        return []
    results = []
    for order in ByteOrder:
        for shift in (0, -1, 1):
            values = await _key_values(source, keys, unit, order, shift)
            if values is None:
                continue
            good, bad, checked = await _value_evidence(source, profile, unit, order, shift)
            identity = await _identity_evidence(source, profile, unit)
            evidence = msgspec.structs.replace(identity, plausible=good, implausible=bad, checked=checked)
            results.append(
                ProbeResult(
                    profile=name,
                    order=order.value,
                    address_shift=shift,
                    values=values,
                    evidence=evidence,
                    score=score(evidence),
                )
            )
    return results


async def probe_device(source: RegisterSource, unit: int) -> list[ProbeResult]:
    """Try every fixed profile with each byte order and address shift, and SunSpec discovery; best first."""
    results: list[ProbeResult] = []
    for name in profile_names():
        profile = load_profile(name)
        if isinstance(profile, SunSpecProfile):
            results += await _probe_sunspec(source, unit, profile)
        else:
            results += await _probe_fixed(source, unit, name, profile)
    return sorted(results, key=lambda r: (-r.score, r.address_shift != 0, r.profile))


async def _probe_sunspec(source: RegisterSource, unit: int, profile: SunSpecProfile) -> list[ProbeResult]:
    try:
        models = await discover_models(lambda start, count: source.read("holding", start, count, unit))
    except DeviceError:
        return []
    results = []
    for model in models:
        if model.model_id not in profile.profile.models:
            continue
        values = {}
        good = bad = checked = 0
        for point in profile.points_at(model.start):
            value = await _read_point(source, point, unit)
            verdict = None if value is None else plausible(point.metric, value)
            if value is not None and point.metric in _KEY_RANGES:
                values[point.metric] = round(value, 3)
            if verdict is not None:
                checked += 1
                good += verdict
                bad += not verdict
        evidence = Evidence(
            plausible=good, implausible=bad, checked=checked, codes_matched=(f"SunSpec model {model.model_id}",)
        )
        results.append(
            ProbeResult(
                profile=f"sunspec (model {model.model_id} at {model.start})",
                order="ABCD",
                address_shift=0,
                values=values,
                evidence=evidence,
                score=score(evidence),
            )
        )
    return results
