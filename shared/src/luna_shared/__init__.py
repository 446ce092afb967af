"""Luna-iEMS shared package: wire schemas, vocabulary, codec, settings loader, logging.

Only wire types cross between agent and hub; they live here and nowhere else.
"""

from luna_shared.codec import WireFormat, decode_agent_message, decode_hub_message, encode
from luna_shared.errors import ConfigError, LunaError, MalformedMessageError, UnsupportedVersionError, WireError
from luna_shared.vocabulary import Flag, Metric, MetricKind, Quality, Unit
from luna_shared.wire import (
    AgentMessage,
    AgentStatus,
    BatchAck,
    DeviceState,
    DeviceStatus,
    HubMessage,
    Reading,
    ReadingBatch,
    utc_ms,
)

__all__ = [
    "AgentMessage",
    "AgentStatus",
    "BatchAck",
    "ConfigError",
    "DeviceState",
    "DeviceStatus",
    "Flag",
    "HubMessage",
    "LunaError",
    "MalformedMessageError",
    "Metric",
    "MetricKind",
    "Quality",
    "Reading",
    "ReadingBatch",
    "Unit",
    "UnsupportedVersionError",
    "WireError",
    "WireFormat",
    "decode_agent_message",
    "decode_hub_message",
    "encode",
    "utc_ms",
]
