"""What the MQTT source is configured with (``[mqtt]`` and its ``[[mqtt.subscriptions]]``)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from luna_shared.config import Port
from luna_shared.rules import metric_problem

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
    timezone: str | None = None
    """IANA zone (``Europe/Berlin``) of payload times without an offset; Tasmota's ``Time`` is local time.

    Unset, such a time is read as UTC, except one more than a minute later than the receive time (a
    device east of UTC sending local time): that reading gets the receive time, flagged
    ``timestamp_corrected`` (suspect), never a time in the future. Times with an offset and Unix
    timestamps are instants already. In the repeated hour of a DST change the first one is taken.
    """

    def __post_init__(self) -> None:
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                msg = f"subscription {self.topic!r}: unknown timezone {self.timezone!r} (an IANA name: Europe/Berlin)"
                raise ValueError(msg) from exc
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
    """Stable across restarts: the broker keeps the persistent session (QoS 1) under it. ``{instance}`` in it
    becomes the buffer's random id (fixed when data_dir is first used): two agents with their own data dirs
    then never knock each other off the broker."""
    username: str | None = None
    password: str | None = None
    subscriptions: tuple[MqttMapping, ...] = ()
