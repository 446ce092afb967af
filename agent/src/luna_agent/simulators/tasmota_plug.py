"""A simulated Tasmota smart plug: ``tele/<name>/SENSOR`` ENERGY telemetry published over MQTT.

The payload has the shape real Tasmota firmware sends (see the captured messages in
``tests/agent/fixtures/mqtt/tasmota_energy.jsonl``): ``Time`` in UTC without an offset (a
plug with ``Timezone 0``), then ``ENERGY`` with Total/Yesterday/Today in kWh, Power in W,
Voltage, Current, Factor. The load is a fridge: a compressor cycling on and off. For the demo.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from luna_shared.logs import get_logger

__all__ = ["TasmotaPlugSimulator", "tasmota_energy_payload"]

_log = get_logger(__name__)
_CYCLE_S = 120.0
"""One compressor cycle: on for the first 40 %, off for the rest."""


def tasmota_energy_payload(elapsed_s: float, total_kwh: float, today_kwh: float, now: datetime) -> dict[str, Any]:
    """Build the ENERGY telemetry of the simulated fridge ``elapsed_s`` into the simulation."""
    running = (elapsed_s % _CYCLE_S) < 0.4 * _CYCLE_S
    power = 92.0 + 6.0 * math.sin(elapsed_s / 9) if running else 1.2
    voltage = 230.0 + 1.5 * math.sin(elapsed_s / 13)
    factor = 0.82 if running else 0.31
    apparent = power / factor
    return {
        "Time": now.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat(),
        "ENERGY": {
            "TotalStartTime": "2026-01-01T00:00:00",
            "Total": round(total_kwh, 3),
            "Yesterday": 0.734,
            "Today": round(today_kwh, 3),
            "Period": 0,
            "Power": round(power),
            "ApparentPower": round(apparent),
            "ReactivePower": round(math.sqrt(max(apparent**2 - power**2, 0.0))),
            "Factor": factor,
            "Voltage": round(voltage),
            "Current": round(apparent / voltage, 3),
        },
    }


class TasmotaPlugSimulator:
    """Publishes one plug's telemetry every ``interval_s`` to the broker at ``host:port``."""

    def __init__(self, name: str, *, host: str, port: int, interval_s: float) -> None:
        self.name = name
        self.topic = f"tele/{name}/SENSOR"
        self.host = host
        self.port = port
        self.interval_s = interval_s
        self.published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None

    def start(self) -> TasmotaPlugSimulator:
        """Connect in the background (reconnecting on its own) and start publishing."""
        from paho.mqtt.client import Client, MQTTv311  # noqa: PLC0415 - only agents with MQTT load paho
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

        # clean session, nothing to keep: the pid keeps two demo agents' plugs from taking each other's place
        client_id = f"luna-sim-{self.name}-{os.getpid()}"
        client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTv311)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        self._client = client
        self._thread = threading.Thread(target=self._publish_loop, name=f"plug-{self.name}", daemon=True)
        self._thread.start()
        _log.info("plug simulator publishing", topic=self.topic, broker=f"{self.host}:{self.port}")
        return self

    def _publish_loop(self) -> None:
        started = last = time.monotonic()
        total_kwh, today_kwh = 52.317, 0.0
        while not self._stop.wait(self.interval_s):
            now = time.monotonic()
            payload = tasmota_energy_payload(now - started, total_kwh, today_kwh, datetime.now(UTC))
            energy = payload["ENERGY"]["Power"] / 1000 * (now - last) / 3600
            total_kwh, today_kwh, last = total_kwh + energy, today_kwh + energy, now
            if self._client.is_connected():
                self._client.publish(self.topic, json.dumps(payload, separators=(",", ":")), qos=1)
                self.published += 1

    def stop(self) -> None:
        """Stop publishing and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 5)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
