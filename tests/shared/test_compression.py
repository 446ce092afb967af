"""Content encodings: round trips, negotiation, and bounded decompression of hostile bodies."""

from __future__ import annotations

import gzip

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from luna_shared.codec import encode
from luna_shared.compression import ContentEncoding, available_encodings, compress, decompress, negotiate
from luna_shared.errors import MalformedMessageError, MessageTooLargeError
from support.strategies import reading_batches

LIMIT = 1 << 20


def _unsized_zstd_frame(data: bytes) -> bytes:
    packer = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    return packer.compress(data) + packer.flush()


@given(data=st.binary(max_size=4096), encoding=st.sampled_from(ContentEncoding))
def test_every_encoding_round_trips(data: bytes, encoding: ContentEncoding) -> None:
    assert decompress(compress(data, encoding), encoding, max_size=LIMIT) == data


@given(batch=reading_batches(max_size=50))
def test_a_batch_shrinks_under_compression(batch: object) -> None:
    body = encode(batch)  # type: ignore[arg-type]
    for encoding in (ContentEncoding.GZIP, ContentEncoding.ZSTD):
        assert decompress(compress(body, encoding), encoding, max_size=LIMIT) == body


def test_gzip_interoperates_with_the_standard_tool_format() -> None:
    assert decompress(gzip.compress(b"hello"), ContentEncoding.GZIP, max_size=10) == b"hello"
    assert gzip.decompress(compress(b"hello", ContentEncoding.GZIP)) == b"hello"


@pytest.mark.parametrize("encoding", [ContentEncoding.GZIP, ContentEncoding.ZSTD])
def test_a_decompression_bomb_is_refused_at_the_limit(encoding: ContentEncoding) -> None:
    bomb = compress(b"\0" * (50 * LIMIT), encoding)
    assert len(bomb) < LIMIT // 10
    with pytest.raises(MessageTooLargeError, match=f"limit of {LIMIT} bytes"):
        decompress(bomb, encoding, max_size=LIMIT)


def test_an_oversized_plain_body_is_refused() -> None:
    with pytest.raises(MessageTooLargeError):
        decompress(b"x" * 11, ContentEncoding.IDENTITY, max_size=10)


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        (ContentEncoding.GZIP, b"not gzip at all"),
        (ContentEncoding.GZIP, gzip.compress(b"hello world")[:-6]),
        (ContentEncoding.GZIP, gzip.compress(b"a") + b"trailing"),
        (ContentEncoding.ZSTD, b"not zstd at all"),
        (ContentEncoding.ZSTD, zstandard.ZstdCompressor().compress(b"hello world" * 100)[:-4]),
        (ContentEncoding.ZSTD, zstandard.ZstdCompressor().compress(b"a") * 2),
        (ContentEncoding.ZSTD, _unsized_zstd_frame(b"a")),
    ],
)
def test_corrupt_bodies_are_malformed(encoding: ContentEncoding, body: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        decompress(body, encoding, max_size=LIMIT)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, ContentEncoding.IDENTITY),
        ("", ContentEncoding.IDENTITY),
        ("gzip", ContentEncoding.GZIP),
        ("gzip, zstd", ContentEncoding.ZSTD),
        ("zstd;q=0, gzip", ContentEncoding.GZIP),
        ("br, deflate", ContentEncoding.IDENTITY),
        ("*", ContentEncoding.ZSTD),
        ("GZIP ; q=0.5", ContentEncoding.GZIP),
    ],
)
def test_negotiation_picks_the_best_shared_encoding(header: str | None, expected: ContentEncoding) -> None:
    assert negotiate(header) is expected


def test_zstd_is_offered_only_when_its_package_is_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ContentEncoding.ZSTD in available_encodings()
    monkeypatch.setattr("importlib.util.find_spec", lambda _name: None)
    assert available_encodings() == (ContentEncoding.GZIP, ContentEncoding.IDENTITY)
    assert negotiate("zstd, gzip") is ContentEncoding.GZIP
