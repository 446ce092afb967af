"""File loads follow the agent protocol's identifier and value rules (``luna_shared.rules``, issue 16).

``/data/load`` used to store meter ``../../etc/passwd``, metric ``Power W``, 5,000-character ids,
a missing value marked ``good`` and negative or absurd price resolutions.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.problems import PROBLEM_JSON
from luna_shared import rules
from luna_shared.wire import MeterId

Client = AsyncTestClient[Litestar]


async def load(hub: Client, document: object, **params: Any) -> Any:
    response = await hub.post("/data/load", content=json.dumps(document).encode(), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def raw(hub: Client, meter: str, metric: str = "power_w") -> list[dict[str, Any]]:
    response = await hub.get(
        "/data/query",
        params={"meter": meter, "metric": metric, "start": "2024-01-01", "end": "2024-01-02", "bucket": "raw"},
    )
    assert response.status_code == 200, response.text
    series = response.json()["series"]
    return series[0]["points"] if series else []


def reading(meter: str, **fields: object) -> dict[str, object]:
    return {"meter_id": meter, "metric": "power_w", "ts": "2024-01-01T00:00:00Z", "value": 1.0, **fields}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"meter_id": "../../etc/passwd"}, "meter id '../../etc/passwd' is not of the form"),
        ({"meter_id": "x" * 5000}, "meter id is 5000 characters long, at most 128 allowed"),
        ({"meter_id": "m1\n"}, "meter id 'm1\\n' is not of the form"),
        ({"metric": "Power W", "unit": "W"}, "metric 'Power W' is not of the form"),
        ({"metric": "m" * 65, "unit": "W"}, "metric is 65 characters long"),
        ({"unit": "W" * 17}, "unit is 17 characters long"),
        ({"value": None, "quality": "good"}, "a reading without a value must have quality 'bad', not 'good'"),
        ({"value": 1e300}, "beyond ±1e+15"),
    ],
)
async def test_rows_breaking_the_shared_rules_are_rejected_with_the_reason(
    hub: Client, unique: str, fields: dict[str, object], reason: str
) -> None:
    good = reading(unique)
    bad = reading(unique, ts="2024-01-01T00:15:00Z", **fields)
    report = await load(hub, {"readings": [good, bad]})
    assert (report["stored"], report["rejected"]) == (1, 1)
    assert report["rejections"] == [{"line": 2, "reasons": [pytest.approx(report["rejections"][0]["reasons"][0])]}]
    assert reason in report["rejections"][0]["reasons"][0]


async def test_a_missing_value_without_a_quality_is_stored_bad_with_a_reason(hub: Client, unique: str) -> None:
    report = await load(hub, {"readings": [reading(unique, value=None)]})
    assert (report["stored"], report["flagged"]) == (1, 1)
    response = await hub.get(
        "/data/query",
        params={
            "meter": unique,
            "metric": "power_w",
            "start": "2024-01-01",
            "end": "2024-01-02",
            "bucket": "raw",
            "quality": "bad",
        },
    )
    [point] = response.json()["series"][0]["points"]
    assert (point["value"], point["quality"], point["reasons"]) == (None, "bad", ["not_a_number"])


@pytest.mark.parametrize(
    ("minutes", "reason"),
    [
        (-15, "resolution of -15 minutes"),
        (0, "resolution of 0 minutes"),
        (7, "resolution of 7 minutes"),
        (2880, "resolution of 2880 minutes"),
        (10**12, "resolution of 1e+12 minutes"),
        (10**15, "resolution_minutes is not a whole number"),  # was an OverflowError: 500
        ("soon", "resolution_minutes is not a whole number"),
    ],
)
async def test_negative_or_absurd_price_resolutions_are_rejected(
    hub: Client, unique: str, minutes: object, reason: str
) -> None:
    prices = [
        {"market": unique, "ts": "2024-01-01T00:00:00Z", "price": 1.0, "resolution_minutes": minutes},
        {"market": unique, "ts": "2024-01-01T01:00:00Z", "price": 2.0, "resolution_minutes": 60},
    ]
    lines = "".join(json.dumps(price) + "\n" for price in prices).encode()
    response = await hub.post("/data/load", content=lines)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["stored"], report["rejected"]) == (1, 1)
    assert reason in report["rejections"][0]["reasons"][0]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"metric": "Power W"}, "metric 'Power W' is not of the form"),
        ({"market": "../DE-LU"}, "market '../DE-LU' is not of the form"),
        ({"unit": "x" * 40}, "unit is 40 characters long"),
        ({"resolution_minutes": "7"}, "resolution of 7 minutes"),
    ],
)
async def test_request_parameters_breaking_the_rules_are_400(hub: Client, params: dict[str, str], reason: str) -> None:
    body = b"timestamp,m1\n2024-01-01T00:00:00Z,1\n"
    response = await hub.post("/data/load", content=body, params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert reason in response.json()["detail"]


async def test_a_wide_file_with_a_hostile_column_stores_the_other_columns(hub: Client, unique: str) -> None:
    body = f"timestamp,{unique},../../etc/passwd,{'y' * 300}\n2024-01-01T00:00:00Z,1,2,3\n".encode()
    response = await hub.post("/data/load", content=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["stored"], report["rejected"], report["series"]) == (1, 2, [f"{unique}/power_w"])


_HOSTILE = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="abcAB09._:-/\\ \n\t\x00'\"%", max_size=20),
    st.sampled_from(
        ["../../etc/passwd", "-evil", ".hidden", "a" * 129, "a" * 128, "e\u0301", "m1\n", "DROP TABLE x;--"]
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meter=_HOSTILE)
async def test_any_meter_id_is_stored_only_when_the_wire_would_carry_it(hub: Client, meter: str) -> None:
    response = await hub.post("/data/load", content=json.dumps({"readings": [reading(meter)]}).encode())
    assert response.status_code == 200, response.text
    report = response.json()
    accepted = rules.meter_id_problem(meter) is None
    assert report["accepted"] == int(accepted)
    if accepted:
        msgspec.convert(meter, MeterId)  # what the hub stores, an agent could have sent
    else:
        assert report["rejections"][0]["reasons"][0].startswith(("meter id", "meter_id missing"))
