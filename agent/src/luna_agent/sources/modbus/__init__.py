"""Modbus TCP/RTU acquisition: codecs, profiles, block reads, per-device coordinators."""

from luna_agent.sources.modbus.codec import ByteOrder, DataType, decode, encode, register_count
from luna_agent.sources.modbus.points import PointSpec, decode_point, pdu_address
from luna_agent.sources.modbus.profiles import MeterProfile, SunSpecProfile, load_profile, profile_names

__all__ = [
    "ByteOrder",
    "DataType",
    "MeterProfile",
    "PointSpec",
    "SunSpecProfile",
    "decode",
    "decode_point",
    "encode",
    "load_profile",
    "pdu_address",
    "profile_names",
    "register_count",
]
