"""Property tests of the field parsers and the per-series checks of the loaders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luna_hub.ingest.fields import parse_number
from luna_hub.ingest.validation import DUPLICATE, GAP_BEFORE, SeriesCheck
from luna_hub.timeparse import FieldError, LocalClock
from luna_shared.vocabulary import Flag

BERLIN = ZoneInfo("Europe/Berlin")


def german(value: float) -> str:
    """Format as SMARD does: thousands separator '.', decimal comma, two decimals."""
    return f"{value:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_german_numbers_round_trip(cents: int) -> None:
    value = cents / 100
    assert parse_number(german(value), decimal_comma=True) == pytest.approx(value, abs=1e-9)
    assert parse_number(f"{value:.2f}", decimal_comma=False) == pytest.approx(value, abs=1e-9)


@given(st.text(alphabet="abcxyz!?%", min_size=1, max_size=5))
def test_words_are_not_numbers(text: str) -> None:
    with pytest.raises(FieldError, match="not a number"):
        parse_number(text, decimal_comma=True)


@given(
    start=st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 12, 31)),  # noqa: DTZ001
    hours=st.integers(min_value=1, max_value=24 * 40),
    step_minutes=st.sampled_from([15, 30, 60]),
)
def test_local_wall_times_in_file_order_come_back_as_the_same_instants(
    start: datetime, hours: int, step_minutes: int
) -> None:
    # A real download lists every interval in order as naive Berlin wall time: the autumn hour twice.
    first = start.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    instants = [first + timedelta(minutes=step_minutes * i) for i in range(hours * 60 // step_minutes)]
    texts = [moment.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M") for moment in instants]
    clock = LocalClock(BERLIN)
    assert [clock.parse_german(text) for text in texts] == instants


def test_the_spring_gap_hour_is_an_error() -> None:
    with pytest.raises(FieldError, match="does not exist"):
        LocalClock(BERLIN).parse_german("31.03.2024 02:30")


@given(values=st.lists(st.floats(min_value=99, max_value=101), min_size=20, max_size=200))
def test_a_steady_series_is_not_flagged_but_a_repeat_a_gap_and_a_spike_are(values: list[float]) -> None:
    check = SeriesCheck(counter=False)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    last = len(values) - 1
    for index, value in enumerate(values):
        assert check.check(start + timedelta(minutes=index), value).reasons == []
    assert check.check(start + timedelta(minutes=last), values[-1]).reasons == [DUPLICATE]
    gap = check.check(start + timedelta(minutes=last + 10), values[0])
    assert gap.reasons == [GAP_BEFORE]
    assert gap.gap == (start + timedelta(minutes=last), start + timedelta(minutes=last + 10))
    assert check.check(start + timedelta(minutes=last + 11), 10_000.0).reasons == [str(Flag.OUTLIER)]


def test_a_counter_that_drops_is_flagged_as_reset() -> None:
    check = SeriesCheck.for_metric("energy_import_kwh")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert check.check(start, 10.0).reasons == []
    assert check.check(start + timedelta(hours=1), 11.0).reasons == []
    assert check.check(start + timedelta(hours=2), 0.5).reasons == [str(Flag.COUNTER_RESET)]
