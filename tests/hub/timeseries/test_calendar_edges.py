"""Query parameters at the calendar's edges are 400 problems with a reason, never a 500 (issue 16).

Year 1 and year 9999 used to reach ``datetime`` arithmetic (widening to whole buckets, local
times of a zone) and fail with an OverflowError.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.problems import PROBLEM_JSON

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"start": "0001-01-01", "end": "2024-01-02"}, "start: 0001-01-01T00:00:00 is beyond the calendar"),
        ({"start": "0001-01-01T00:00:00Z", "end": "2024-01-02", "tz": "America/New_York"}, "beyond the years"),
        ({"start": "9999-12-30", "end": "9999-12-31T12:00:00Z", "bucket": "1mo"}, "1mo buckets of Europe/Berlin"),
        ({"start": "9999-12-31T20:00:00Z", "end": "9999-12-31T23:00:00Z", "tz": "Pacific/Kiritimati"}, "beyond"),
        ({"start": "2024-01-01", "end": "9999-12-31T23:59:00-01:00"}, "end: 9999-12-31T23:59:00-01:00 is beyond"),
        ({"market": "DE-LU", "start": "9999-12-31", "end": "9999-12-31T22:00:00Z", "bucket": "1w"}, "1w buckets"),
        ({"bucket": "raw", "cursor": "m|0001-01-01T00:00:00+01:00"}, "invalid cursor"),
    ],
)
async def test_calendar_edges_in_queries_are_400_with_a_reason(
    hub: Client, params: dict[str, str], detail: str
) -> None:
    query = {"meter": "m", "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02"} | params
    if "market" in params:
        del query["meter"], query["metric"]
    response = await hub.get("/data/query", params=query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert detail in response.json()["detail"]


async def test_completeness_at_the_calendar_edge_is_400(hub: Client) -> None:
    response = await hub.get(
        "/data/completeness",
        params={"meter": "m", "metric": "power_w", "start": "9999-12-31", "end": "9999-12-31T22:00:00Z"},
    )
    assert response.status_code == 400, response.text
    assert "1d buckets of Europe/Berlin" in response.json()["detail"]


_EDGE_DAYS = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 10)),  # noqa: DTZ001 - naive: texts
    st.datetimes(min_value=datetime(9999, 12, 20), max_value=datetime(9999, 12, 31, 23, 59)),  # noqa: DTZ001
    st.datetimes(min_value=datetime(1969, 12, 31), max_value=datetime(1970, 1, 2)),  # noqa: DTZ001
)
_OFFSETS = st.sampled_from(["", "Z", "+14:00", "-12:00", "+05:30"])
_ZONES = st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns"])
_BUCKETS = st.sampled_from(["raw", "15m", "1h", "1d", "1w", "1mo"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.tuples(_EDGE_DAYS, _OFFSETS),
    end=st.tuples(_EDGE_DAYS, _OFFSETS),
    tz=_ZONES,
    bucket=_BUCKETS,
    path=st.sampled_from(["meter", "market", "completeness"]),
)
async def test_no_timestamp_in_query_parameters_makes_a_500(  # noqa: PLR0913, PLR0917 - one per drawn parameter
    hub: Client,
    start: tuple[datetime, str],
    end: tuple[datetime, str],
    tz: str,
    bucket: str,
    path: str,
) -> None:
    params = {"start": start[0].isoformat() + start[1], "end": end[0].isoformat() + end[1], "tz": tz}
    if path == "completeness":
        response = await hub.get("/data/completeness", params={**params, "meter": "m", "metric": "power_w"})
    elif path == "market":
        response = await hub.get("/data/query", params={**params, "market": "DE-LU", "bucket": bucket})
    else:
        response = await hub.get("/data/query", params={**params, "meter": "m", "metric": "power_w", "bucket": bucket})
    assert response.status_code in {200, 400, 404}, response.text  # 404: no such meter or market
    if response.status_code == 400:
        assert response.json()["detail"]
