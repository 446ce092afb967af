"""Prometheus metrics of one agent, in their own registry (tests create many agents in one process)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

if TYPE_CHECKING:
    from luna_agent.buffer import BufferStats
    from luna_agent.sources.modbus.coordinator import ModbusDevice
    from luna_agent.sources.mqtt.client import MqttStats
    from luna_agent.sync.state import SyncProgress

__all__ = ["AgentMetrics"]


class AgentMetrics:
    """Polls, errors, readings by quality, buffer depth and drops, sync backlog and batches."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter("luna_agent_polls", "Device polls attempted", ["device"], registry=self.registry)
        self.poll_errors = Counter(
            "luna_agent_poll_errors", "Device polls that failed", ["device"], registry=self.registry
        )
        self.missed_runs = Counter(
            "luna_agent_missed_runs", "Scheduled polls missed or skipped (overlap)", ["device"], registry=self.registry
        )
        self.readings = Counter(
            "luna_agent_readings", "Readings stored, by quality", ["quality"], registry=self.registry
        )
        self.device_up = Gauge(
            "luna_agent_device_up", "1 if the device answered its last poll", ["device"], registry=self.registry
        )
        self.poll_latency = Gauge(
            "luna_agent_poll_latency_seconds", "Duration of the last good poll", ["device"], registry=self.registry
        )
        self.buffer_depth = Gauge(
            "luna_agent_buffer_depth", "Readings not yet acknowledged by the hub", registry=self.registry
        )
        self.buffer_bytes = Gauge("luna_agent_buffer_bytes", "Bytes used by the buffer", registry=self.registry)
        self.buffer_dropped = Gauge(
            "luna_agent_buffer_dropped", "Readings dropped by the overflow policy", ["kind"], registry=self.registry
        )
        self.buffer_quarantined = Gauge(
            "luna_agent_buffer_quarantined",
            "Readings the hub refused on their own, set aside out of the queue (see /status quarantine)",
            registry=self.registry,
        )
        self.mqtt_messages = Gauge(
            "luna_agent_mqtt_messages", "MQTT messages by outcome", ["outcome"], registry=self.registry
        )
        self.mqtt_malformed = Gauge(
            "luna_agent_mqtt_malformed",
            "Malformed MQTT messages (acknowledged, not stored) by reason",
            ["reason"],
            registry=self.registry,
        )
        self.sync_backlog = Gauge(
            "luna_agent_sync_backlog", "Readings waiting for the hub's acknowledgement", registry=self.registry
        )
        self.sync_oldest_unsynced_age = Gauge(
            "luna_agent_sync_oldest_unsynced_age_seconds",
            "Age of the oldest reading not yet acknowledged (0 when none)",
            registry=self.registry,
        )
        self.sync_readings_sent = Counter(
            "luna_agent_sync_readings_sent", "Readings acknowledged by the hub", registry=self.registry
        )
        self.sync_batches = Counter(
            "luna_agent_sync_batches",
            "Batch attempts by result: acked, network, server_error, rejected, too_large, unsupported_encoding, "
            "storage_error, split (refused as malformed: split to find the reading), quarantined (a single reading "
            "refused: set aside)",
            ["result"],
            registry=self.registry,
        )
        self.sync_last_ack = Gauge(
            "luna_agent_sync_last_ack_timestamp_seconds",
            "Unix time of the last acknowledgement (0 before the first)",
            registry=self.registry,
        )
        self._errors_seen: dict[str, int] = {}

    def observe_poll(self, device: ModbusDevice) -> None:
        """Update the device's series after a poll."""
        health = device.health
        self.polls.labels(device=device.id).inc()
        new_errors = health.errors - self._errors_seen.get(device.id, 0)
        if new_errors:
            self.poll_errors.labels(device=device.id).inc(new_errors)
        self._errors_seen[device.id] = health.errors
        self.device_up.labels(device=device.id).set(1 if health.state == "up" else 0)
        if health.last_latency_s is not None:
            self.poll_latency.labels(device=device.id).set(health.last_latency_s)

    def observe_buffer(self, stats: BufferStats) -> None:
        """Update the buffer's series."""
        self.buffer_depth.set(stats.depth)
        self.buffer_bytes.set(stats.bytes)
        self.buffer_dropped.labels(kind="synced").set(stats.dropped_synced)
        self.buffer_dropped.labels(kind="unsynced").set(stats.dropped_unsynced)
        self.buffer_quarantined.set(stats.quarantined)

    def observe_sync(self, stats: BufferStats, progress: SyncProgress | None) -> None:
        """Update the sync series: backlog and its age from the buffer's stats, last ack from the uploader."""
        self.sync_backlog.set(stats.depth)
        oldest = stats.oldest_unsynced_at
        self.sync_oldest_unsynced_age.set(max(0.0, time.time() - oldest.timestamp()) if oldest else 0.0)
        if progress is not None and progress.last_ack_at is not None:
            self.sync_last_ack.set(progress.last_ack_at.timestamp())

    def count_batch(self, result: str, readings: int = 0) -> None:
        """Count one batch attempt of the uploader by result, and the readings it got acknowledged."""
        self.sync_batches.labels(result=result).inc()
        if readings:
            self.sync_readings_sent.inc(readings)

    def observe_mqtt(self, stats: MqttStats) -> None:
        """Update the MQTT source's series (received, stored readings, malformed, unmatched)."""
        for outcome in ("received", "stored", "malformed", "unmatched"):
            self.mqtt_messages.labels(outcome=outcome).set(getattr(stats, outcome))
        for reason, count in stats.malformed_by_reason.items():
            self.mqtt_malformed.labels(reason=reason).set(count)

    def render(self) -> bytes:
        """Render the text exposition format."""
        return generate_latest(self.registry)
