"""Fixtures of the documents tests: an S3 stand-in, and the hub on a database of its own with a recording index."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from luna_hub.settings import DocumentSettings
from support.databases import database_for_session
from support.documents import DocsHub, docs_hub_client, empty_tables
from support.processes import free_port

__all__ = ["docs_dsn", "docs_hub", "s3_endpoint"]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port for the whole session: the stand-in for MinIO."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def docs_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A database for the documents API tests alone (uploads deduplicate across the whole database)."""
    with database_for_session(pg_admin_dsn, "luna_docs_test") as dsn:
        yield dsn


@pytest.fixture
async def docs_hub(docs_dsn: str, tmp_path: Path) -> AsyncIterator[DocsHub]:
    """The hub with a filesystem store under ``tmp_path`` and uploads up to 1 MB; tables emptied afterwards."""
    try:
        async with docs_hub_client(docs_dsn, tmp_path, DocumentSettings(max_upload_bytes=1_000_000)) as hub:
            yield hub
    finally:
        await empty_tables(docs_dsn)
