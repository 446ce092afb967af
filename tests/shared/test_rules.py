"""``luna_shared.rules`` says exactly what the wire types accept (a trailing newline aside), and a bit more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from luna_shared import rules
from luna_shared.vocabulary import Quality
from luna_shared.wire import MeterId, MetricName, SiteId, UnitName, reading_problem

_TEXT = st.one_of(
    st.text(max_size=140),
    st.text(alphabet="azAZ09._:-/ \n", max_size=140),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,130}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9_]{0,70}", fullmatch=True),
)


def _wire_accepts(text: str, annotated: Any) -> bool:
    try:
        msgspec.convert(text, annotated)
    except msgspec.ValidationError:
        return False
    return True


@given(_TEXT)
def test_identifier_rules_are_the_wire_types_constraints(text: str) -> None:
    cases = [
        (rules.meter_id_problem, MeterId),
        (rules.metric_problem, MetricName),
        (rules.unit_problem, UnitName),
        (rules.market_problem, SiteId),
        (rules.site_id_problem, SiteId),
    ]
    for rule, annotated in cases:
        accepted = rule(text) is None
        if accepted:
            assert _wire_accepts(text, annotated), (rule.__name__, text)
        elif not text.endswith("\n"):  # the one place the rules are stricter than a regex search
            assert not _wire_accepts(text, annotated), (rule.__name__, text)


def test_the_issue_s_identifiers_are_refused() -> None:
    assert rules.meter_id_problem("../../etc/passwd") is not None
    assert rules.meter_id_problem("-evil") is not None
    assert rules.meter_id_problem("x" * 5000) == "meter id is 5000 characters long, at most 128 allowed"
    assert rules.metric_problem("Power W") is not None
    assert rules.meter_id_problem("m1\n") is not None
    assert rules.meter_id_problem("sensor.power_load_no_var_loads") is None
    assert rules.market_problem("DE-LU") is None
    assert rules.site_id_problem("site A") is not None
    assert rules.site_id_problem("site-a") is None


_VALUES = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e16, 1e16))


@given(_VALUES, st.sampled_from(Quality))
def test_value_rule_is_the_wire_s_plus_a_magnitude_bound(value: float | None, quality: Quality) -> None:
    wire = reading_problem(datetime(2024, 1, 1, tzinfo=UTC), value, quality, ("reason",))
    ours = rules.value_problem(value, quality)
    if ours is None:
        assert wire is None
    elif value is None or abs(value) <= rules.MAX_MAGNITUDE:
        assert wire is not None


@given(st.integers(min_value=-(10**6), max_value=10**6), st.integers(min_value=0, max_value=59))
def test_a_resolution_is_whole_minutes_that_divide_a_day(minutes: int, seconds: int) -> None:
    resolution = timedelta(minutes=minutes, seconds=seconds)
    whole = seconds == 0 and 1 <= minutes <= 1440 and 1440 % minutes == 0
    assert (rules.resolution_problem(resolution) is None) == whole
