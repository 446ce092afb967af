"""The validation pipeline: each check with a known case, and properties over arbitrary batches."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from luna_agent.sample import Sample
from luna_agent.validation import ClockGuard, Pipeline, ValidationSettings
from luna_shared import rules
from luna_shared.rules import value_problem
from luna_shared.vocabulary import Flag, Quality

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
SEVERITY = {Quality.GOOD: 0, Quality.SUSPECT: 1, Quality.BAD: 2}


def steady_clock() -> ClockGuard:
    ticks = iter(range(10**9))
    now = [0.0]

    def tick() -> float:
        now[0] = float(next(ticks))
        return now[0]

    return ClockGuard(sync_required=False, jump_tolerance_s=1, hold_s=60, wall=tick, monotonic=lambda: now[0])


def pipeline(**overrides: object) -> Pipeline:
    return Pipeline(ValidationSettings(**overrides), clock=steady_clock())  # type: ignore[arg-type]


def s(metric: str, value: float | None, seconds: float = 0, unit: str | None = None, meter: str = "m1") -> Sample:
    units = {"voltage_l1_v": "V", "frequency_hz": "Hz", "power_w": "W", "energy_import_kwh": "kWh"}
    return Sample(
        meter_id=meter, metric=metric, ts=T0 + timedelta(seconds=seconds), value=value, unit=unit or units[metric]
    )


def test_nan_and_infinity_lose_their_value_and_are_bad() -> None:
    checked = pipeline().check([s("power_w", math.nan), s("power_w", math.inf, 1)]).samples
    assert [(x.value, x.quality, x.reasons) for x in checked] == [(None, Quality.BAD, ("not_a_number",))] * 2


def test_values_beyond_the_hubs_bound_lose_their_value_and_are_bad() -> None:
    """Issue 16: the hub sets aside a value beyond ±1e15 (file loads reject it): the agent never ships one."""
    bound = rules.MAX_MAGNITUDE
    checked = pipeline().check([s("power_w", v, n) for n, v in enumerate([bound, -bound, 2e15, -1e300])]).samples
    assert [(x.value, x.quality) for x in checked[:2]] == [(bound, Quality.GOOD), (-bound, Quality.GOOD)]
    assert [(x.value, x.quality, x.reasons) for x in checked[2:]] == [(None, Quality.BAD, ("out_of_range",))] * 2
    counter = pipeline().check([s("energy_import_kwh", 1e16)]).samples[0]  # counters have no upper range of their own
    assert (counter.value, counter.reasons) == (None, ("out_of_range",))


def test_unit_mismatch_and_out_of_range_are_bad_but_kept() -> None:
    unit, volts, hertz = (
        pipeline()
        .check([s("power_w", 5.0, unit="kW"), s("voltage_l1_v", 4.2e-8 + 400), s("frequency_hz", 5.0)])
        .samples
    )
    assert (unit.quality, unit.reasons, unit.value) == (Quality.BAD, ("unit_mismatch",), 5.0)
    assert (volts.quality, volts.reasons) == (Quality.BAD, ("out_of_range",))
    assert hertz.reasons == ("out_of_range",)


def test_per_meter_ranges_override_defaults() -> None:
    p = Pipeline(ValidationSettings(), meter_ranges={"us": {"voltage_l1_v": (100.0, 140.0)}}, clock=steady_clock())
    eu, us = p.check([s("voltage_l1_v", 120.0), s("voltage_l1_v", 230.0, meter="us")]).samples
    assert eu.quality is Quality.GOOD
    assert us.reasons == ("out_of_range",)


def test_counter_reset_is_an_event_not_negative_consumption() -> None:
    p = pipeline()
    p.check([s("energy_import_kwh", 1234.5)])
    checked = p.check([s("energy_import_kwh", 0.2, 10)])
    assert checked.samples[0].reasons == ("counter_reset",)
    assert checked.samples[0].value == 0.2  # stored as the device said, flagged
    (event,) = checked.events
    assert (event.kind, event.previous, event.value) == ("counter_reset", 1234.5, 0.2)
    assert p.check([s("energy_import_kwh", 0.3, 20)]).samples[0].quality is Quality.GOOD


def test_rollover_of_a_wrapping_counter() -> None:
    p = pipeline()
    wrap = 2**32 * 0.001
    p.check([s("energy_import_kwh", wrap - 0.5)], rollover_at={"energy_import_kwh": wrap})
    checked = p.check([s("energy_import_kwh", 1.0, 10)], rollover_at={"energy_import_kwh": wrap})
    assert checked.samples[0].reasons == ("counter_rollover",)
    assert checked.events[0].kind == "counter_rollover"


def test_small_dip_is_a_decrease_and_repeated_dips_a_reset() -> None:
    p = pipeline()
    p.check([s("energy_import_kwh", 1000.0)])
    first = p.check([s("energy_import_kwh", 999.0, 10)])
    assert (first.samples[0].reasons, first.events) == (("counter_decrease",), [])
    p.check([s("energy_import_kwh", 998.0, 20)])
    third = p.check([s("energy_import_kwh", 997.0, 30)])
    assert third.samples[0].reasons == ("counter_reset",)


def test_spike_by_rate_of_change() -> None:
    p = pipeline()
    p.check([s("frequency_hz", 50.0)])
    assert p.check([s("frequency_hz", 53.0, 1)]).samples[0].reasons == ("spike",)


def test_hampel_outlier_on_a_steady_signal() -> None:
    p = pipeline(max_rate={})
    for i in range(15):
        assert p.check([s("voltage_l1_v", 230.0 + (i % 3) * 0.2, i)]).samples[0].quality is Quality.GOOD
    assert p.check([s("voltage_l1_v", 262.0, 16)]).samples[0].reasons == ("outlier",)


def test_energy_delta_must_fit_measured_power() -> None:
    p = pipeline()
    p.check([s("power_w", 1000.0), s("energy_import_kwh", 100.0)])
    fine = p.check([s("power_w", 1000.0, 60), s("energy_import_kwh", 100.017, 60)]).samples[1]
    assert fine.quality is Quality.GOOD
    bad = p.check([s("power_w", 1000.0, 120), s("energy_import_kwh", 110.0, 120)]).samples[1]
    assert bad.reasons == ("inconsistent",)


def test_backward_clock_jump_taints_readings_for_the_hold_time() -> None:
    wall = iter([1000.0, 1010.0, 900.0, 910.0, 1080.0])
    mono = iter([0.0, 10.0, 20.0, 30.0, 200.0])
    clock = ClockGuard(
        sync_required=False, jump_tolerance_s=1, hold_s=60, wall=lambda: next(wall), monotonic=lambda: next(mono)
    )
    p = Pipeline(ValidationSettings(), clock=clock)
    reasons = [p.check([s("power_w", 1.0, i)]).samples[0].reasons for i in range(5)]
    assert reasons == [(), (), ("clock_jump",), ("clock_jump",), ()]


def test_unsynced_clock_is_flagged_when_sync_is_required() -> None:
    clock = ClockGuard(sync_required=True, jump_tolerance_s=1, hold_s=60, synced=lambda: False)
    (sample,) = Pipeline(ValidationSettings(), clock=clock).check([s("power_w", 1.0)]).samples
    assert (sample.quality, sample.reasons) == (Quality.SUSPECT, ("clock_untrusted",))


metrics = st.sampled_from(["voltage_l1_v", "frequency_hz", "power_w", "energy_import_kwh"])
values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))
batches = st.lists(st.tuples(metrics, values, st.sampled_from(["m1", "m2"])), max_size=40)


@given(st.lists(batches, max_size=5))
def test_nothing_is_dropped_reordered_or_improved(polls: list[list[tuple[str, float | None, str]]]) -> None:
    p = pipeline()
    for n, poll in enumerate(polls):
        batch = [
            s(metric, value, n, meter=meter).flagged(Quality.BAD, Flag.SENTINEL, clear=True)
            if value is None
            else s(metric, value, n, meter=meter)
            for metric, value, meter in poll
        ]
        checked = p.check(batch).samples
        assert [(x.meter_id, x.metric, x.ts) for x in checked] == [(x.meter_id, x.metric, x.ts) for x in batch]
        for before, after in zip(batch, checked, strict=True):
            assert SEVERITY[after.quality] >= SEVERITY[before.quality]
            assert set(before.reasons) <= set(after.reasons)
            assert after.value is None or value_problem(after.value) is None  # the hub stores every value sent
            assert after.quality is Quality.GOOD or after.reasons
            after.to_reading(0)  # every checked sample is a valid wire reading


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=30))
def test_every_counter_decrease_is_flagged(series: list[float]) -> None:
    p = pipeline()
    accepted = -math.inf
    for i, value in enumerate(series):
        (sample,) = p.check([s("energy_import_kwh", value, i * 3600)]).samples
        counter_flags = {"counter_decrease", "counter_reset", "counter_rollover"} & set(sample.reasons)
        if value < accepted:
            assert counter_flags
        else:
            assert not counter_flags
        if not counter_flags or counter_flags & {"counter_reset", "counter_rollover"}:
            accepted = value


@given(st.lists(st.floats(0, 50), min_size=2, max_size=30))
def test_monotonic_counter_with_matching_power_stays_good(steps: list[float]) -> None:
    p = pipeline()
    energy = 100.0
    for i, step_kwh in enumerate(steps):
        energy += step_kwh
        power_w = step_kwh * 1000  # one hour per poll: step kWh == average kW
        power, counter = p.check([s("power_w", power_w, i * 3600), s("energy_import_kwh", energy, i * 3600)]).samples
        assert counter.quality is Quality.GOOD, counter.reasons
        assert Flag.SPIKE not in power.reasons
