"""``POST /embed`` within bounds (issue 16): 256 texts of 20,000 characters took 277 s and stalled the hub.

Per call at most ``rag.embed_max_texts`` texts and ``rag.embed_max_chars`` characters (413 naming the
setting), per caller ``rag.embed_chars_per_minute`` (429 with Retry-After), and the model is lent out
in small pieces, so a question asked meanwhile is answered before a large embedding call is done.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.errors import TooManyRequestsError
from luna_hub.problems import PROBLEM_JSON
from luna_hub.rag.limits import CharacterBudget
from luna_hub.settings import HubSettings, RagSettings
from support.hub import migrated_pool, ready_client, served_hub

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def small_budget_hub(hub_dsn: str) -> AsyncIterator[Client]:
    rag = RagSettings(embed_max_texts=4, embed_max_chars=100, embed_chars_per_minute=100)
    async with ready_client(HubSettings(database_url=hub_dsn, rag=rag)) as client:
        yield client


async def test_the_issues_call_of_256_texts_of_20000_characters_is_413(hub: Client) -> None:
    response = await hub.post("/embed", json={"texts": ["Stromsteuer " * 1666] * 256})
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "rag.embed_max_texts is 64" in response.json()["detail"]


async def test_too_many_characters_in_one_call_is_413_naming_the_setting(hub: Client) -> None:
    response = await hub.post("/embed", json={"texts": ["x" * 20_000] * 3})
    assert response.status_code == 413
    assert "60000 characters; rag.embed_max_chars is 50000" in response.json()["detail"]


async def test_a_caller_beyond_its_budget_gets_429_with_retry_after(small_budget_hub: Client) -> None:
    first = await small_budget_hub.post("/embed", json={"texts": ["Stromsteuer " * 5]})
    assert first.status_code == 200
    second = await small_budget_hub.post("/embed", json={"texts": ["Stromsteuer " * 5]})
    assert second.status_code == 429
    assert second.headers["content-type"] == PROBLEM_JSON
    problem = second.json()
    assert "rag.embed_chars_per_minute (100)" in problem["detail"]
    assert int(second.headers["retry-after"]) == problem["retry_after"] >= 1


async def test_a_question_is_answered_while_a_large_embedding_runs(hub_dsn: str, tmp_path: Path) -> None:
    done: list[str] = []
    texts = [f"Der Arbeitspreis beträgt {n} Cent je Kilowattstunde im Tarif {n}. " * 12 for n in range(64)]
    settings = HubSettings(database_url=hub_dsn, data_dir=str(tmp_path))
    async with served_hub(settings) as url, httpx.AsyncClient(base_url=url, timeout=120) as client:
        await client.post("/embed", json={"texts": ["warm up"]})

        async def embed_large() -> None:
            response = await client.post("/embed", json={"texts": texts})
            assert response.status_code == 200, response.text[:300]
            done.append("embed")

        async def ask() -> None:
            await asyncio.sleep(0)  # the embedding call goes first
            response = await client.post("/rag/ask", json={"question": "Wie hoch ist der Arbeitspreis?"})
            assert response.status_code == 200
            done.append("ask")

        await asyncio.gather(embed_large(), ask())
    assert done == ["ask", "embed"]


async def test_two_hub_replicas_share_one_callers_budget(hub_dsn: str) -> None:
    """Issue 16: the budget was kept per process, so N replicas behind a load balancer allowed N budgets."""
    rag = RagSettings(embed_max_texts=4, embed_max_chars=100, embed_chars_per_minute=100)
    settings = HubSettings(database_url=hub_dsn, rag=rag)
    full = {"texts": ["x" * 100]}
    async with ready_client(settings) as one, ready_client(settings) as other:
        shared = {"Authorization": one.headers["Authorization"]}  # one caller (API key user) on both replicas
        assert (await one.post("/embed", json=full)).status_code == 200
        refused = await other.post("/embed", json=full, headers=shared)
        assert refused.status_code == 429, refused.text[:300]
        assert "rag.embed_chars_per_minute (100)" in refused.json()["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await one.post("/embed", json=full)).status_code == 429
        assert (await other.post("/embed", json=full)).status_code == 200  # its own user: a budget of its own


class Clock:
    """A stand-in for the database's clock: seconds after a fixed instant long ago."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=self.seconds)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.tuples(st.integers(0, 120), st.integers(1, 100), st.booleans()), max_size=30))
async def test_a_caller_never_spends_more_than_its_budget_allows(
    hub_dsn: str, calls: list[tuple[int, int, bool]]
) -> None:
    """Two budgets on one database (two replicas) take turns, as a load balancer sends a caller's calls."""
    clock = Clock()
    caller, someone_else = f"caller-{uuid.uuid4().hex}", f"other-{uuid.uuid4().hex}"
    async with migrated_pool(hub_dsn) as pool:
        replicas = [CharacterBudget(pool, 60, setting="rag.embed_chars_per_minute", clock=clock) for _ in range(2)]
        spent = 0
        waits = []
        for wait, amount, second in calls:
            clock.seconds += wait
            try:
                await replicas[second].take(caller, amount)
                spent += amount
            except TooManyRequestsError as refused:
                waits.append(refused.retry_after)
            assert spent <= 60 + clock.seconds  # capacity plus one character a second since the start
            await replicas[not second].take(someone_else, 1)  # callers do not share a budget
    assert all(wait >= 1 for wait in waits)


async def test_buckets_untouched_for_a_minute_are_pruned(hub_dsn: str) -> None:
    clock = Clock()
    async with migrated_pool(hub_dsn) as pool:
        budget = CharacterBudget(pool, 60, setting="rag.embed_chars_per_minute", clock=clock)
        old, new = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
        await budget.take(old, 60)
        clock.seconds += 61
        await budget.take(new, 1)
        rows = await pool.fetch("SELECT caller FROM embed_budgets WHERE caller = ANY($1::text[])", [old, new])
        assert [row["caller"] for row in rows] == [new]
        await budget.take(old, 60)  # full again, as if it had been kept


async def test_concurrent_calls_of_one_caller_never_spend_the_same_characters_twice(hub_dsn: str) -> None:
    clock = Clock()  # stands still: nothing refills while they race
    caller = f"racer-{uuid.uuid4().hex}"
    async with migrated_pool(hub_dsn, max_size=6) as pool:
        replicas = [CharacterBudget(pool, 60, setting="rag.embed_chars_per_minute", clock=clock) for _ in range(2)]
        outcomes = await asyncio.gather(*(replicas[n % 2].take(caller, 10) for n in range(12)), return_exceptions=True)
    assert sum(outcome is None for outcome in outcomes) == 6
    assert all(isinstance(outcome, TooManyRequestsError) for outcome in outcomes if outcome is not None)
