"""``luna-hub documents add`` as a real process against a real PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import asyncpg

from support.databases import fresh_database
from support.processes import BIN

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def luna_hub(*args: str, dsn: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUNA_DATABASE_URL": dsn, "LUNA_DOCUMENTS__STORE_DIR": str(store)}
    return subprocess.run(
        [str(BIN / "luna-hub"), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_documents_add_has_help() -> None:
    result = subprocess.run(
        [str(BIN / "luna-hub"), "documents", "add", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "--document-id" in result.stdout


async def test_documents_add_reports_progress_outcome_and_rejections(pg_admin_dsn: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n not really a pdf")
    page = FIXTURES / "tariff_notice.html"
    async with fresh_database(pg_admin_dsn) as dsn:
        first = luna_hub("documents", "add", str(page), str(broken), dsn=dsn, store=tmp_path / "store")
        again = luna_hub("documents", "add", str(page), dsn=dsn, store=tmp_path / "store")
        connection = await asyncpg.connect(dsn)
        try:
            documents = await connection.fetch("SELECT document_id, title, current_version FROM documents")
            chunks = await connection.fetchval("SELECT count(*) FROM chunks")
        finally:
            await connection.close()
    assert first.returncode == 1, first.stderr  # one of the two files was rejected
    [added] = [line for line in first.stdout.splitlines() if line.startswith(str(page))]
    assert added.endswith(f"version 1: {chunks} chunks ({chunks} new)")
    assert "done 100%" in first.stderr
    assert f"luna-hub: {broken}: broken.pdf is not a readable PDF" in first.stderr
    assert again.returncode == 0
    assert "already stored as" in again.stdout
    assert [(row["title"], row["current_version"]) for row in documents] == [("Dynamic tariff notice", 1)]
    assert chunks >= 1
    assert len(list((tmp_path / "store").rglob("*.bin"))) == 1


async def test_documents_add_for_a_site_stores_it_on_the_document(pg_admin_dsn: str, tmp_path: Path) -> None:
    page = FIXTURES / "tariff_notice.html"
    async with fresh_database(pg_admin_dsn) as dsn:
        added = luna_hub("documents", "add", "--site", "cli-villa", str(page), dsn=dsn, store=tmp_path / "store")
        connection = await asyncpg.connect(dsn)
        try:
            sites = await connection.fetch(
                "SELECT d.site_id, s.site_id AS known FROM documents d JOIN sites s USING (site_id)"
            )
        finally:
            await connection.close()
    assert added.returncode == 0, added.stderr
    assert [(row["site_id"], row["known"]) for row in sites] == [("cli-villa", "cli-villa")]
