"""Questions naming a market or meter and a period are answered from the stored series (real EPEX prices)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.rag.data import ImpossiblePeriodError, find_period, names_market, names_meter
from support.hub import migrated_pool
from support.ollama import OllamaTestServer

PRICES = (
    Path(__file__).resolve().parents[4]
    / "shared/data/prices/smard/Gro_handelspreise_202401010000_202501010000_Stunde.csv"
)
Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize(
    ("question", "start", "end", "bucket"),
    [
        ("Explain the EPEX price trend in March 2024", date(2024, 3, 1), date(2024, 4, 1), "1d"),
        ("Wie war der Strompreis im März 2024?", date(2024, 3, 1), date(2024, 4, 1), "1d"),
        ("prices 2024-02?", date(2024, 2, 1), date(2024, 3, 1), "1d"),
        ("day-ahead on 27.10.2024", date(2024, 10, 27), date(2024, 10, 28), "1h"),
        ("DE-LU in Q4 2024", date(2024, 10, 1), date(2025, 1, 1), "1w"),
        ("EPEX December 2023", date(2023, 12, 1), date(2024, 1, 1), "1d"),
        ("EPEX in 2023", date(2023, 1, 1), date(2024, 1, 1), "1mo"),
    ],
)
def test_periods_in_questions(question: str, start: date, end: date, bucket: str) -> None:
    period = find_period(question)
    assert period is not None
    assert (period.start, period.end, period.bucket) == (start, end, bucket)


def test_no_period_no_data() -> None:
    assert find_period("What does the regulation say about smart meters?") is None


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("DE-LU on 2024-02-30", "2024-02-30"),
        ("DE-LU am 31.02.2024", "31.02.2024"),
        ("DE-LU in March 0000", "March 0000"),
        ("DE-LU in December 9999", "December 9999"),
        ("DE-LU in Q4 9999", "Q4 9999"),
        ("DE-LU 2024-00", "2024-00"),
    ],
)
def test_impossible_periods_are_refused_by_name(question: str, named: str) -> None:
    if named == "2024-00":  # "2024-00" is no month, so the year alone is the period
        assert find_period(question) == find_period("DE-LU 2024")
        return
    with pytest.raises(ImpossiblePeriodError) as caught:
        find_period(question)
    assert caught.value.named == named
    assert caught.value.status == 422


@given(st.integers(min_value=0, max_value=9999), st.integers(min_value=0, max_value=99), st.integers(0, 99))
def test_any_iso_day_is_a_period_or_refused(year: int, month: int, day: int) -> None:
    question = f"DE-LU on {year:04d}-{month:02d}-{day:02d}"
    try:
        period = find_period(question)
    except ImpossiblePeriodError:
        with pytest.raises(ValueError, match=r"range|must be"):
            date(year, month, day)
    else:
        assert period is not None
        assert period.start == date(year, month, day)


@pytest.mark.parametrize(
    ("question", "meter_id", "named"),
    [
        ("How much energy did we use in March 2024?", "e", False),  # a one-letter meter is no word's part
        ("What did meter e use in March 2024?", "e", True),
        ("Power of main-meter in 2024.", "main-meter", True),
        ("Power of main-meter-2 in 2024", "main-meter", False),
        ("sensor.power_load in 2024", "sensor", False),
        ("Was hat Zähler E im März 2024 verbraucht?", "e", True),
        ("fridge-plug: March 2024", "fridge-plug", True),
    ],
)
def test_meters_are_named_by_whole_tokens_only(question: str, meter_id: str, named: bool) -> None:
    assert names_meter(question, meter_id) is named


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("DE-LU in Q4 2024", True),
        ("de/lu prices 2024", True),
        ("DELU 2024", True),
        ("The model uses March 2024 data", False),  # "modeLUses" once matched DE-LU
        ("IDELUX 2024", False),
    ],
)
def test_markets_are_named_by_whole_tokens_only(question: str, named: bool) -> None:
    assert names_market(question, "DE-LU") is named


_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}[A-Za-z0-9]", fullmatch=True)
_WORD = st.from_regex(r"[A-Za-z0-9]{1,10}", fullmatch=True)


@given(_ID, st.lists(_WORD, max_size=6), st.lists(_WORD, max_size=6), st.sampled_from(["", ".", "?", ":", ","]))
def test_a_meter_id_between_spaces_is_named(meter_id: str, before: list[str], after: list[str], end: str) -> None:
    question = " ".join([*before, meter_id + end, *after])
    assert names_meter(question, meter_id)


@given(_ID, _WORD, _WORD)
def test_a_meter_id_glued_to_more_id_characters_is_not_named(meter_id: str, prefix: str, suffix: str) -> None:
    assert not names_meter(f"{prefix}{meter_id}{suffix}", meter_id)
    assert not names_meter(f"{prefix}-{meter_id}", meter_id)
    assert not names_meter(f"{meter_id}.{suffix}", meter_id)


async def load_prices(client: Client) -> None:
    response = await client.post(
        "/data/load", params={"market": "DE-LU", "name": PRICES.name}, content=PRICES.read_bytes()
    )
    assert response.status_code in {200, 201}, response.text


async def expected_march(hub_dsn: str) -> dict[str, float]:
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        row: asyncpg.Record = await connection.fetchrow(
            "SELECT avg(price) AS mean FROM market_prices WHERE market = 'DE-LU' AND resolution = '1 hour'"
            " AND ts >= '2024-03-01 00:00+01' AND ts < '2024-04-01 00:00+02'"
        )
        days = await connection.fetch(
            "SELECT (ts AT TIME ZONE 'Europe/Berlin')::date AS day, avg(price) AS mean FROM market_prices"
            " WHERE market = 'DE-LU' AND resolution = '1 hour' AND ts >= '2024-03-01 00:00+01'"
            " AND ts < '2024-04-01 00:00+02' GROUP BY 1 ORDER BY 1"
        )
    low = min(days, key=lambda d: d["mean"])
    high = max(days, key=lambda d: d["mean"])
    return {
        "mean": row["mean"],
        "low": low["mean"],
        "low_day": low["day"],
        "high": high["mean"],
        "high_day": high["day"],
    }


async def test_the_price_trend_in_march_is_answered_from_stored_prices(rag_hub: Client, hub_dsn: str) -> None:
    await load_prices(rag_hub)
    expected = await expected_march(hub_dsn)
    response = await rag_hub.post("/rag/ask", json={"question": "Explain the EPEX price trend in March 2024"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["found"]
    data = body["data"][0]
    assert (data["series"], data["bucket"], data["aggregate"]) == ("DE-LU", "1d", "avg")
    assert data["start"] == "2024-03-01T00:00:00+01:00"
    assert data["end"] == "2024-04-01T00:00:00+02:00"
    assert data["query"].startswith("/data/query?market=DE-LU&start=2024-03-01&end=2024-04-01&bucket=1d")
    summary = data["summary"]
    assert f"mean {expected['mean']:,.2f} EUR/MWh over 31 buckets" in summary
    assert f"lowest {expected['low']:,.2f} on {expected['low_day']}" in summary
    assert f"highest {expected['high']:,.2f} on {expected['high_day']}" in summary
    assert "[D1]" in body["answer"]
    assert summary in body["answer"]
    same = (await rag_hub.get(data["query"])).json()["series"][0]["points"]
    assert len(same) == 31


async def test_the_chat_model_gets_the_numbers_in_its_context(
    generative_hub: tuple[Client, OllamaTestServer], hub_dsn: str
) -> None:
    client, server = generative_hub
    await load_prices(client)
    expected = await expected_march(hub_dsn)
    response = await client.post("/rag/ask", json={"question": "Explain the EPEX price trend in March 2024"})
    body = response.json()
    assert body["mode"] == "generative"
    assert body["data"][0]["ref"] == "D1"
    prompt = [b for kind, b in server.requests if kind == "chat"][-1]["messages"][-1]["content"]
    assert "[D1] data query /data/query?market=DE-LU" in prompt
    assert f"mean {expected['mean']:,.2f} EUR/MWh" in prompt
    assert prompt.count("\n2024-03-") == 31


async def test_a_market_without_period_is_noted(rag_hub: Client) -> None:
    response = await rag_hub.post("/rag/ask", json={"question": "How did the EPEX day-ahead price develop?"})
    body = response.json()
    assert body["data"] == []
    assert any("no period" in note for note in body["notes"])


@pytest.mark.parametrize("stream", [False, True])
async def test_an_impossible_date_in_a_question_is_a_422_not_a_500(rag_hub: Client, stream: bool) -> None:
    await load_prices(rag_hub)
    question = {"question": "What was the DE-LU price on 2024-02-30?", "stream": stream}
    response = await rag_hub.post("/rag/ask", json=question)
    if not stream:
        assert response.status_code == 422, response.text
        assert response.json()["reason"] == "impossible_period"
        return
    assert "event: error" in response.text, response.text
    assert "impossible_period" in response.text
