"""The explicit vocabulary of metrics, units, quality levels and quality reasons.

Metric names follow ``../shared/data/modbus/README.md``: snake_case with the unit as
suffix, per phase where a meter measures per phase (``voltage_l1_v``).

The wire schemas carry metric, unit and reason as plain strings so that a newer agent
that knows a metric this hub does not can still deliver (msgspec schema evolution:
types never change, an ``Enum`` would reject the new value). Whether a name belongs to
the vocabulary is asked here, with :func:`metric_spec` and :func:`check_unit`.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple

__all__ = [
    "METRICS",
    "Flag",
    "Metric",
    "MetricKind",
    "MetricSpec",
    "Quality",
    "Unit",
    "check_unit",
    "metric_spec",
]


class Unit(enum.StrEnum):
    """Units a reading's value may be expressed in (the unit of ``raw * scale``)."""

    VOLT = "V"
    AMPERE = "A"
    WATT = "W"
    VOLT_AMPERE = "VA"
    VAR = "var"
    HERTZ = "Hz"
    KILOWATT_HOUR = "kWh"
    KILOVAR_HOUR = "kvarh"
    KILOVOLT_AMPERE_HOUR = "kVAh"
    AMPERE_HOUR = "Ah"
    PERCENT = "%"
    DEGREE = "deg"
    CELSIUS = "degC"
    DIMENSIONLESS = "1"


class MetricKind(enum.StrEnum):
    """How a metric behaves over time; validation and rollups depend on it."""

    GAUGE = "gauge"
    """An instantaneous value (power, voltage); rollups average it."""
    COUNTER = "counter"
    """A cumulative register that only grows until reset or rollover; rollups take deltas."""
    STATE = "state"
    """A discrete state or code (phase sequence); rollups take the last value."""


class Quality(enum.StrEnum):
    """Overall verdict of validation on one reading; the reasons say why."""

    GOOD = "good"
    SUSPECT = "suspect"
    BAD = "bad"

    @property
    def severity(self) -> int:
        """Rank in "worst quality wins" order: good < suspect < bad."""
        return _SEVERITY[self]

    def worst(self, *others: Quality) -> Quality:
        """Return the worst of this quality and ``others``: flags only ever lower a reading's quality."""
        return max((self, *others), key=_SEVERITY.__getitem__)


_SEVERITY: Final = {Quality.GOOD: 0, Quality.SUSPECT: 1, Quality.BAD: 2}


class Flag(enum.StrEnum):
    """Reasons attached to a reading that is not plainly good."""

    NOT_A_NUMBER = "not_a_number"
    SENTINEL = "sentinel"
    WRONG_TYPE = "wrong_type"
    UNIT_MISMATCH = "unit_mismatch"
    OUT_OF_RANGE = "out_of_range"
    COUNTER_DECREASE = "counter_decrease"
    COUNTER_RESET = "counter_reset"
    COUNTER_ROLLOVER = "counter_rollover"
    INCONSISTENT = "inconsistent"
    SPIKE = "spike"
    OUTLIER = "outlier"
    CLOCK_UNTRUSTED = "clock_untrusted"
    CLOCK_JUMP = "clock_jump"
    CLOCK_SKEW = "clock_skew"
    TIMESTAMP_CORRECTED = "timestamp_corrected"


class MetricSpec(NamedTuple):
    """What a metric measures in, and how it behaves over time."""

    unit: Unit
    kind: MetricKind


class Metric(enum.StrEnum):
    """Metric names known to this version; see the module docstring for why the wire uses ``str``."""

    VOLTAGE_L1_V = "voltage_l1_v"
    VOLTAGE_L2_V = "voltage_l2_v"
    VOLTAGE_L3_V = "voltage_l3_v"
    VOLTAGE_L1_L2_V = "voltage_l1_l2_v"
    VOLTAGE_L2_L3_V = "voltage_l2_l3_v"
    VOLTAGE_L3_L1_V = "voltage_l3_l1_v"
    VOLTAGE_LN_AVG_V = "voltage_ln_avg_v"
    VOLTAGE_LL_AVG_V = "voltage_ll_avg_v"
    CURRENT_L1_A = "current_l1_a"
    CURRENT_L2_A = "current_l2_a"
    CURRENT_L3_A = "current_l3_a"
    CURRENT_N_A = "current_n_a"
    CURRENT_AVG_A = "current_avg_a"
    CURRENT_SUM_A = "current_sum_a"
    POWER_W = "power_w"
    POWER_L1_W = "power_l1_w"
    POWER_L2_W = "power_l2_w"
    POWER_L3_W = "power_l3_w"
    POWER_IMPORT_W = "power_import_w"
    POWER_EXPORT_W = "power_export_w"
    APPARENT_POWER_VA = "apparent_power_va"
    APPARENT_POWER_L1_VA = "apparent_power_l1_va"
    APPARENT_POWER_L2_VA = "apparent_power_l2_va"
    APPARENT_POWER_L3_VA = "apparent_power_l3_va"
    REACTIVE_POWER_VAR = "reactive_power_var"
    REACTIVE_POWER_L1_VAR = "reactive_power_l1_var"
    REACTIVE_POWER_L2_VAR = "reactive_power_l2_var"
    REACTIVE_POWER_L3_VAR = "reactive_power_l3_var"
    POWER_FACTOR = "power_factor"
    POWER_FACTOR_L1 = "power_factor_l1"
    POWER_FACTOR_L2 = "power_factor_l2"
    POWER_FACTOR_L3 = "power_factor_l3"
    PHASE_ANGLE_DEG = "phase_angle_deg"
    PHASE_ANGLE_L1_DEG = "phase_angle_l1_deg"
    PHASE_ANGLE_L2_DEG = "phase_angle_l2_deg"
    PHASE_ANGLE_L3_DEG = "phase_angle_l3_deg"
    FREQUENCY_HZ = "frequency_hz"
    PHASE_SEQUENCE = "phase_sequence"
    THD_VOLTAGE_L1_PCT = "thd_voltage_l1_pct"
    THD_VOLTAGE_L2_PCT = "thd_voltage_l2_pct"
    THD_VOLTAGE_L3_PCT = "thd_voltage_l3_pct"
    THD_CURRENT_L1_PCT = "thd_current_l1_pct"
    THD_CURRENT_L2_PCT = "thd_current_l2_pct"
    THD_CURRENT_L3_PCT = "thd_current_l3_pct"
    POWER_DEMAND_W = "power_demand_w"
    POWER_DEMAND_MAX_W = "power_demand_max_w"
    POWER_IMPORT_DEMAND_W = "power_import_demand_w"
    POWER_IMPORT_DEMAND_MAX_W = "power_import_demand_max_w"
    POWER_EXPORT_DEMAND_W = "power_export_demand_w"
    POWER_EXPORT_DEMAND_MAX_W = "power_export_demand_max_w"
    CURRENT_DEMAND_A = "current_demand_a"
    CURRENT_DEMAND_MAX_A = "current_demand_max_a"
    ENERGY_IMPORT_KWH = "energy_import_kwh"
    ENERGY_EXPORT_KWH = "energy_export_kwh"
    ENERGY_TOTAL_KWH = "energy_total_kwh"
    ENERGY_NET_KWH = "energy_net_kwh"
    ENERGY_IMPORT_L1_KWH = "energy_import_l1_kwh"
    ENERGY_IMPORT_L2_KWH = "energy_import_l2_kwh"
    ENERGY_IMPORT_L3_KWH = "energy_import_l3_kwh"
    ENERGY_EXPORT_L1_KWH = "energy_export_l1_kwh"
    ENERGY_EXPORT_L2_KWH = "energy_export_l2_kwh"
    ENERGY_EXPORT_L3_KWH = "energy_export_l3_kwh"
    ENERGY_TOTAL_L1_KWH = "energy_total_l1_kwh"
    ENERGY_TOTAL_L2_KWH = "energy_total_l2_kwh"
    ENERGY_TOTAL_L3_KWH = "energy_total_l3_kwh"
    ENERGY_IMPORT_RESETTABLE_KWH = "energy_import_resettable_kwh"
    ENERGY_EXPORT_RESETTABLE_KWH = "energy_export_resettable_kwh"
    ENERGY_TOTAL_RESETTABLE_KWH = "energy_total_resettable_kwh"
    ENERGY_IMPORT_HT_KWH = "energy_import_ht_kwh"
    REACTIVE_ENERGY_IMPORT_KVARH = "reactive_energy_import_kvarh"
    REACTIVE_ENERGY_EXPORT_KVARH = "reactive_energy_export_kvarh"
    REACTIVE_ENERGY_TOTAL_KVARH = "reactive_energy_total_kvarh"
    REACTIVE_ENERGY_KVARH = "reactive_energy_kvarh"
    APPARENT_ENERGY_KVAH = "apparent_energy_kvah"
    CHARGE_AH = "charge_ah"
    BATTERY_SOC_PCT = "battery_soc_pct"
    TEMPERATURE_C = "temperature_c"


def _spec_for(name: str) -> MetricSpec:
    """Derive a metric's unit and kind from its name; the table below is built from it once."""
    exact: dict[str, MetricSpec] = {
        Metric.PHASE_SEQUENCE: MetricSpec(Unit.DIMENSIONLESS, MetricKind.STATE),
        Metric.CHARGE_AH: MetricSpec(Unit.AMPERE_HOUR, MetricKind.COUNTER),
        Metric.TEMPERATURE_C: MetricSpec(Unit.CELSIUS, MetricKind.GAUGE),
        Metric.REACTIVE_ENERGY_KVARH: MetricSpec(Unit.KILOVAR_HOUR, MetricKind.COUNTER),
    }
    if name in exact:
        return exact[name]
    if name.startswith("power_factor"):
        return MetricSpec(Unit.DIMENSIONLESS, MetricKind.GAUGE)
    counters = {"_kwh": Unit.KILOWATT_HOUR, "_kvarh": Unit.KILOVAR_HOUR, "_kvah": Unit.KILOVOLT_AMPERE_HOUR}
    gauges = {
        "_var": Unit.VAR,
        "_va": Unit.VOLT_AMPERE,
        "_v": Unit.VOLT,
        "_a": Unit.AMPERE,
        "_w": Unit.WATT,
        "_hz": Unit.HERTZ,
        "_pct": Unit.PERCENT,
        "_deg": Unit.DEGREE,
    }
    for suffix, unit in counters.items():
        if name.endswith(suffix):
            return MetricSpec(unit, MetricKind.COUNTER)
    for suffix, unit in gauges.items():
        if name.endswith(suffix):
            return MetricSpec(unit, MetricKind.GAUGE)
    msg = f"metric {name!r} has no recognised unit suffix"
    raise ValueError(msg)


METRICS: Final[dict[str, MetricSpec]] = {m.value: _spec_for(m.value) for m in Metric}
"""Every known metric with its unit and kind."""


def metric_spec(metric: str) -> MetricSpec | None:
    """Return the spec of a known metric, or ``None`` for a name this version does not know."""
    return METRICS.get(metric)


def check_unit(metric: str, unit: str) -> bool:
    """Tell whether ``unit`` is the unit of ``metric``; unknown metrics accept any unit."""
    spec = METRICS.get(metric)
    return spec is None or spec.unit == unit
