"""The SMARD and ENTSO-E adapters against recorded responses on loopback: DST days, A03 curves, the 15-minute switch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from luna_hub.prices.sources import (
    DayPrices,
    EntsoeSource,
    PriceSourceError,
    SmardSource,
    parse_entsoe,
    parse_smard_series,
)
from support.price_server import TOKEN, PriceServer

BERLIN = ZoneInfo("Europe/Berlin")
HOUR, QUARTER = timedelta(hours=1), timedelta(minutes=15)
SWITCH = date(2025, 10, 1)


def smard(server: PriceServer) -> SmardSource:
    return SmardSource(server.smard_url, "DE-LU", BERLIN, SWITCH)


def entsoe(server: PriceServer, token: str = TOKEN) -> EntsoeSource:
    return EntsoeSource(server.entsoe_url, "10Y1001A1001A82H", token, BERLIN, SWITCH)


async def fetch(source: SmardSource | EntsoeSource, day: date) -> DayPrices:
    async with httpx.AsyncClient(timeout=10) as client:
        return await source.fetch_day(client, day)


@pytest.mark.parametrize("kind", ["smard", "entsoe"])
async def test_the_23_and_25_hour_days(price_server: PriceServer, kind: str) -> None:
    source = smard(price_server) if kind == "smard" else entsoe(price_server)
    spring = await fetch(source, date(2024, 3, 31))
    assert spring.complete
    assert len(spring.prices) == 23
    assert (spring.prices[0].ts, spring.prices[0].price) == (datetime(2024, 3, 30, 23, tzinfo=UTC), 75.70)
    assert (spring.prices[2].ts, spring.prices[2].price) == (datetime(2024, 3, 31, 1, tzinfo=UTC), 64.98)  # 03:00 CEST
    autumn = await fetch(source, date(2024, 10, 27))
    assert autumn.complete
    assert len(autumn.prices) == 25
    assert [(p.ts.hour, p.price) for p in autumn.prices[2:4]] == [(0, 82.23), (1, 80.43)]  # local 02:00 twice
    assert {p.resolution for p in spring.prices + autumn.prices} == {HOUR}


@pytest.mark.parametrize("kind", ["smard", "entsoe"])
async def test_hourly_before_the_switch_and_quarter_hours_from_2025_10_01(price_server: PriceServer, kind: str) -> None:
    source = smard(price_server) if kind == "smard" else entsoe(price_server)
    before = await fetch(source, date(2025, 9, 30))
    assert before.complete
    assert [p.resolution for p in before.prices] == [HOUR] * 24
    after = await fetch(source, SWITCH)
    assert after.complete
    quarters = [p for p in after.prices if p.resolution == QUARTER]
    assert len(quarters) == 96
    assert quarters[0].ts == datetime(2025, 9, 30, 22, tzinfo=UTC)
    assert [q.price for q in quarters[:2]] == [92.22, 89.98]  # SMARD's 2025-12-03 00:00 and 00:15, shifted
    if kind == "smard":
        assert len(after.prices) == 96  # the quarter-hour series only
    else:
        assert len(after.prices) == 96 + 24  # ENTSO-E's document carries both series


async def test_both_sources_give_the_same_prices(price_server: PriceServer) -> None:
    for day in (date(2024, 3, 31), date(2024, 10, 27), SWITCH):
        ours = await fetch(smard(price_server), day)
        theirs = await fetch(entsoe(price_server), day)
        assert ours.prices == [p for p in theirs.prices if p.resolution == ours.prices[0].resolution]


async def test_an_a03_curve_repeats_the_price_of_left_out_positions(price_server: PriceServer) -> None:
    day = await fetch(entsoe(price_server), date(2024, 3, 24))
    assert day.complete
    assert len(day.prices) == 24
    zeros = [p.ts.astimezone(BERLIN).hour for p in day.prices if p.price == 0.0]
    assert zeros == list(range(8, 16))
    assert day.prices == (await fetch(smard(price_server), date(2024, 3, 24))).prices


@pytest.mark.parametrize("kind", ["smard", "entsoe"])
async def test_a_day_not_published_yet_is_incomplete(price_server: PriceServer, kind: str) -> None:
    source = smard(price_server) if kind == "smard" else entsoe(price_server)
    day = await fetch(source, date(2025, 10, 5))
    assert day == DayPrices(date(2025, 10, 5), [], complete=False)


async def test_failures_are_price_source_errors_without_the_token(price_server: PriceServer) -> None:
    with pytest.raises(PriceSourceError) as refused:
        await fetch(entsoe(price_server, token="wrong-secret-token"), date(2024, 3, 31))  # noqa: S106
    assert "401" in str(refused.value)
    assert "wrong-secret-token" not in str(refused.value)
    price_server.fail_next = 1
    with pytest.raises(PriceSourceError, match="503"):
        await fetch(smard(price_server), date(2024, 3, 31))
    nowhere = SmardSource("http://127.0.0.1:9/app/chart_data", "DE-LU", BERLIN, SWITCH)
    with pytest.raises(PriceSourceError, match="ConnectError"):
        await fetch(nowhere, date(2024, 3, 31))


def test_malformed_answers_are_refused() -> None:
    with pytest.raises(PriceSourceError, match="DTD"):
        parse_entsoe(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Publication_MarketDocument/>')
    with pytest.raises(PriceSourceError, match="not XML"):
        parse_entsoe(b"<Publication_MarketDocument>")
    with pytest.raises(PriceSourceError, match="GL_MarketDocument"):
        parse_entsoe(b"<GL_MarketDocument/>")
    with pytest.raises(PriceSourceError, match="documented shape"):
        parse_smard_series(b'{"series": [["x", 1]]}', HOUR)
    assert parse_smard_series(b'{"meta_data": {}, "series": [[0, null], [3600000, -5.5]]}', HOUR)[0].price == -5.5


def test_only_the_first_classification_sequence_counts() -> None:
    def series(sequence: int, resolution: str, price: float) -> str:
        return (
            f"<TimeSeries><classificationSequence_AttributeInstanceComponent.position>{sequence}"
            "</classificationSequence_AttributeInstanceComponent.position><curveType>A01</curveType><Period>"
            "<timeInterval><start>2024-06-01T22:00Z</start><end>2024-06-01T23:00Z</end></timeInterval>"
            f"<resolution>{resolution}</resolution><Point><position>1</position><price.amount>{price}</price.amount>"
            "</Point></Period></TimeSeries>"
        )

    document = f"<Publication_MarketDocument xmlns='urn:x'>{series(1, 'PT60M', 50.0)}{series(2, 'PT15M', 9.0)}"
    prices = parse_entsoe((document + "</Publication_MarketDocument>").encode())
    assert [(p.resolution, p.price) for p in prices] == [(HOUR, 50.0)]


async def test_fifteen_minute_series_before_the_switch_are_not_day_ahead(price_server: PriceServer) -> None:
    early = EntsoeSource(price_server.entsoe_url, "10Y1001A1001A82H", TOKEN, BERLIN, date(2025, 10, 2))
    day = await fetch(early, SWITCH)  # as if the switch came a day later: the PT15M series is left out
    assert {p.resolution for p in day.prices} == {HOUR}
    assert day.complete
