"""What the simulated devices are configured with (``[[simulators]]``, ``[[plug_simulators]]``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from luna_shared.config import Port, Seconds

__all__ = ["PlugSimulatorSettings", "SimulatorSettings"]


class SimulatorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A simulated meter the agent serves itself (``[[simulators]]``), for the demo and tests."""

    name: str
    profile: str = "sdm630"
    host: str = "127.0.0.1"
    port: Port = 0
    unit: Annotated[int, msgspec.Meta(ge=1, le=247)] = 1


class PlugSimulatorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A simulated Tasmota smart plug (``[[plug_simulators]]``) publishing to the ``[mqtt]`` broker."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")]
    """The plug's topic name: it publishes ``tele/<name>/SENSOR``."""
    interval_s: Seconds = 10.0
    """Tasmota's TelePeriod."""
