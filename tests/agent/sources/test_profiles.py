"""Golden tests: each shipped profile read from a pymodbus server serving its map with known values.

Values are encoded with the test encoder in ``support.modbus`` (independent of the agent's codec)
and read back through the agent's transport and block reader; every point must decode exactly.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal

import pytest

from luna_agent.sources.modbus.codec import ByteOrder, DataType
from luna_agent.sources.modbus.profiles import MeterProfile, SunSpecProfile, load_profile, profile_names
from luna_agent.sources.modbus.reader import BlockReader
from luna_agent.sources.modbus.sunspec import discover_models
from luna_agent.sources.modbus.transport import ModbusTransport
from luna_shared.vocabulary import METRICS
from support.modbus import RegisterMap, encode_registers
from support.plugin import StartModbusServer

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "modbus"
FIXED = ["abb_b23", "em24_din", "em24_e1", "sdm120", "sdm630", "sdm72", "umg604"]


def test_every_profile_ships_and_loads() -> None:
    assert set(profile_names()) == {*FIXED, "sunspec"}
    for name in profile_names():
        profile = load_profile(name)
        assert profile.profile.name == name
        assert "shared/data/modbus" in profile.profile.source
        assert all(p.metric in METRICS for p in profile.points)


def _raw_value(index: int, data_type: DataType) -> float:
    """A distinct value per point, in raw device units, that every data type can hold exactly."""
    if data_type in {DataType.FLOAT32, DataType.FLOAT64}:
        return 100.0 + index * 1.5
    return 1000 + index * 7


def _serve_map(profile: MeterProfile) -> tuple[RegisterMap, dict[str, float]]:
    holding: dict[int, int] = {}
    inputs: dict[int, int] = {}
    expected: dict[str, float] = {}
    for index, point in enumerate(profile.points):
        raw = _raw_value(index, point.data_type)
        word_order: Literal["big", "little"] = "little" if point.order == ByteOrder.CDAB else "big"
        words = encode_registers(point.data_type.value, raw, word_order=word_order)
        table = holding if point.register_type == "holding" else inputs
        table.update({point.pdu + i: w for i, w in enumerate(words)})
        expected[point.metric] = raw * point.scale + point.offset
    return RegisterMap(holding=holding, input=inputs), expected


@pytest.mark.parametrize("name", FIXED)
async def test_golden_profile_decodes_exactly(name: str, modbus_server: StartModbusServer) -> None:
    profile = load_profile(name)
    assert isinstance(profile, MeterProfile)
    register_map, expected = _serve_map(profile)
    server = await modbus_server(register_map, device_id=7)
    transport = ModbusTransport(host=server.host, port=server.port, timeout=2)
    reader = BlockReader(profile.points, device_id=7, max_registers=profile.profile.max_registers, max_gap=8)
    try:
        decoded = await reader.read(transport)
    finally:
        transport.close()
    got = {point.metric: value.value for point, value in decoded}
    assert got.keys() == expected.keys()
    for metric, value in expected.items():
        assert got[metric] is not None
        assert math.isclose(got[metric], value, rel_tol=1e-6), metric  # type: ignore[arg-type]
    assert reader.unsupported == []
    assert all(block.count <= profile.profile.max_registers for block in reader.blocks)


@pytest.mark.parametrize("name", FIXED)
def test_profile_matches_the_cited_register_map(name: str) -> None:
    """Provenance: every point equals its row in the CSV the profile cites."""
    profile = load_profile(name)
    assert isinstance(profile, MeterProfile)
    csv_name = profile.profile.source.split()[0].rsplit("/", 1)[-1]
    path = DATA / "meters" / csv_name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with path.open(encoding="utf-8") as handle:
        rows = {row["metric"]: row for row in csv.DictReader(handle)}
    for point in profile.points:
        row = rows[point.metric]
        assert (row["register_type"], int(row["address"]), int(row["address_base"])) == (
            point.register_type,
            point.address,
            point.address_base,
        )
        assert row["data_type"] == point.data_type.value
        assert (row["word_order"] == "little") == (point.order == ByteOrder.CDAB)
        assert float(row["scale"]) == point.scale
        assert (row["unit"] or "1") == point.resolved_unit


def _sunspec_map(base: int, *, unknown_model: bool = False, end_marker: bool = True) -> tuple[RegisterMap, int]:
    """``SunS``, common model 1 (L=66), optionally an unknown model 64000, model 203 (L=105), end."""
    words = [0x5375, 0x6E53, 1, 66, *([0] * 66)]
    if unknown_model:
        words += [64000, 4, 1, 2, 3, 4]
    model_start = base + len(words)
    model = [0] * 107
    model[0:2] = [203, 105]
    model[2:7] = [523, 174, 175, 174, 0xFFFE]  # A, AphA..C (centiamps), A_SF = -2
    model[7:16] = [2301, 2302, 2303, 2304, 3990, 3991, 3992, 3993, 0xFFFF]  # volts x10, V_SF = -1
    model[16:18] = [5001, 0xFFFE]  # Hz = 50.01, Hz_SF = -2
    model[18:23] = [1234, 400, 410, 424, 1]  # W x10, W_SF = 1
    model[23] = 0x8000  # VA not implemented
    model[27] = 0
    model[28] = 50
    model[32] = 0
    model[33:38] = [-98 & 0xFFFF, 0, 0, 0, 0]  # PF = -98 %
    model[38:40] = [0, 12345]  # TotWhExp acc32
    model[46:48] = [1, 0]  # TotWhImp = 65536
    model[54] = 1  # TotWh_SF = 1 -> x10
    words += model
    if end_marker:
        words += [0xFFFF, 0]
    return RegisterMap(holding={base + i: w for i, w in enumerate(words)}), model_start


@pytest.mark.parametrize("base", [40000, 0, 50000])
async def test_sunspec_discovery_and_golden_model_203(base: int, modbus_server: StartModbusServer) -> None:
    register_map, model_start = _sunspec_map(base, unknown_model=base == 0, end_marker=base != 50000)
    server = await modbus_server(register_map)
    transport = ModbusTransport(host=server.host, port=server.port, timeout=2)
    try:
        models = await discover_models(lambda start, count: transport.read("holding", start, count, 1))
        assert [(m.model_id, m.length) for m in models][-1] == (203, 105)
        assert models[-1].start == model_start
        profile = load_profile("sunspec")
        assert isinstance(profile, SunSpecProfile)
        reader = BlockReader(profile.points_at(model_start), device_id=1, max_registers=125, max_gap=8)
        decoded = {p.metric: v for p, v in await reader.read(transport)}
    finally:
        transport.close()
    assert decoded["current_sum_a"].value == pytest.approx(5.23)
    assert decoded["voltage_l1_v"].value == pytest.approx(230.2)
    assert decoded["voltage_l1_l2_v"].value == pytest.approx(399.1)
    assert decoded["frequency_hz"].value == pytest.approx(50.01)
    assert decoded["power_w"].value == pytest.approx(12340)
    assert decoded["apparent_power_va"].flag == "sentinel"
    assert decoded["power_factor"].value == pytest.approx(-0.98)
    assert decoded["energy_export_kwh"].value == pytest.approx(123.45)
    assert decoded["energy_import_kwh"].value == pytest.approx(655.36)


async def test_no_sunspec_marker_means_no_models(modbus_server: StartModbusServer) -> None:
    server = await modbus_server(RegisterMap(holding={40000: 1, 40001: 2}))
    transport = ModbusTransport(host=server.host, port=server.port, timeout=2)
    try:
        assert await discover_models(lambda start, count: transport.read("holding", start, count, 1)) == []
    finally:
        transport.close()


def test_sunspec_profile_offsets_match_the_model_json() -> None:
    import json  # noqa: PLC0415 - only this test reads the JSON

    path = DATA / "sunspec" / "model_203.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    offsets: dict[str, int] = {}
    position = 0
    for point in json.loads(path.read_text(encoding="utf-8"))["group"]["points"]:
        offsets[point["name"]] = position
        position += point["size"]
    profile = load_profile("sunspec")
    assert isinstance(profile, SunSpecProfile)
    assert profile.profile.model_length == position - 2
    by_metric = {p.metric: p for p in profile.points}
    assert by_metric["power_w"].offset == offsets["W"]
    assert by_metric["power_w"].sf_offset == offsets["W_SF"]
    assert by_metric["energy_import_kwh"].offset == offsets["TotWhImp"]
    assert by_metric["energy_import_kwh"].sf_offset == offsets["TotWh_SF"]
    assert by_metric["voltage_l1_l2_v"].offset == offsets["PhVphAB"]
