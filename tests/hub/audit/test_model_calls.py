"""The model audit log: append-only, hash-chained, verified by ``luna-hub audit verify``, listed at ``GET /audit``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator

import asyncpg
import pytest

from luna_hub.audit.schemas import ChunkRef, ModelCall, ModelCallFilter
from luna_hub.audit.services import list_model_calls, record_model_call, verify_model_calls
from support.databases import fresh_database
from support.hub import migrated_pool
from support.processes import BIN


def call(number: int, *, operation: str = "generate") -> ModelCall:
    return ModelCall(
        actor="alice",
        endpoint="/rag/ask",
        operation=operation,  # type: ignore[arg-type]
        model="llama3.1:8b-instruct-q4_K_M",
        model_digest="sha256:" + "ab" * 32,
        prompt=f"Question {number}: what does § 3 say?",
        answer=f"Answer {number} [1]",
        latency_ms=12.5 + number,
        params={"num_ctx": 8192, "temperature": 0.1, "nested": {"b": [1, 2.5], "a": None}},
        chunks=[ChunkRef(chunk_id=f"d:1:{number}", content_hash="sha256:" + "cd" * 32)],
        prompt_tokens=100 + number,
        completion_tokens=None if number % 2 else 7,
    )


@pytest.fixture
async def own_db(pg_admin_dsn: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A database of its own: these tests tamper with the log as superuser."""
    async with fresh_database(pg_admin_dsn) as dsn, migrated_pool(dsn) as pool:
        yield dsn, pool


def verify_cli(dsn: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUNA_DATABASE_URL": dsn}
    return subprocess.run(
        [str(BIN / "luna-hub"), "audit", "verify"], capture_output=True, text=True, timeout=60, env=env, check=False
    )


async def test_calls_form_an_intact_chain(own_db: tuple[str, asyncpg.Pool]) -> None:
    dsn, pool = own_db
    ids = [await record_model_call(pool, call(n)) for n in range(4)]
    async with pool.acquire() as connection:
        report = await verify_model_calls(connection)
        links = await connection.fetch("SELECT prev_hash, row_hash FROM model_calls ORDER BY call_id")
    assert report.ok
    assert report.rows == 4
    assert all(links[i]["prev_hash"] == links[i - 1]["row_hash"] for i in range(1, 4))
    page = await list_model_calls(pool, ModelCallFilter(actor="alice", limit=3))
    assert [c.call_id for c in page.calls] == ids[::-1][:3]
    assert page.calls[0].chunks[0].chunk_id == "d:1:3"
    assert page.calls[0].params["nested"] == {"a": None, "b": [1, 2.5]}
    result = verify_cli(dsn)
    assert result.returncode == 0, result.stderr
    assert "4 rows, hash chain intact" in result.stdout


async def test_the_database_refuses_changes(own_db: tuple[str, asyncpg.Pool]) -> None:
    _, pool = own_db
    await record_model_call(pool, call(1))
    async with pool.acquire() as connection:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("UPDATE model_calls SET answer = 'something else'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("DELETE FROM model_calls")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("TRUNCATE model_calls")


async def _as_superuser_without_trigger(pool: asyncpg.Pool, sql: str, call_id: int) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("ALTER TABLE model_calls DISABLE TRIGGER model_calls_append_only")
        await connection.execute(sql, call_id)
        await connection.execute("ALTER TABLE model_calls ENABLE TRIGGER model_calls_append_only")


async def test_a_changed_answer_is_found_and_named(own_db: tuple[str, asyncpg.Pool]) -> None:
    dsn, pool = own_db
    ids = [await record_model_call(pool, call(n)) for n in range(5)]
    await _as_superuser_without_trigger(pool, "UPDATE model_calls SET answer = 'forged' WHERE call_id = $1", ids[2])
    async with pool.acquire() as connection:
        report = await verify_model_calls(connection)
    assert not report.ok
    assert report.broken_call_id == ids[2]
    assert "changed" in report.reason
    result = verify_cli(dsn)
    assert result.returncode == 1
    assert f"broken at call {ids[2]}" in result.stderr


async def test_a_removed_row_is_found_at_the_next(own_db: tuple[str, asyncpg.Pool]) -> None:
    _, pool = own_db
    ids = [await record_model_call(pool, call(n)) for n in range(5)]
    await _as_superuser_without_trigger(pool, "DELETE FROM model_calls WHERE call_id = $1", ids[1])
    async with pool.acquire() as connection:
        report = await verify_model_calls(connection)
    assert report.broken_call_id == ids[2]
    assert "removed" in report.reason


async def test_a_changed_parameter_is_found(own_db: tuple[str, asyncpg.Pool]) -> None:
    _, pool = own_db
    ids = [await record_model_call(pool, call(n)) for n in range(3)]
    await _as_superuser_without_trigger(
        pool, """UPDATE model_calls SET params = params || '{"num_ctx": 2048}' WHERE call_id = $1""", ids[0]
    )
    async with pool.acquire() as connection:
        assert (await verify_model_calls(connection)).broken_call_id == ids[0]
