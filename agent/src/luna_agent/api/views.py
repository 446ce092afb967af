"""What the status API reports: the views of ``GET /status``, built from the running agent (also for the site page)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from luna_agent import __version__
from luna_agent.runtime import Agent
from luna_agent.sync import SyncProgress
from luna_shared.wire import DeviceState

__all__ = [
    "AgentHealth",
    "AgentStatusView",
    "BufferView",
    "DeviceView",
    "MqttView",
    "QuarantineView",
    "SyncView",
    "status_view",
]


class AgentHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The agent process is up; who it is."""

    status: str
    agent_id: str
    site_id: str
    version: str


class DeviceView(msgspec.Struct, frozen=True, kw_only=True):
    """One device's health as the operator sees it."""

    device_id: str
    state: DeviceState
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    polls: int
    errors: int
    consecutive_failures: int
    missed_runs: int
    skipped_backoff: int
    poll_latency_s: float | None
    readings: int


class BufferView(msgspec.Struct, frozen=True, kw_only=True):
    """Backlog of the durable buffer."""

    depth: int
    rows: int
    bytes: int
    oldest_unsynced_at: datetime | None
    oldest_unsynced_age_s: float | None
    next_seq: int
    dropped_synced: int
    dropped_unsynced: int
    quarantined: int = 0
    """Readings the hub refused on their own, set aside (``quarantine`` lists the latest)."""


class QuarantineView(msgspec.Struct, frozen=True, kw_only=True):
    """A reading the hub refused on its own: out of the queue, kept with the hub's reason."""

    seq: int
    meter_id: str
    metric: str
    ts: datetime
    value: float | None
    reason: str
    quarantined_at: datetime
    reported: bool
    """Whether the hub has been told, so it counts the seq as quarantined rather than missing."""


class MqttView(msgspec.Struct, frozen=True, kw_only=True):
    """The MQTT source's counters."""

    connected: bool
    received: int
    stored: int
    malformed: int
    unmatched: int
    malformed_by_reason: dict[str, int] = msgspec.field(default_factory=dict)
    """Malformed messages by reason: not_json, no_known_field, invalid_meter_id, invalid_metric, unreadable, ..."""


class SyncView(SyncProgress, frozen=True, kw_only=True):
    """Forwarding to the hub: the uploader's state plus the buffer's backlog and its age."""

    hub_url: str | None
    backlog: int
    oldest_unsynced_age_s: float | None


class AgentStatusView(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /status``: devices, buffer, sync."""

    agent_id: str
    site_id: str
    version: str
    started_at: datetime
    devices: list[DeviceView]
    buffer: BufferView
    last_sync_at: datetime | None
    sync: SyncView
    mqtt: MqttView | None = None
    quarantine: list[QuarantineView] = msgspec.field(default_factory=list)
    """The latest quarantined readings (up to 20), newest first."""


_QUARANTINE_SHOWN = 20


def status_view(agent: Agent) -> AgentStatusView:
    """Return what ``GET /status`` reports (and the site page shows) about ``agent`` now."""
    stats = agent.buffer.stats()
    now = datetime.now(UTC)
    devices = [
        DeviceView(
            device_id=device.id,
            state=device.health.state,
            last_ok_at=device.health.last_ok_at,
            last_error=device.health.last_error,
            last_error_at=device.health.last_error_at,
            polls=device.health.polls,
            errors=device.health.errors,
            consecutive_failures=device.health.consecutive_failures,
            missed_runs=device.health.missed_runs,
            skipped_backoff=device.health.skipped_backoff,
            poll_latency_s=device.health.last_latency_s,
            readings=device.health.readings,
        )
        for device in agent.devices.values()
    ]
    oldest = stats.oldest_unsynced_at
    oldest_age_s = (now - oldest).total_seconds() if oldest else None
    return AgentStatusView(
        agent_id=agent.settings.agent_id,
        site_id=agent.settings.site_id,
        version=__version__,
        started_at=agent.started_at,
        devices=devices,
        buffer=BufferView(
            depth=stats.depth,
            rows=stats.rows,
            bytes=stats.bytes,
            oldest_unsynced_at=oldest,
            oldest_unsynced_age_s=oldest_age_s,
            next_seq=stats.next_seq,
            dropped_synced=stats.dropped_synced,
            dropped_unsynced=stats.dropped_unsynced,
            quarantined=stats.quarantined,
        ),
        last_sync_at=agent.last_sync_at,
        sync=_sync_view(agent, stats.depth, oldest_age_s),
        mqtt=_mqtt_view(agent),
        quarantine=[
            QuarantineView(
                seq=q.reading.seq,
                meter_id=q.reading.meter_id,
                metric=q.reading.metric,
                ts=q.reading.ts,
                value=q.reading.value,
                reason=q.reason,
                quarantined_at=q.quarantined_at,
                reported=q.reported,
            )
            for q in (agent.buffer.quarantined(_QUARANTINE_SHOWN) if stats.quarantined else ())
        ],
    )


def _sync_view(agent: Agent, backlog: int, oldest_age_s: float | None) -> SyncView:
    uploader = agent.uploader
    progress = uploader.progress() if uploader is not None else SyncProgress.disabled()
    return SyncView(
        hub_url=uploader.settings.hub_url if uploader is not None else None,
        backlog=backlog,
        oldest_unsynced_age_s=oldest_age_s,
        **msgspec.structs.asdict(progress),
    )


def _mqtt_view(agent: Agent) -> MqttView | None:
    if agent.mqtt is None:
        return None
    stats = agent.mqtt.stats
    return MqttView(
        connected=stats.connected.is_set(),
        received=stats.received,
        stored=stats.stored,
        malformed=stats.malformed,
        unmatched=stats.unmatched,
        malformed_by_reason=dict(stats.malformed_by_reason),
    )
