"""Content encodings for wire bodies, negotiated between agent and hub.

The hub advertises what it can decode in an ``Accept-Encoding`` response header (RFC 7694);
the agent picks the best encoding both sides have with :func:`negotiate` and labels its
request with ``Content-Encoding``. ``identity`` always works; ``gzip`` comes from the standard
library; ``zstd`` needs the optional ``zstandard`` package (``luna-shared[zstd]``).

Decompression is bounded: a body that inflates beyond ``max_size`` is refused before it is
held in memory, so a small compressed request cannot exhaust the receiver.
"""

from __future__ import annotations

import enum
import importlib.util
import zlib
from typing import Final

from luna_shared.errors import MalformedMessageError, MessageTooLargeError

__all__ = ["ContentEncoding", "available_encodings", "compress", "decompress", "negotiate"]

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


class ContentEncoding(enum.StrEnum):
    """HTTP content codings, in order of preference (best first)."""

    ZSTD = "zstd"
    GZIP = "gzip"
    IDENTITY = "identity"


def available_encodings() -> tuple[ContentEncoding, ...]:
    """Return the encodings this process can both write and read, best first."""
    have_zstd = importlib.util.find_spec("zstandard") is not None
    return tuple(e for e in ContentEncoding if e is not ContentEncoding.ZSTD or have_zstd)


def negotiate(accept_encoding: str | None) -> ContentEncoding:
    """Choose the best encoding that both this process and the peer's ``Accept-Encoding`` header allow.

    A missing header means the peer's abilities are unknown, so the body goes uncompressed.
    Quality values (``;q=``) are honoured only to exclude an encoding (``q=0``).
    """
    if not accept_encoding:
        return ContentEncoding.IDENTITY
    offered: set[str] = set()
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if params.replace(" ", "").lower() in {"q=0", "q=0.0", "q=0.00", "q=0.000"}:
            continue
        offered.add(name.strip().lower())
    for encoding in available_encodings():
        if encoding.value in offered or "*" in offered:
            return encoding
    return ContentEncoding.IDENTITY


def compress(data: bytes, encoding: ContentEncoding) -> bytes:
    """Encode a body."""
    match encoding:
        case ContentEncoding.IDENTITY:
            return data
        case ContentEncoding.GZIP:
            packer = zlib.compressobj(level=6, wbits=_GZIP_WBITS)
            return packer.compress(data) + packer.flush()
        case ContentEncoding.ZSTD:
            import zstandard  # noqa: PLC0415 - optional dependency

            return zstandard.ZstdCompressor(level=3).compress(data)


def decompress(data: bytes, encoding: ContentEncoding, *, max_size: int) -> bytes:
    """Decode a body, refusing one that is corrupt or would inflate beyond ``max_size`` bytes."""
    match encoding:
        case ContentEncoding.IDENTITY:
            plain = data
        case ContentEncoding.GZIP:
            plain = _gunzip(data, max_size)
        case ContentEncoding.ZSTD:
            plain = _unzstd(data, max_size)
    if len(plain) > max_size:
        raise MessageTooLargeError(max_size)
    return plain


def _gunzip(data: bytes, max_size: int) -> bytes:
    unpacker = zlib.decompressobj(wbits=_GZIP_WBITS)
    try:
        plain = unpacker.decompress(data, max_size + 1)
    except zlib.error as exc:
        msg = f"body is not valid gzip: {exc}"
        raise MalformedMessageError(msg) from exc
    if len(plain) > max_size:
        raise MessageTooLargeError(max_size)
    if not unpacker.eof or unpacker.unused_data:
        msg = "gzip body is truncated or has trailing data"
        raise MalformedMessageError(msg)
    return plain


def _unzstd(data: bytes, max_size: int) -> bytes:
    try:
        import zstandard  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        msg = "zstd bodies need the zstandard package on this side"
        raise MalformedMessageError(msg) from exc
    # One frame that declares its size up front: checked before a byte is inflated.
    try:
        declared = zstandard.get_frame_parameters(data).content_size
    except zstandard.ZstdError as exc:
        msg = f"body is not valid zstd: {exc}"
        raise MalformedMessageError(msg) from exc
    if declared == zstandard.CONTENTSIZE_UNKNOWN:
        msg = "zstd frame must declare its content size"
        raise MalformedMessageError(msg)
    if declared > max_size:
        raise MessageTooLargeError(max_size)
    unpacker = zstandard.ZstdDecompressor().decompressobj()
    try:
        plain = unpacker.decompress(data)
    except zstandard.ZstdError as exc:
        msg = f"body is not valid zstd: {exc}"
        raise MalformedMessageError(msg) from exc
    if not unpacker.eof or unpacker.unused_data or len(plain) != declared:
        msg = "zstd body is truncated or has trailing data"
        raise MalformedMessageError(msg)
    return plain
