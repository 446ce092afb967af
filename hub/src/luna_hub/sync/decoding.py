"""Reading an agent's request body: content type and encoding, size limits, decoding (``POST /api/v1/ingest``).

Every failure here is a 4xx before anything touches the database: 415 for a content type or
encoding the hub does not read (with ``Accept-Encoding`` saying what it does), 413 beyond the
size limits (as sent, or once decompressed), 400 for a body that is not a valid message, and
422 for a message type or major version this hub does not speak.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from luna_hub.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaError, UnsupportedVersionHubError
from luna_shared.codec import WireFormat
from luna_shared.compression import ContentEncoding, available_encodings, decompress
from luna_shared.errors import MalformedMessageError, MessageTooLargeError, UnsupportedVersionError
from luna_shared.received import ReceivedBatch, decode_for_storage
from luna_shared.wire import AgentStatus

__all__ = ["ACCEPT_ENCODING", "content_encoding", "decode_message", "read_body", "wire_format"]

ACCEPT_ENCODING: Final = ", ".join(encoding.value for encoding in available_encodings())
"""What the hub can decompress, best first, as an ``Accept-Encoding`` value."""
_FORMATS: Final = {
    "application/msgpack": WireFormat.MSGPACK,
    "application/x-msgpack": WireFormat.MSGPACK,
    "application/vnd.msgpack": WireFormat.MSGPACK,
    "application/json": WireFormat.JSON,
}


def wire_format(content_type: str | None) -> WireFormat:
    """Return the serialisation named by a ``Content-Type`` header (msgpack when absent); 415 otherwise."""
    if not content_type:
        return WireFormat.MSGPACK
    media = content_type.partition(";")[0].strip().lower()
    try:
        return _FORMATS[media]
    except KeyError:
        msg = f"unsupported Content-Type {media!r}: send application/msgpack or application/json"
        raise UnsupportedMediaError(msg, accept_encoding=ACCEPT_ENCODING) from None


def content_encoding(header: str | None) -> ContentEncoding:
    """Return the coding named by a ``Content-Encoding`` header (identity when absent); 415 when the hub lacks it."""
    name = (header or "identity").strip().lower()
    for encoding in available_encodings():
        if encoding.value == name:
            return encoding
    msg = f"unsupported Content-Encoding {name!r}: this hub reads {ACCEPT_ENCODING}"
    raise UnsupportedMediaError(msg, accept_encoding=ACCEPT_ENCODING)


async def read_body(chunks: AsyncIterator[bytes], *, declared_length: int | None, limit: int) -> bytes:
    """Collect the body, refusing (413) one announced or found to be larger than ``limit`` bytes."""
    too_large = f"body larger than ingest.max_body_bytes ({limit} bytes): send smaller batches"
    if declared_length is not None and declared_length > limit:
        raise PayloadTooLargeError(too_large)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(too_large)
        parts.append(chunk)
    return b"".join(parts)


def decode_message(
    body: bytes, fmt: WireFormat, encoding: ContentEncoding, *, max_decompressed: int
) -> ReceivedBatch | AgentStatus:
    """Decompress and decode one agent message, a batch as rows (all its rules, hash and range too, are checked)."""
    try:
        plain = decompress(body, encoding, max_size=max_decompressed)
        return decode_for_storage(plain, fmt)
    except MessageTooLargeError as exc:
        msg = f"body decompresses beyond ingest.max_decompressed_bytes ({exc.max_size} bytes): send smaller batches"
        raise PayloadTooLargeError(msg) from exc
    except UnsupportedVersionError as exc:
        raise UnsupportedVersionHubError(str(exc)) from exc
    except MalformedMessageError as exc:
        msg = f"malformed {fmt.name.lower()} message: {exc}"
        raise BadRequestError(msg) from exc
