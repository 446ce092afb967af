"""Payload mappings: pure functions from one MQTT message to samples (Tasmota, Shelly Gen2, plain, generic JSON).

A payload that cannot be understood at all raises :class:`MalformedPayload` with a short
``reason`` (the source logs, counts and acknowledges it; nothing is stored): not UTF-8 or JSON,
no known field, or a meter id or metric the wire schema would refuse (checked here with
:func:`luna_shared.rules.meter_id_problem`, so one such message never reaches the hub). A value
of the wrong type inside an understood payload becomes a ``bad`` sample with reason
``wrong_type``, so the reading is not lost; a number too large for a float becomes infinity
(validation flags it ``not_a_number``). A time that is no instant (``1e20``, a 400-digit
number, year 0) is replaced by the receive time, flagged ``timestamp_corrected``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

from luna_agent.errors import AgentError
from luna_agent.sample import Sample
from luna_agent.sources.mqtt.settings import MqttMapping
from luna_shared.rules import meter_id_problem, metric_problem
from luna_shared.vocabulary import Flag, Quality, metric_spec
from luna_shared.wire import utc_ms

__all__ = ["MalformedPayload", "meter_id_for", "parse_message", "topic_matches"]

_NAN_LITERAL: Final = re.compile(r":\s*(-?)nan\b", re.IGNORECASE)
_METER_CHARS: Final = re.compile(r"[^A-Za-z0-9._:-]+")
_MAX_SKEW: Final = timedelta(days=1)
_NAIVE_AHEAD: Final = timedelta(minutes=1)
"""A time without offset, read as UTC, may be this much ahead of the receive time (clock drift) and be UTC."""
_PHASES: Final = ("l1", "l2", "l3")

_TASMOTA: Final = {
    "Power": ("power_w", "power_{p}_w"),
    "Voltage": ("voltage_l1_v", "voltage_{p}_v"),
    "Current": ("current_l1_a", "current_{p}_a"),
    "ApparentPower": ("apparent_power_va", "apparent_power_{p}_va"),
    "ReactivePower": ("reactive_power_var", "reactive_power_{p}_var"),
    "Factor": ("power_factor", "power_factor_{p}"),
    "Frequency": ("frequency_hz", None),
    "Total": ("energy_import_kwh", "energy_import_{p}_kwh"),
    "ExportActive": ("energy_export_kwh", "energy_export_{p}_kwh"),
}
_SHELLY: Final = {
    # Pro 3EM status/em:0, triphase profile
    "a_voltage": ("voltage_l1_v", 1.0),
    "b_voltage": ("voltage_l2_v", 1.0),
    "c_voltage": ("voltage_l3_v", 1.0),
    "a_current": ("current_l1_a", 1.0),
    "b_current": ("current_l2_a", 1.0),
    "c_current": ("current_l3_a", 1.0),
    "n_current": ("current_n_a", 1.0),
    "a_act_power": ("power_l1_w", 1.0),
    "b_act_power": ("power_l2_w", 1.0),
    "c_act_power": ("power_l3_w", 1.0),
    "a_aprt_power": ("apparent_power_l1_va", 1.0),
    "b_aprt_power": ("apparent_power_l2_va", 1.0),
    "c_aprt_power": ("apparent_power_l3_va", 1.0),
    "a_pf": ("power_factor_l1", 1.0),
    "b_pf": ("power_factor_l2", 1.0),
    "c_pf": ("power_factor_l3", 1.0),
    "a_freq": ("frequency_hz", 1.0),
    "total_current": ("current_sum_a", 1.0),
    "total_act_power": ("power_w", 1.0),
    "total_aprt_power": ("apparent_power_va", 1.0),
    # Pro 3EM status/emdata:0, counters in Wh
    "total_act": ("energy_import_kwh", 1e-3),
    "total_act_ret": ("energy_export_kwh", 1e-3),
    "a_total_act_energy": ("energy_import_l1_kwh", 1e-3),
    "b_total_act_energy": ("energy_import_l2_kwh", 1e-3),
    "c_total_act_energy": ("energy_import_l3_kwh", 1e-3),
    "a_total_act_ret_energy": ("energy_export_l1_kwh", 1e-3),
    "b_total_act_ret_energy": ("energy_export_l2_kwh", 1e-3),
    "c_total_act_ret_energy": ("energy_export_l3_kwh", 1e-3),
    # Plus/Mini switch and em1 components
    "apower": ("power_w", 1.0),
    "act_power": ("power_w", 1.0),
    "aprt_power": ("apparent_power_va", 1.0),
    "voltage": ("voltage_l1_v", 1.0),
    "current": ("current_l1_a", 1.0),
    "freq": ("frequency_hz", 1.0),
    "pf": ("power_factor", 1.0),
    "aenergy.total": ("energy_import_kwh", 1e-3),
    "ret_aenergy.total": ("energy_export_kwh", 1e-3),
}


class MalformedPayload(AgentError):  # noqa: N818 - names the condition, like the other source errors
    """The payload cannot be understood (invalid JSON, no known fields, an invalid meter id); ``reason`` names which."""

    def __init__(self, message: str, *, reason: str = "unreadable") -> None:
        super().__init__(message)
        self.reason = reason


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT wildcard match (``+`` one level, ``#`` the rest)."""
    pattern_levels, topic_levels = pattern.split("/"), topic.split("/")
    for index, level in enumerate(pattern_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or (level not in {"+", topic_levels[index]}):
            return False
    return len(pattern_levels) == len(topic_levels)


def meter_id_for(template: str, topic: str) -> str:
    """Fill ``{topic[N]}`` from the topic's levels; characters a meter id may not hold become ``_``."""
    levels = topic.split("/")
    try:
        raw = template.format(topic=levels)
    except (IndexError, KeyError, ValueError) as exc:
        raise MalformedPayload(
            f"meter template {template!r} does not fit topic {topic!r}", reason="invalid_meter_id"
        ) from exc
    cleaned = _METER_CHARS.sub("_", raw).strip("_") or "unknown"
    return cleaned[:128]


def _load_json(payload: bytes) -> Any:  # noqa: ANN401 - JSON is any
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"not UTF-8: {exc}", reason="not_json") from exc
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise MalformedPayload("JSON nested too deeply", reason="not_json") from exc
    except json.JSONDecodeError as exc:
        # Tasmota prints a failed sensor value as bare ``nan``: keep the rest, the value is flagged.
        if _NAN_LITERAL.search(text):
            try:
                return json.loads(_NAN_LITERAL.sub(r":\1NaN", text))
            except json.JSONDecodeError:
                pass
        raise MalformedPayload(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", reason="not_json"
        ) from exc
    except ValueError as exc:  # an integer beyond Python's digit limit (sys.get_int_max_str_digits)
        raise MalformedPayload(f"not readable JSON: {exc}", reason="not_json") from exc


def _path(document: Any, path: str) -> Any:  # noqa: ANN401
    node = document
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _parse_time(value: Any, received_at: datetime, zone: tzinfo | None = None) -> tuple[datetime, bool]:  # noqa: ANN401
    """Return the payload's time, or the receive time; ``True`` when corrected.

    A time without an offset is in ``zone``; without a zone it is UTC unless that puts it more
    than a minute after the receive time (local time east of UTC), then the receive time is used.
    """
    moment: datetime | None = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                return received_at, True
            moment = datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)  # noqa: PLR2004 - ms vs s
        elif isinstance(value, str) and value:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone or UTC)
                if zone is None and moment - received_at > _NAIVE_AHEAD:
                    return received_at, True
        if moment is None:
            return received_at, False
        if abs(moment - received_at) > _MAX_SKEW:  # device clock not set (1970) or far off
            return received_at, True
        return utc_ms(moment), False
    except (ValueError, OverflowError, OSError):  # no instant: 1e20 s, a 400-digit number, year 0, "soon"
        return received_at, True


def _to_float(raw: float) -> float:
    """``float(raw)``; an integer too large for a float is infinity (a float is at most ~1.8e308)."""
    try:
        return float(raw)
    except OverflowError:
        return math.inf if raw > 0 else -math.inf


def _sample(meter: str, metric: str, raw: Any, ts: datetime, *, scale: float, corrected: bool) -> Sample:  # noqa: ANN401, PLR0913
    spec = metric_spec(metric)
    unit = spec.unit.value if spec else ""
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            raw = None if raw.strip() else raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        sample = Sample(
            meter_id=meter,
            metric=metric,
            ts=ts,
            value=None,
            unit=unit,
            quality=Quality.BAD,
            reasons=(Flag.WRONG_TYPE.value,),
        )
    else:
        sample = Sample(meter_id=meter, metric=metric, ts=ts, value=_to_float(raw) * scale, unit=unit)
    return sample.flagged(Quality.SUSPECT, Flag.TIMESTAMP_CORRECTED) if corrected else sample


def _tasmota(document: Any) -> Iterator[tuple[str, Any]]:  # noqa: ANN401
    energy = _path(document, "ENERGY") or _path(document, "StatusSNS.ENERGY")
    if not isinstance(energy, Mapping):
        raise MalformedPayload("no ENERGY object", reason="no_known_field")
    for key, (total_metric, phase_metric) in _TASMOTA.items():
        if key not in energy:
            continue
        value = energy[key]
        if isinstance(value, Mapping):  # {"Phase1": ..} on some multi-phase firmware
            value = list(value.values())
        if isinstance(value, list):
            if phase_metric is None:
                yield total_metric, value[0] if value else None
                continue
            for phase, item in zip(_PHASES, value, strict=False):
                yield phase_metric.format(p=phase), item
        else:
            yield total_metric, value


def _shelly(document: Any) -> Iterator[tuple[str, Any, float]]:  # noqa: ANN401
    if isinstance(document, Mapping) and document.get("method") == "NotifyStatus":
        params = document.get("params", {})
        for component, status in params.items():
            if component != "ts" and isinstance(status, Mapping):
                yield from _shelly(status)
        return
    if not isinstance(document, Mapping):
        raise MalformedPayload("not a JSON object", reason="no_known_field")
    for key, (metric, scale) in _SHELLY.items():
        value = _path(document, key)
        if value is not None:
            yield metric, value, scale


def parse_message(mapping: MqttMapping, topic: str, payload: bytes, received_at: datetime) -> list[Sample]:
    """Turn one message into samples; raise :class:`MalformedPayload` when nothing can be read from it."""
    meter = meter_id_for(mapping.meter, topic)
    problem = meter_id_problem(meter)
    if problem is not None:
        raise MalformedPayload(f"topic {topic!r} gives {problem}", reason="invalid_meter_id")
    received_at = utc_ms(received_at)
    if mapping.format == "plain":
        if mapping.metric is None:
            raise MalformedPayload("a plain mapping needs 'metric'", reason="no_known_field")
        text = payload.decode("utf-8", errors="replace").strip()
        return [
            _sample(
                meter, mapping.metric, text, received_at, scale=mapping.scale.get(mapping.metric, 1.0), corrected=False
            )
        ]
    document = _load_json(payload)
    pairs: list[tuple[str, Any, float]]
    if mapping.format == "tasmota":
        time_value = _path(document, "Time") or _path(document, "StatusSNS.Time")
        pairs = [(metric, value, 1.0) for metric, value in _tasmota(document)]
    elif mapping.format == "shelly_gen2":
        time_value = _path(document, "params.ts")
        pairs = list(_shelly(document))
    else:
        time_value = _path(document, mapping.timestamp_path) if mapping.timestamp_path else None
        pairs = [(metric, _path(document, path), 1.0) for metric, path in mapping.fields.items()]
        pairs = [pair for pair in pairs if pair[1] is not None]
    if not pairs:
        raise MalformedPayload("no known field in the payload", reason="no_known_field")
    for metric, _, _ in pairs:
        problem = metric_problem(metric)
        if problem is not None:
            raise MalformedPayload(problem, reason="invalid_metric")
    ts, corrected = _parse_time(time_value, received_at, ZoneInfo(mapping.timezone) if mapping.timezone else None)
    return [
        _sample(meter, metric, value, ts, scale=scale * mapping.scale.get(metric, 1.0), corrected=corrected)
        for metric, value, scale in pairs
    ]
