"""The metric vocabulary agrees with the real register maps in ``../shared/data/modbus``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luna_shared.vocabulary import METRICS, Metric, MetricKind, Quality, Unit, check_unit, metric_spec

MAPS = Path(__file__).resolve().parents[3] / "shared" / "data" / "modbus" / "meters"
CODE_METRICS = {  # identity and configuration registers: codes, not measurements
    "baud_rate_code",
    "parity_stop_code",
    "system_type_code",
    "measurement_mode_code",
    "pulse1_constant_code",
    "pulse1_energy_type_code",
    "pulse1_width_ms",
    "demand_period_min",
    "modbus_address",
    "serial_number",
    "meter_code",
}


def test_every_measured_metric_in_the_real_register_maps_is_known_with_its_unit() -> None:
    if not MAPS.is_dir():
        pytest.skip(f"real register maps not found at {MAPS}")
    seen = 0
    for path in sorted(MAPS.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["metric"] in CODE_METRICS:
                    continue
                spec = metric_spec(row["metric"])
                assert spec is not None, f"{path.name}: {row['metric']} missing from the vocabulary"
                expected = row["unit"] or Unit.DIMENSIONLESS.value
                assert spec.unit.value == expected, f"{path.name}: {row['metric']} in {row['unit']!r}"
                seen += 1
    assert seen > 300


def test_energy_registers_are_counters_and_power_is_a_gauge() -> None:
    assert METRICS[Metric.ENERGY_IMPORT_KWH].kind is MetricKind.COUNTER
    assert METRICS[Metric.REACTIVE_ENERGY_KVARH].kind is MetricKind.COUNTER
    assert METRICS[Metric.POWER_W].kind is MetricKind.GAUGE
    assert METRICS[Metric.PHASE_SEQUENCE].kind is MetricKind.STATE


def test_per_phase_voltages_are_in_volts() -> None:
    for phase in ("l1", "l2", "l3"):
        assert METRICS[f"voltage_{phase}_v"].unit is Unit.VOLT


def test_unit_check() -> None:
    assert check_unit("power_w", "W")
    assert not check_unit("power_w", "kW")
    assert check_unit("some_future_metric", "anything")


@given(st.lists(st.sampled_from(Quality), min_size=1, max_size=5))
def test_worst_quality_wins_whatever_the_order(qualities: list[Quality]) -> None:
    first, *others = qualities
    worst = first.worst(*others)
    assert worst in qualities
    assert all(worst.severity >= quality.severity for quality in qualities)
    assert first.worst(*reversed(others)) is worst


def test_quality_order_is_good_suspect_bad() -> None:
    assert Quality.GOOD.worst(Quality.SUSPECT) is Quality.SUSPECT
    assert Quality.BAD.worst(Quality.GOOD, Quality.SUSPECT) is Quality.BAD
    assert Quality.GOOD.worst() is Quality.GOOD
