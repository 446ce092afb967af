"""What a Modbus device is configured with (``[[devices]]``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from luna_agent.sources.modbus.points import PointSpec
from luna_agent.sources.modbus.profiles import profile_names
from luna_agent.validation.settings import Range
from luna_shared.config import Port, Seconds
from luna_shared.wire import MeterId

__all__ = ["ModbusDeviceSettings"]


class ModbusDeviceSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One Modbus device (``[[devices]]``): where it is, what to read, how often."""

    id: MeterId
    profile: str | None = None
    """A shipped profile (``luna-agent probe`` lists them); its points are read unless ``metrics`` narrows them."""
    metrics: tuple[str, ...] = ()
    points: tuple[PointSpec, ...] = ()
    """Extra points, or all points of a device without a profile."""
    host: str | None = None
    port: Port = 502
    serial_port: str | None = None
    baudrate: Annotated[int, msgspec.Meta(gt=0)] = 9600
    framing: Literal["tcp", "rtu"] = "tcp"
    """``rtu`` over ``host:port`` talks to a serial gateway that forwards raw RTU frames."""
    simulator: str | None = None
    """Name of a ``[[simulators]]`` entry the agent starts itself (demo); replaces host and port."""
    unit: Annotated[int, msgspec.Meta(ge=0, le=247)] = 1
    interval_s: Seconds = 10.0
    timeout_s: Seconds = 1.0
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1
    max_gap: Annotated[int, msgspec.Meta(ge=0, le=124)] = 8
    max_registers: Annotated[int, msgspec.Meta(ge=1, le=125)] | None = None
    backoff_max_s: Seconds = 300.0
    ranges: dict[str, Range] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.profile is not None and self.profile not in profile_names():
            msg = f"unknown profile {self.profile!r}; shipped: {', '.join(profile_names())}"
            raise ValueError(msg)
        if self.profile is None and not self.points:
            msg = f"device {self.id!r} needs a profile or points"
            raise ValueError(msg)
        targets = [t for t in (self.host, self.serial_port, self.simulator) if t is not None]
        if len(targets) != 1:
            msg = f"device {self.id!r} needs exactly one of host, serial_port or simulator"
            raise ValueError(msg)
