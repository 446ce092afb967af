"""Device profiles shipped as data files (``luna_agent/profiles/*.toml``), each citing its source."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Annotated, Literal

import msgspec

from luna_agent.errors import ProfileError
from luna_agent.sources.modbus.blocks import MODBUS_MAX_REGISTERS
from luna_agent.sources.modbus.codec import DataType
from luna_agent.sources.modbus.points import PointSpec
from luna_shared.wire import MetricName

__all__ = [
    "IdentityRegister",
    "MeterProfile",
    "ProfileInfo",
    "SunSpecPoint",
    "SunSpecProfile",
    "load_profile",
    "profile_names",
]


class IdentityRegister(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A register that names the device rather than measuring (serial number, meter code); for ``probe``."""

    name: str
    register_type: Literal["holding", "input"] = "holding"
    address: Annotated[int, msgspec.Meta(ge=0, le=65_535)]
    """0-based PDU address."""
    data_type: DataType = DataType.UINT16
    expect: int | None = None
    """The value the manufacturer documents for this model (a meter code); ``None``: any value (a serial number)."""


class ProfileInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A profile's identity, provenance and request limit."""

    name: str
    title: str
    source: str
    max_registers: Annotated[int, msgspec.Meta(ge=1, le=MODBUS_MAX_REGISTERS)] = MODBUS_MAX_REGISTERS
    models: tuple[int, ...] = ()
    """SunSpec model ids this profile decodes (SunSpec profiles only)."""
    model_length: int | None = None
    identity: tuple[IdentityRegister, ...] = ()
    """Registers that identify the model (from the same source), read by ``luna-agent probe``."""


class MeterProfile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A meter with a fixed register map."""

    profile: ProfileInfo
    points: tuple[PointSpec, ...]


class SunSpecPoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A point of a SunSpec model, by offset from the model's ID register."""

    metric: MetricName
    offset: int
    data_type: DataType
    sf_offset: int
    sentinels: tuple[int, ...] = ()
    scale: float = 1.0


class SunSpecProfile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """SunSpec models whose addresses are found on the device by discovery."""

    profile: ProfileInfo
    points: tuple[SunSpecPoint, ...]

    def points_at(self, model_start: int) -> tuple[PointSpec, ...]:
        """Return the points of a model whose ID register is at PDU ``model_start`` (holding registers)."""
        return tuple(
            PointSpec(
                metric=p.metric,
                register_type="holding",
                address=model_start + p.offset,
                data_type=p.data_type,
                scale=p.scale,
                sentinels=p.sentinels,
                sf_address=model_start + p.sf_offset,
            )
            for p in self.points
        )


def profile_names() -> list[str]:
    """Names of the shipped profiles."""
    folder = resources.files("luna_agent") / "profiles"
    return sorted(entry.name.removesuffix(".toml") for entry in folder.iterdir() if entry.name.endswith(".toml"))


@functools.cache
def load_profile(name: str) -> MeterProfile | SunSpecProfile:
    """Load a shipped profile by name (``sdm630``, ``sunspec``...)."""
    if name not in profile_names():
        raise ProfileError(f"unknown profile {name!r}; shipped: {', '.join(profile_names())}")
    text = (resources.files("luna_agent") / "profiles" / f"{name}.toml").read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
        kind: type[MeterProfile | SunSpecProfile] = SunSpecProfile if data["profile"].get("models") else MeterProfile
        return msgspec.convert(data, kind)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError, KeyError, ValueError) as exc:
        raise ProfileError(f"profile {name!r} is malformed: {exc}") from exc
