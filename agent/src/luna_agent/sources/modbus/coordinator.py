"""One coordinator per Modbus device (Home Assistant's update coordinator, for meters).

The coordinator owns the device's connection and read plan and turns one poll into
samples. It never raises: a failure marks the device down (or not ready if it never
answered), is logged once when it starts and once on recovery, and delays the next
attempt with exponential back-off and jitter.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from luna_agent.errors import AgentError, DeviceError
from luna_agent.sample import Sample
from luna_agent.sources.modbus.codec import DataType
from luna_agent.sources.modbus.points import PointSpec
from luna_agent.sources.modbus.profiles import MeterProfile, SunSpecProfile, load_profile
from luna_agent.sources.modbus.reader import BlockReader, RegisterSource
from luna_agent.sources.modbus.settings import ModbusDeviceSettings
from luna_agent.sources.modbus.sunspec import discover_models
from luna_agent.sources.modbus.transport import ModbusTransport
from luna_shared.logs import get_logger
from luna_shared.vocabulary import MetricKind, Quality, metric_spec
from luna_shared.wire import DeviceState, utc_ms

__all__ = ["DeviceHealth", "ModbusDevice"]

_log = get_logger(__name__)
_UNSIGNED = {DataType.UINT16, DataType.UINT32, DataType.UINT64}
_BACKOFF_BASE_S = 1.0


@dataclass
class DeviceHealth:
    """What ``/status`` and ``/metrics`` report about one device."""

    state: DeviceState = DeviceState.NOT_READY
    last_ok_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    polls: int = 0
    errors: int = 0
    consecutive_failures: int = 0
    skipped_backoff: int = 0
    missed_runs: int = 0
    last_latency_s: float | None = None
    readings: int = 0


class ModbusDevice:
    """Polls one device; see the module docstring."""

    def __init__(
        self,
        settings: ModbusDeviceSettings,
        *,
        port: int | None = None,
        rng: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.id = settings.id
        self.health = DeviceHealth()
        self._rng = rng
        self._monotonic = monotonic
        self._retry_at = 0.0
        self.transport: RegisterSource = ModbusTransport(
            host=settings.host or "127.0.0.1",
            port=settings.port if port is None else port,
            serial_port=settings.serial_port,
            baudrate=settings.baudrate,
            framing=settings.framing,
            timeout=settings.timeout_s,
            retries=settings.retries,
        )
        self._profile = load_profile(settings.profile) if settings.profile else None
        self._reader: BlockReader | None = None
        self.rollover_at: dict[str, float] = {}
        self._units: dict[int, str] = {}

    def _max_registers(self) -> int:
        if self.settings.max_registers is not None:
            return self.settings.max_registers
        return self._profile.profile.max_registers if self._profile else 125

    async def _build_reader(self) -> BlockReader:
        points: list[PointSpec] = list(self.settings.points)
        if isinstance(self._profile, MeterProfile):
            wanted = set(self.settings.metrics)
            points += [p for p in self._profile.points if not wanted or p.metric in wanted]
        elif isinstance(self._profile, SunSpecProfile):
            points += await self._discover(self._profile)
        self.rollover_at = {
            p.metric: float(2 ** (16 * p.count)) * p.scale
            for p in points
            if p.data_type in _UNSIGNED and (spec := metric_spec(p.metric)) and spec.kind is MetricKind.COUNTER
        }
        self._units = {id(p): p.resolved_unit for p in points}
        return BlockReader(
            points, device_id=self.settings.unit, max_registers=self._max_registers(), max_gap=self.settings.max_gap
        )

    async def _discover(self, profile: SunSpecProfile) -> list[PointSpec]:
        unit = self.settings.unit
        models = await discover_models(lambda start, count: self.transport.read("holding", start, count, unit))
        wanted = set(self.settings.metrics)
        for model in models:
            if model.model_id in profile.profile.models:
                _log.info("SunSpec meter found", device=self.id, model=model.model_id, address=model.start)
                return [p for p in profile.points_at(model.start) if not wanted or p.metric in wanted]
        msg = f"no SunSpec meter model {list(profile.profile.models)} found (models: {[m.model_id for m in models]})"
        raise DeviceError(msg)

    async def poll(self) -> list[Sample]:
        """Read the device once; return its samples, or ``[]`` when it failed or is backing off."""
        if self._monotonic() < self._retry_at:
            self.health.skipped_backoff += 1
            return []
        started = self._monotonic()
        ts = utc_ms(datetime.now(UTC))
        self.health.polls += 1
        try:
            if self._reader is None:
                self._reader = await self._build_reader()
            decoded = await self._reader.read(self.transport)
            if not decoded:
                raise DeviceError("no point could be read (every register rejected)")
        except AgentError as exc:  # DeviceError, DecodeError: the device is not usable now
            self._failed(str(exc))
            return []
        self._succeeded(self._monotonic() - started, ts)
        samples = []
        units = self._units
        for point, (value, flag) in decoded:
            sample = Sample(meter_id=self.id, metric=point.metric, ts=ts, value=value, unit=units[id(point)])
            samples.append(sample if flag is None else sample.flagged(Quality.BAD, flag, clear=True))
        self.health.readings += len(samples)
        return samples

    def _succeeded(self, latency: float, at: datetime) -> None:
        health = self.health
        if health.state is DeviceState.UP:
            pass  # the common case first: nothing to log
        elif health.state is DeviceState.DOWN:
            _log.info("device recovered", device=self.id, after_failures=health.consecutive_failures)
        else:
            _log.info("device ready", device=self.id, latency_s=round(latency, 4))
        health.state = DeviceState.UP
        health.consecutive_failures = 0
        health.last_ok_at = at
        health.last_latency_s = latency
        self._retry_at = 0.0

    def _failed(self, error: str) -> None:
        health = self.health
        health.errors += 1
        health.consecutive_failures += 1
        health.last_error = error
        health.last_error_at = utc_ms(datetime.now(UTC))
        if health.state is DeviceState.UP:
            health.state = DeviceState.DOWN
            _log.warning("device down", device=self.id, error=error)
        elif health.consecutive_failures == 1:
            _log.warning("device not ready", device=self.id, error=error)
        self._close_connection()
        delay = min(self.settings.backoff_max_s, _BACKOFF_BASE_S * 2 ** (health.consecutive_failures - 1))
        self._retry_at = self._monotonic() + delay * (0.5 + self._rng())

    def _close_connection(self) -> None:
        if isinstance(self.transport, ModbusTransport):
            self.transport.close()

    def close(self) -> None:
        """Release the connection."""
        self._close_connection()
