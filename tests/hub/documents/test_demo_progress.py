"""``luna-hub serve --demo-data``: the background indexing of the demo documents says how far it is (issue 23)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from structlog.testing import capture_logs

from luna_hub.documents.demo import DEMO_DOCUMENTS
from support.documents import docs_hub_client, empty_tables


async def test_demo_indexing_logs_its_progress_document_by_document(docs_dsn: str, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    present = DEMO_DOCUMENTS[:2]  # laws, Markdown: quick to index; the others are missing (skipped)
    for relative in present:
        (demo / "docs" / relative).parent.mkdir(parents=True, exist_ok=True)
        (demo / "docs" / relative).write_text(f"# {relative}\n\nStrom kostet 32 Cent.\n", encoding="utf-8")
    try:
        with capture_logs() as logs:
            async with docs_hub_client(docs_dsn, tmp_path / "hub", demo_data=str(demo)):
                for _ in range(600):
                    if any(log["event"] == "demo documents ready" for log in logs):
                        break
                    await asyncio.sleep(0.1)
    finally:
        await empty_tables(docs_dsn)
    total = len(DEMO_DOCUMENTS)
    progress = [(log["progress"], log["document"]) for log in logs if log["event"] == "indexing demo documents"]
    assert progress == [(f"{number}/{total}", relative) for number, relative in enumerate(present, start=1)]
    (start,) = [log for log in logs if log["event"].startswith("indexing demo documents in the background")]
    assert start["documents"] == total
    (ready,) = [log for log in logs if log["event"] == "demo documents ready"]
    assert ready["added"] == 2
