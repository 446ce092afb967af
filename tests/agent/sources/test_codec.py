"""Register codecs: byte vectors from the manufacturers' documents and hypothesis round-trips."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luna_agent.errors import DecodeError
from luna_agent.sources.modbus.codec import (
    ByteOrder,
    DataType,
    compile_run_decoder,
    decode,
    encode,
    integer_range,
    register_count,
    shortest_float32,
)
from luna_agent.sources.modbus.points import Decoded, PointSpec, decode_point, pdu_address
from luna_shared.vocabulary import Flag
from support.modbus import encode_registers


def test_eastron_document_vectors() -> None:
    # shared/data/modbus/README.md section 5: 43 66 33 34 = 230.2 V, 43 70 80 00 = 240.5, 3F 80 00 00 = 1.0
    assert decode([0x4366, 0x3334], DataType.FLOAT32) == pytest.approx(230.2, abs=1e-4)
    assert decode([0x4370, 0x8000], DataType.FLOAT32) == 240.5
    assert decode([0x3F80, 0x0000], DataType.FLOAT32) == 1.0


def test_wrong_word_order_gives_implausible_values() -> None:
    # README test idea 4: swapped SDM words decode to ~4.2e-8; EM24 230.0 V LSW-first read MSW-first is 15 073 280
    assert decode([0x3334, 0x4366], DataType.FLOAT32) == pytest.approx(4.2e-8, rel=0.01)
    assert decode([0x08FC, 0x0000], DataType.INT32, ByteOrder.CDAB) == 2300
    assert decode([0x08FC, 0x0000], DataType.INT32) == 150_732_800


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (ByteOrder.ABCD, [0x0102, 0x0304]),
        (ByteOrder.CDAB, [0x0304, 0x0102]),
        (ByteOrder.BADC, [0x0201, 0x0403]),
        (ByteOrder.DCBA, [0x0403, 0x0201]),
    ],
)
def test_byte_orders_name_the_bytes_on_the_wire(order: ByteOrder, words: list[int]) -> None:
    assert decode(words, DataType.UINT32, order) == 0x01020304
    assert encode(0x01020304, DataType.UINT32, order) == words


def test_integer_ranges() -> None:
    assert integer_range(DataType.INT16) == (-32768, 32767)
    assert integer_range(DataType.UINT64) == (0, 2**64 - 1)
    assert integer_range(DataType.FLOAT32) is None


def test_64_bit_word_swap_reverses_all_four_words() -> None:
    assert decode([4, 3, 2, 1], DataType.UINT64, ByteOrder.CDAB) == 0x0001_0002_0003_0004


@pytest.mark.parametrize(("words", "data_type"), [([1], DataType.FLOAT32), ([1, 2, 3], DataType.INT32)])
def test_wrong_register_count_is_an_error(words: list[int], data_type: DataType) -> None:
    with pytest.raises(DecodeError, match="registers"):
        decode(words, data_type)


def test_words_must_be_16_bit() -> None:
    with pytest.raises(DecodeError, match="16-bit"):
        decode([0x1_0000], DataType.UINT16)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[DataType, int | float]:
    data_type = draw(st.sampled_from(list(DataType)))
    if data_type == DataType.FLOAT32:
        return data_type, draw(st.floats(width=32, allow_nan=False))
    if data_type == DataType.FLOAT64:
        return data_type, draw(st.floats(allow_nan=False))
    limits = integer_range(data_type)
    assert limits is not None
    return data_type, draw(st.integers(*limits))


@given(typed_values(), st.sampled_from(list(ByteOrder)))
def test_encode_decode_round_trip(typed: tuple[DataType, int | float], order: ByteOrder) -> None:
    data_type, value = typed
    words = encode(value, data_type, order)
    assert len(words) == register_count(data_type)
    decoded = decode(words, data_type, order)
    if data_type == DataType.FLOAT32:  # the same float32, written with no more digits than it needs
        assert encode(decoded, data_type, order) == words
        assert decoded == shortest_float32(value)
    else:
        assert decoded == value


@given(typed_values(), st.sampled_from(["big", "little"]), st.booleans())
def test_decoder_agrees_with_the_independent_test_encoder(
    typed: tuple[DataType, int | float], word_order: str, byte_swap: bool
) -> None:
    data_type, value = typed
    order = {("big", False): "ABCD", ("little", False): "CDAB", ("big", True): "BADC", ("little", True): "DCBA"}
    words = encode_registers(data_type, value, word_order=word_order, byte_swap=byte_swap)  # type: ignore[arg-type]
    expected = shortest_float32(value) if data_type == DataType.FLOAT32 else value
    assert decode(words, data_type, ByteOrder(order[word_order, byte_swap])) == expected


def test_float32_reads_with_the_digits_of_its_source() -> None:
    words = encode(230.31664, DataType.FLOAT32)
    assert struct.unpack(">f", struct.pack(">HH", *words))[0] == 230.31663513183594  # the noise being removed
    assert repr(decode(words, DataType.FLOAT32)) == "230.31664"
    assert repr(decode([0x4366, 0x3333], DataType.FLOAT32)) == "230.2"  # the document has ...34: 230.20001
    assert compile_run_decoder(DataType.FLOAT32, 2)([*words, 0x4370, 0x8000]) == (230.31664, 240.5)


@given(st.floats(width=32))
def test_shortest_float32_is_the_same_float32_with_the_fewest_digits(value: float) -> None:
    short = shortest_float32(value)
    if not math.isfinite(value):
        assert short is value
        return
    assert struct.pack(">f", short) == struct.pack(">f", value)
    digits = len(f"{abs(short):e}".split("e")[0].replace(".", "").rstrip("0"))
    # one digit fewer never names the same float32 (9 is float32's worst case)
    assert digits <= 9
    if digits > 1:
        fewer = float(f"{short:.{digits - 2}e}")  # digits - 1 significant digits
        assert struct.pack(">f", fewer) != struct.pack(">f", value)


@given(st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2))
def test_any_two_words_decode_to_some_float32(words: list[int]) -> None:
    value = decode(words, DataType.FLOAT32)
    assert isinstance(value, float)
    raw = struct.pack(">HH", *words)
    assert math.isnan(value) or struct.pack(">f", value) == raw


@pytest.mark.parametrize(
    ("address", "base", "table", "pdu"),
    [
        (30001, 1, "input", 0),
        (300001, 1, "input", 0),
        (40001, 1, "holding", 0),
        (464513, 1, "holding", 64512),
        (30343, 1, "input", 342),
        (1, 1, "holding", 0),
        (19000, 0, "holding", 19000),
        (10001, 1, "discrete", 0),
        (1, 1, "coil", 0),
    ],
)
def test_pdu_address_conventions(address: int, base: int, table: str, pdu: int) -> None:
    assert pdu_address(address, base, table) == pdu  # type: ignore[arg-type]


def test_address_outside_modbus_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside the Modbus range"):
        pdu_address(70000, 0, "holding")


def test_point_decoding_applies_scale_offset_and_flags_sentinels_and_nan() -> None:
    point = PointSpec(
        metric="voltage_l1_v", address=10, data_type=DataType.UINT32, scale=0.1, offset=1.0, sentinels=(0xFFFFFFFF,)
    )
    assert decode_point(point, {("holding", 10): 0, ("holding", 11): 2300}) == Decoded(231.0)
    assert decode_point(point, {("holding", 10): 0xFFFF, ("holding", 11): 0xFFFF}) == (None, Flag.SENTINEL)
    assert decode_point(point, {("holding", 10): 0}) is None
    nan_point = PointSpec(metric="voltage_l1_v", address=0)
    assert decode_point(nan_point, {("holding", 0): 0x7FC0, ("holding", 1): 0}) == (None, Flag.NOT_A_NUMBER)
    assert decode_point(nan_point, {("holding", 0): 0x7F80, ("holding", 1): 0}) == (None, Flag.NOT_A_NUMBER)


def test_sunspec_scale_factor_and_its_not_implemented_value() -> None:
    point = PointSpec(metric="power_w", address=100, data_type=DataType.INT16, sf_address=104, sentinels=(-32768,))
    assert decode_point(point, {("holding", 100): 1234, ("holding", 104): 0xFFFF}) == Decoded(123.4)
    assert decode_point(point, {("holding", 100): 1234, ("holding", 104): 0x8000}) == (None, Flag.SENTINEL)
    assert decode_point(point, {("holding", 100): 0x8000, ("holding", 104): 0}) == (None, Flag.SENTINEL)


@given(st.sampled_from(list(DataType)), st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=64))
def test_run_decoder_equals_decoding_one_by_one(data_type: DataType, words: list[int]) -> None:
    width = register_count(data_type)
    count = len(words) // width
    words = words[: count * width]
    one_by_one = [decode(words[i * width : (i + 1) * width], data_type) for i in range(count)]
    together = compile_run_decoder(data_type, count)(words)
    assert [struct.pack(">d", float(v)) for v in together] == [struct.pack(">d", float(v)) for v in one_by_one]
