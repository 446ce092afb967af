"""The MQTT source: paho-mqtt 2.x, QoS 1, persistent session, acknowledged only once stored.

paho's network thread hands every message to the agent's event loop; the loop maps,
validates and stores it, then acknowledges it (``manual_ack``). A message is therefore
either in the buffer or still held by the broker for this client id: a restart loses
nothing. Payloads that cannot be understood are logged, counted by reason and acknowledged
(redelivering them would not help); nothing is stored for them. That holds for any error
while reading a message, expected or not: an unacknowledged message holds one of the broker's
in-flight slots (Mosquitto: 20), so a few poison messages would otherwise stop every device's
data while the source still looks connected. Only a buffer failure leaves a message
unacknowledged, for the broker to deliver again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from luna_agent.errors import AgentError
from luna_agent.sample import Sample
from luna_agent.sources.mqtt.mappings import MalformedPayload, parse_message, topic_matches
from luna_agent.sources.mqtt.settings import MqttMapping, MqttSettings
from luna_shared.logs import get_logger

__all__ = ["MqttSource", "MqttStats"]

_log = get_logger(__name__)
_QOS = 1


class MqttStats:
    """Counters for ``/status`` and tests."""

    def __init__(self) -> None:
        self.received = 0
        self.stored = 0
        self.malformed = 0
        self.malformed_by_reason: Counter[str] = Counter()
        """Malformed messages by :attr:`MalformedPayload.reason` (``internal_error``: a bug while reading it)."""
        self.unmatched = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()


class MqttSource:
    """Subscribes to the configured topic patterns and feeds samples to ``ingest`` on the event loop."""

    def __init__(self, settings: MqttSettings, ingest: Callable[[Sequence[Sample]], int]) -> None:
        self.settings = settings
        self._ingest = ingest
        self.stats = MqttStats()
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Connect in the background (reconnecting on its own) and subscribe on every connect."""
        from paho.mqtt.client import Client, MQTTv311  # noqa: PLC0415 - only agents with MQTT load paho
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

        self._loop = asyncio.get_running_loop()
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            clean_session=False,
            protocol=MQTTv311,
            manual_ack=True,
        )
        if self.settings.username is not None:
            client.username_pw_set(self.settings.username, self.settings.password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.connect_async(self.settings.host, self.settings.port, keepalive=30)
        client.loop_start()
        self._client = client

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:  # noqa: ANN401
        if reason.is_failure:
            _log.warning(
                "MQTT connection refused", broker=f"{self.settings.host}:{self.settings.port}", reason=str(reason)
            )
            return
        _log.info(
            "MQTT connected", broker=f"{self.settings.host}:{self.settings.port}", client_id=self.settings.client_id
        )
        self.stats.connected.set()
        topics = [(mapping.topic, _QOS) for mapping in self.settings.subscriptions]
        if topics:
            client.subscribe(topics)

    def _on_subscribe(self, *_args: Any) -> None:  # noqa: ANN401
        self.stats.subscribed.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:  # noqa: ANN401
        self.stats.connected.clear()
        if reason.is_failure:
            _log.warning("MQTT connection lost; reconnecting", reason=str(reason))

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:  # noqa: ANN401
        received_at = datetime.now(UTC)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(
                self._handle, message.topic, bytes(message.payload), message.mid, received_at
            )

    def _mapping_for(self, topic: str) -> MqttMapping | None:
        return next((m for m in self.settings.subscriptions if topic_matches(m.topic, topic)), None)

    def _handle(self, topic: str, payload: bytes, mid: int, received_at: datetime) -> None:
        self.stats.received += 1
        mapping = self._mapping_for(topic)
        try:
            if mapping is None:
                self.stats.unmatched += 1
            else:
                self.stats.stored += self._ingest(self._parse(mapping, topic, payload, received_at))
        except MalformedPayload as exc:
            self._malformed(exc.reason, topic, payload, str(exc))
        except AgentError as exc:
            _log.error("MQTT message not stored; the broker will redeliver it", topic=topic, error=str(exc))
            return  # not acknowledged: the broker keeps it for the next session
        except Exception as exc:  # noqa: BLE001 - a bug must not hold the broker's in-flight window
            _log.exception("MQTT message could not be processed; acknowledged, not stored", topic=topic)
            self._malformed("internal_error", topic, payload, f"{type(exc).__name__}: {exc}")
        if self._client is not None:
            self._client.ack(mid, _QOS)

    @staticmethod
    def _parse(mapping: MqttMapping, topic: str, payload: bytes, received_at: datetime) -> list[Sample]:
        try:
            return parse_message(mapping, topic, payload, received_at)
        except MalformedPayload:
            raise
        except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:  # any other parse failure
            raise MalformedPayload(f"{type(exc).__name__}: {exc}", reason="unreadable") from exc

    def _malformed(self, reason: str, topic: str, payload: bytes, error: str) -> None:
        self.stats.malformed += 1
        self.stats.malformed_by_reason[reason] += 1
        _log.warning(
            "malformed MQTT payload, not stored", topic=topic, reason=reason, error=error, payload=payload[:120]
        )

    def stop(self) -> None:
        """Disconnect cleanly (the broker keeps the session and queues QoS 1 messages for us)."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
