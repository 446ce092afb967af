"""The running agent: sources -> validation -> buffer -> sync, scheduled with APScheduler, observed by the status API.

Each device is one APScheduler job on an interval aligned to wall-clock boundaries
(a 10 s device polls at :00, :10, ...), with ``max_instances=1`` so one device never
overlaps itself and ``coalesce`` so a late scheduler runs a missed poll once; missed and
overlapping runs are counted per device. The uploader (when ``[sync]`` is set) is one asyncio
task on the same loop as the buffer's writers; on stop it finishes the batch in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

from luna_agent.buffer import ReadingBuffer
from luna_agent.metrics import AgentMetrics
from luna_agent.sample import Sample
from luna_agent.settings import AgentSettings
from luna_agent.simulators.modbus_meter import MeterSimulator
from luna_agent.sources.modbus.coordinator import ModbusDevice
from luna_agent.sync import Uploader
from luna_agent.validation import Pipeline
from luna_shared.logs import correlation, get_logger
from luna_shared.wire import DeviceStatus, utc_ms

__all__ = ["Agent"]

_log = get_logger(__name__)


def aligned_start(interval_s: float, now: float | None = None) -> datetime:
    """Return the last wall-clock boundary that is a multiple of ``interval_s`` (the trigger's first fire time)."""
    now = time.time() if now is None else now
    return datetime.fromtimestamp(math.floor(now / interval_s) * interval_s, UTC)


class Agent:
    """Owns the buffer, the pipeline, the device coordinators, the simulators, the scheduler and the uploader."""

    def __init__(self, settings: AgentSettings, *, hub_transport: httpx.AsyncBaseTransport | None = None) -> None:
        """Open the buffer and, with ``[sync]``, the uploader (an empty or unreadable key file raises here).

        ``hub_transport`` replaces the uploader's HTTP transport (tests).
        """
        self.settings = settings
        self.started_at = datetime.now(UTC)
        self.buffer = ReadingBuffer.from_settings(settings.buffer, Path(settings.data_dir))
        self.pipeline = Pipeline(settings.validation, meter_ranges={d.id: d.ranges for d in settings.devices})
        self.devices: dict[str, ModbusDevice] = {}
        self.simulators: dict[str, MeterSimulator] = {}
        self.latest: dict[tuple[str, str], Sample] = {}
        self.metrics = AgentMetrics()
        self._scheduler: Any = None
        self.mqtt: Any = None
        self.plugs: list[Any] = []
        self._polls: set[asyncio.Task[Any]] = set()
        self.uploader = (
            Uploader(
                settings.sync,
                self.buffer,
                agent_id=settings.agent_id,
                site_id=settings.site_id,
                transport=hub_transport,
                metrics=self.metrics,
                describe=self.describe,
            )
            if settings.sync is not None
            else None
        )
        self._sync_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the simulators, then one scheduled job per device."""
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED  # noqa: PLC0415 - import on start
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: PLC0415
        from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

        for sim in self.settings.simulators:
            simulator = MeterSimulator(sim.profile, host=sim.host, port=sim.port, unit=sim.unit)
            self.simulators[sim.name] = await simulator.start()
            _log.info("simulator serving", name=sim.name, profile=sim.profile, port=simulator.port)
        for config in self.settings.devices:
            port = self.simulators[config.simulator].port if config.simulator else None
            self.devices[config.id] = ModbusDevice(config, port=port)
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        for config in self.settings.devices:
            self._scheduler.add_job(
                self.poll_device,
                IntervalTrigger(seconds=config.interval_s, start_date=aligned_start(config.interval_s), timezone=UTC),
                args=[config.id],
                id=config.id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(config.interval_s)),
                next_run_time=datetime.now(UTC),  # first poll now: readiness is known at once
            )
        self._scheduler.start()
        if self.settings.mqtt is not None:
            from luna_agent.simulators.tasmota_plug import TasmotaPlugSimulator  # noqa: PLC0415 - paho only when configured
            from luna_agent.sources.mqtt import MqttSource  # noqa: PLC0415

            mqtt = self.settings.mqtt
            if "{instance}" in mqtt.client_id:  # stable per data dir (the buffer's id), unlike a pid
                client_id = mqtt.client_id.replace("{instance}", self.buffer.instance_id)
                mqtt = msgspec.structs.replace(mqtt, client_id=client_id)
            self.mqtt = MqttSource(mqtt, self.ingest)
            self.mqtt.start()
            broker = self.settings.mqtt
            for plug in self.settings.plug_simulators:
                plug_simulator = TasmotaPlugSimulator(
                    plug.name, host=broker.host, port=broker.port, interval_s=plug.interval_s
                )
                self.plugs.append(plug_simulator.start())
        if self.uploader is not None:
            self._sync_task = asyncio.create_task(self.uploader.run(), name="luna-agent-sync")
        _log.info(
            "agent started",
            devices=len(self.devices),
            buffer=str(self.buffer.path),
            hub=self.settings.sync.hub_url if self.settings.sync else None,
        )

    @property
    def last_sync_at(self) -> datetime | None:
        """When the hub last acknowledged a batch."""
        return self.uploader.last_ack_at if self.uploader is not None else None

    def describe(self) -> tuple[bool, tuple[DeviceStatus, ...]]:
        """Whether the clock is trusted and each device's health, for the agent's status report to the hub."""
        return self.pipeline.clock_trusted, tuple(
            DeviceStatus(
                device_id=device.id,
                state=device.health.state,
                last_ok_at=utc_ms(device.health.last_ok_at) if device.health.last_ok_at else None,
                error=device.health.last_error,
            )
            for device in self.devices.values()
        )

    def _on_missed(self, event: Any) -> None:  # noqa: ANN401 - APScheduler's event classes are untyped
        device = self.devices.get(event.job_id)
        if device is not None:
            device.health.missed_runs += 1
            self.metrics.missed_runs.labels(device=device.id).inc()

    async def poll_device(self, device_id: str) -> int:
        """Poll one device and push its samples through validation into the buffer; return how many were stored."""
        device = self.devices[device_id]
        task = asyncio.current_task()
        if task is not None:
            self._polls.add(task)
        try:
            with correlation("poll_id"):
                samples = await device.poll()
                self.metrics.observe_poll(device)
                return self.ingest(samples, rollover_at=device.rollover_at)
        finally:
            self._polls.discard(task)

    def ingest(self, samples: Sequence[Sample], *, rollover_at: dict[str, float] | None = None) -> int:
        """Validate and store samples from any source; the one path into the buffer."""
        if not samples:
            return 0
        checked = self.pipeline.check(samples, rollover_at)
        self.buffer.append(checked.samples)
        for event in checked.events:
            _log.warning(
                "counter event",
                kind=event.kind,
                meter=event.meter_id,
                metric=event.metric,
                previous=event.previous,
                value=event.value,
            )
            self.buffer.add_event(
                event.ts, event.meter_id, event.metric, event.kind, {"previous": event.previous, "value": event.value}
            )
        for sample in checked.samples:
            self.latest[sample.meter_id, sample.metric] = sample
            self.metrics.readings.labels(quality=sample.quality.value).inc()
        self.metrics.observe_buffer(self.buffer.stats())
        return len(checked.samples)

    async def stop(self) -> None:
        """Stop polling and uploading (the batch in flight finishes or times out), close connections and the buffer."""
        for plug in self.plugs:
            plug.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._polls:  # a poll in flight finishes (or times out) before its connection is closed
            grace = max((d.timeout_s * (d.retries + 1) for d in self.settings.devices), default=1.0) + 1.0
            await asyncio.wait(set(self._polls), timeout=grace)
        if self.uploader is not None:
            self.uploader.stop()
            if self._sync_task is not None:
                await self._finish_sync(self._sync_task, self.uploader.settings.timeout_s + 1.0)
            await self.uploader.aclose()
        for device in self.devices.values():
            device.close()
        for simulator in self.simulators.values():
            await simulator.stop()
        self.buffer.close()
        _log.info("agent stopped")

    @staticmethod
    async def _finish_sync(task: asyncio.Task[None], grace_s: float) -> None:
        """Let the uploader finish its batch; cancel it past ``grace_s`` (an unacked batch is simply sent again)."""
        done, _ = await asyncio.wait({task}, timeout=grace_s)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
