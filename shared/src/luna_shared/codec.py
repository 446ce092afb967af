"""Encoding and decoding of wire messages in msgpack (default) or JSON.

Decoders are built once per message union and format. Decode errors are translated into
:class:`~luna_shared.errors.MalformedMessageError` or, when the type tag is one this side
does not know (an unknown message or a newer major version),
:class:`~luna_shared.errors.UnsupportedVersionError`.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from luna_shared.errors import MalformedMessageError, UnsupportedVersionError
from luna_shared.wire import AgentMessage, AgentStatus, BatchAck, HubMessage, ReadingBatch

__all__ = ["WireFormat", "decode_agent_message", "decode_hub_message", "encode", "explain_decode_error"]


class WireFormat(enum.StrEnum):
    """Serialisation of a message; the value is its HTTP content type."""

    MSGPACK = "application/msgpack"
    JSON = "application/json"


class _Envelope(msgspec.Struct):
    """Only the tag of a message, to tell an unknown type from a malformed one."""

    type: str


_AGENT_TAGS: Final = (str(ReadingBatch.__struct_config__.tag), str(AgentStatus.__struct_config__.tag))
_HUB_TAGS: Final = (str(BatchAck.__struct_config__.tag),)

_encoders: Final[dict[WireFormat, msgspec.msgpack.Encoder | msgspec.json.Encoder]] = {
    WireFormat.MSGPACK: msgspec.msgpack.Encoder(),
    WireFormat.JSON: msgspec.json.Encoder(),
}
_agent_decoders: Final[dict[WireFormat, msgspec.msgpack.Decoder[AgentMessage] | msgspec.json.Decoder[AgentMessage]]] = {
    WireFormat.MSGPACK: msgspec.msgpack.Decoder(AgentMessage),
    WireFormat.JSON: msgspec.json.Decoder(AgentMessage),
}
_hub_decoders: Final[dict[WireFormat, msgspec.msgpack.Decoder[HubMessage] | msgspec.json.Decoder[HubMessage]]] = {
    WireFormat.MSGPACK: msgspec.msgpack.Decoder(HubMessage),
    WireFormat.JSON: msgspec.json.Decoder(HubMessage),
}
_envelope_decoders: Final[dict[WireFormat, msgspec.msgpack.Decoder[_Envelope] | msgspec.json.Decoder[_Envelope]]] = {
    WireFormat.MSGPACK: msgspec.msgpack.Decoder(_Envelope),
    WireFormat.JSON: msgspec.json.Decoder(_Envelope),
}


def encode(message: AgentMessage | HubMessage, fmt: WireFormat = WireFormat.MSGPACK) -> bytes:
    """Serialise a message."""
    return _encoders[fmt].encode(message)


def decode_agent_message(data: bytes, fmt: WireFormat = WireFormat.MSGPACK) -> AgentMessage:
    """Decode what an agent sent; raise a :class:`~luna_shared.errors.WireError` subclass if impossible."""
    try:
        return _agent_decoders[fmt].decode(data)
    except msgspec.DecodeError as exc:
        raise explain_decode_error(exc, data, fmt, _AGENT_TAGS) from exc


def decode_hub_message(data: bytes, fmt: WireFormat = WireFormat.MSGPACK) -> HubMessage:
    """Decode what the hub answered; raise a :class:`~luna_shared.errors.WireError` subclass if impossible."""
    try:
        return _hub_decoders[fmt].decode(data)
    except msgspec.DecodeError as exc:
        raise explain_decode_error(exc, data, fmt, _HUB_TAGS) from exc


def explain_decode_error(
    exc: msgspec.DecodeError, data: bytes, fmt: WireFormat, known: tuple[str, ...]
) -> MalformedMessageError | UnsupportedVersionError:
    """Translate a decode error: an unknown type tag (of ``known``) is a version problem, the rest malformed."""
    try:
        tag = _envelope_decoders[fmt].decode(data).type
    except msgspec.DecodeError:
        return MalformedMessageError(str(exc))
    if tag not in known:
        return UnsupportedVersionError(tag, known)
    return MalformedMessageError(str(exc))
