"""What the MQTT source is configured with (``[mqtt]`` and its ``[[mqtt.subscriptions]]``)."""

from __future__ import annotations

from typing import Literal

import msgspec

from luna_shared.config import Port
from luna_shared.wire import metric_problem

__all__ = ["MqttMapping", "MqttSettings"]


class MqttMapping(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How one topic pattern's payloads become samples (``[[mqtt.subscriptions]]``)."""

    topic: str
    format: Literal["tasmota", "shelly_gen2", "plain", "json"]
    meter: str = "{topic[1]}"
    """Meter id; ``{topic[N]}`` is the N-th level of the topic the message came on."""
    metric: str | None = None
    """Metric of a plain numeric payload."""
    fields: dict[str, str] = msgspec.field(default_factory=dict)
    """Generic JSON: metric -> JSON path (``$.a.b`` or ``a.b``)."""
    timestamp_path: str | None = None
    scale: dict[str, float] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        for metric in (self.metric, *self.fields):
            problem = metric_problem(metric) if metric is not None else None
            if problem is not None:
                msg = f"subscription {self.topic!r}: {problem}"
                raise ValueError(msg)


class MqttSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The MQTT source (``[mqtt]``)."""

    host: str = "127.0.0.1"
    port: Port = 1883
    client_id: str = "luna-agent"
    """Stable across restarts: the broker keeps the persistent session (QoS 1) under it."""
    username: str | None = None
    password: str | None = None
    subscriptions: tuple[MqttMapping, ...] = ()
