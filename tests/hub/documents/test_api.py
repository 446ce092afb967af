"""The /documents endpoints on a real PostgreSQL with the real files, through the app in process.

The ChunkIndex is a recording double (the seam to the rag domain, see conftest); everything else is
real: database, filesystem object store, extraction in the background job.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from luna_hub.documents.storage import S3Store
from luna_hub.settings import DocumentSettings, S3Settings
from support.documents import DOCS, DocsHub, docs_hub_client, empty_tables

FIXTURES = Path(__file__).resolve().parent / "fixtures"
real_docs = pytest.mark.skipif(not (DOCS / "laws" / "msbg.md").is_file(), reason=f"real documents not at {DOCS}")


async def upload(hub: DocsHub, path: Path | str, data: bytes | None = None, **form: str) -> Any:
    name = path if isinstance(path, str) else path.name
    content = data if data is not None else Path(path).read_bytes()  # noqa: ASYNC240 - small test files
    return await hub.client.post("/documents", files={"file": (name, content)}, data=form)


@real_docs
async def test_upload_extracts_in_the_background_and_serves_text_chunks_and_file(docs_hub: DocsHub) -> None:
    law = DOCS / "laws" / "stromgvv.md"
    response = await upload(docs_hub, law, document_id="stromgvv")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["document_id"], accepted["version"], accepted["deduplicated"]) == ("stromgvv", 1, False)
    assert accepted["job"]["state"] == "queued"
    finished = await docs_hub.wait_for_job("stromgvv")
    assert finished["job"]["state"] == "done", finished
    assert finished["job"]["progress"] == 1.0

    detail = (await docs_hub.client.get("/documents/stromgvv")).json()
    assert detail["current_version"] == 1
    assert detail["title"].startswith("Verordnung über Allgemeine Bedingungen für die Grundversorgung")
    [version] = detail["versions"]
    assert version["media_type"] == "text/markdown"
    assert version["ready"] is True
    chunks = detail["chunks"]
    assert len(chunks) == detail["job"]["chunks"] == detail["job"]["chunks_new"]
    assert all(detail["text"][c["char_start"] : c["char_end"]] == c["text"] for c in chunks)
    disconnection = [c for c in chunks if c["section"] and "§ 19 " in c["section"]]
    assert disconnection
    assert all(c["chunk_id"] == f"stromgvv:1:{c['ordinal']}" for c in chunks)
    assert docs_hub.index.content["stromgvv"] == (1, [c["content_hash"] for c in chunks])

    listed = (await docs_hub.client.get("/documents")).json()
    assert [(d["document_id"], d["current_version"], d["filename"]) for d in listed] == [("stromgvv", 1, "stromgvv.md")]
    download = await docs_hub.client.get("/documents/stromgvv/file")
    assert download.status_code == 200
    assert download.content == law.read_bytes()
    assert download.headers["content-type"].startswith("text/markdown")
    assert 'filename="stromgvv.md"' in download.headers["content-disposition"]


@real_docs
async def test_pdf_job_reports_page_progress_and_pages(docs_hub: DocsHub) -> None:
    manual = DOCS / "manuals" / "chint_dtsu666_user_manual.pdf"
    response = await upload(docs_hub, manual)
    assert response.status_code == 202, response.text
    document_id = response.json()["document_id"]
    seen: list[float] = []
    for _ in range(1200):
        job = (await docs_hub.client.get(f"/documents/{document_id}", params={"chunks": "false"})).json()["job"]
        seen.append(job["progress"])
        if job["state"] in {"done", "failed"}:
            break
        await asyncio.sleep(0.05)  # a bound in time (60 s), not in requests
    assert job["state"] == "done", job
    assert seen == sorted(seen)  # progress never goes back
    assert seen[-1] == 1.0
    detail = (await docs_hub.client.get(f"/documents/{document_id}")).json()
    assert detail["versions"][0]["pages"] == 21
    assert {c["page"] for c in detail["chunks"] if "Operation manual Page 10, Total 20" in c["text"]} == {11}


@real_docs
async def test_the_same_bytes_again_are_not_stored_or_indexed_again(docs_hub: DocsHub) -> None:
    law = DOCS / "laws" / "stromstg.md"
    first = (await upload(docs_hub, law)).json()
    await docs_hub.wait_for_job(first["document_id"])
    before = await docs_hub.snapshot()
    again = await upload(docs_hub, law, data=law.read_bytes())
    assert again.status_code == 200
    body = again.json()
    assert (body["document_id"], body["version"], body["deduplicated"]) == (first["document_id"], 1, True)
    renamed = await upload(docs_hub, "copy-of-stromstg.md", data=law.read_bytes())
    assert renamed.json()["document_id"] == first["document_id"]  # by content, whatever the name
    assert await docs_hub.snapshot() == before


@real_docs
async def test_a_new_version_keeps_history_and_only_changed_chunks_are_new(docs_hub: DocsHub) -> None:
    law = DOCS / "laws" / "msbg.md"
    original = law.read_bytes()
    await upload(docs_hub, law, document_id="msbg")
    first = await docs_hub.wait_for_job("msbg")
    total = first["job"]["chunks"]
    amended = original.replace(b"Zweck dieses Gesetzes ist", b"Zweck dieses (ge\xc3\xa4nderten) Gesetzes ist", 1)
    assert amended != original
    response = await upload(docs_hub, "msbg.md", data=amended, document_id="msbg")
    assert response.status_code == 202
    assert response.json()["version"] == 2
    second = await docs_hub.wait_for_job("msbg")
    assert second["job"]["state"] == "done"
    assert second["job"]["chunks"] == total
    assert 1 <= second["job"]["chunks_new"] <= 2  # the changed § 1 (and the chunk overlapping it), nothing else
    assert second["current_version"] == 2
    assert [v["version"] for v in second["versions"]] == [1, 2]
    old = await docs_hub.client.get("/documents/msbg/file", params={"version": 1})
    new = await docs_hub.client.get("/documents/msbg/file")
    assert (old.content, new.content) == (original, amended)
    assert len(list((docs_hub.store_dir / "msbg").glob("*.bin"))) == 2
    detail = (await docs_hub.client.get("/documents/msbg")).json()
    assert {c["version"] for c in detail["chunks"]} == {2}  # the table holds the current version only
    assert docs_hub.index.content["msbg"][0] == 2


@real_docs
@pytest.mark.parametrize(
    ("folder", "name", "status", "reason"),
    [
        ("edge_cases", "encrypted.pdf", 422, "encrypted"),
        ("edge_cases", "empty.pdf", 422, "empty"),
        ("edge_cases", "truncated.pdf", 422, "corrupt"),
        ("edge_cases", "not_a_docx.docx", 422, "corrupt"),
        ("manuals", "fronius_datamanager_modbus_tcp_rtu.pdf", 413, "too_large"),  # 1.17 MB; this hub takes 1 MB
    ],
)
async def test_bad_files_get_a_problem_and_store_nothing(
    docs_hub: DocsHub, folder: str, name: str, status: int, reason: str
) -> None:
    await upload(docs_hub, DOCS / "laws" / "stromgvv.md", document_id="kept")
    await docs_hub.wait_for_job("kept")
    before = await docs_hub.snapshot()
    response = await upload(docs_hub, DOCS / folder / name)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["reason"] == reason
    assert name in problem["detail"]
    assert await docs_hub.snapshot() == before
    again = await upload(docs_hub, DOCS / folder / name, document_id="kept")  # not as a new version either
    assert again.status_code == status
    assert await docs_hub.snapshot() == before


async def test_a_failure_mid_job_leaves_the_previous_version_everywhere(docs_hub: DocsHub) -> None:
    await upload(docs_hub, "notes.txt", data=b"First version.\n\nSecond paragraph.", document_id="notes")
    assert (await docs_hub.wait_for_job("notes"))["job"]["state"] == "done"
    before = await docs_hub.snapshot()
    docs_hub.index.fail_next = True  # the index takes the new chunks in, then fails
    response = await upload(docs_hub, "notes.txt", data=b"Changed version.\n\nSecond paragraph.", document_id="notes")
    assert response.status_code == 202
    failed = await docs_hub.wait_for_job("notes")
    assert failed["job"]["state"] == "failed"
    assert "vector store down (injected)" in failed["job"]["error"]
    assert failed["current_version"] == 1
    assert await docs_hub.snapshot() == before  # rows, stored files and index as before the upload


async def test_a_failed_first_upload_leaves_nothing_but_its_job(docs_hub: DocsHub) -> None:
    before = await docs_hub.snapshot()
    docs_hub.index.fail_next = True
    response = await upload(docs_hub, "fresh.md", data=b"# Fresh\n\nSome text.", document_id="fresh")
    assert response.status_code == 202
    gone = await docs_hub.wait_for_job("fresh")
    assert gone["status"] == 404
    assert "its upload failed: vector store down (injected)" in gone["detail"]
    assert await docs_hub.snapshot() == before
    assert (await docs_hub.client.get("/documents")).json() == []


async def test_delete_removes_rows_chunks_vectors_and_files(docs_hub: DocsHub) -> None:
    before = await docs_hub.snapshot()
    await upload(docs_hub, "a.txt", data=b"alpha one", document_id="gone")
    await docs_hub.wait_for_job("gone")
    await upload(docs_hub, "a.txt", data=b"alpha two", document_id="gone")
    await docs_hub.wait_for_job("gone")
    response = await docs_hub.client.delete("/documents/gone")
    assert response.status_code == 204
    assert docs_hub.index.removed == ["gone"]
    assert await docs_hub.snapshot() == before
    missing = await docs_hub.client.get("/documents/gone")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not found"
    assert (await docs_hub.client.delete("/documents/gone")).status_code == 404
    assert (await docs_hub.client.get("/documents/gone/file")).status_code == 404


@pytest.mark.parametrize("document_id", ["../x", "-lead", "a" * 65, "with space"])
async def test_bad_document_ids_are_refused(docs_hub: DocsHub, document_id: str) -> None:
    before = await docs_hub.snapshot()
    response = await upload(docs_hub, "x.txt", data=b"text", document_id=document_id)
    assert response.status_code == 400
    assert "document_id" in response.json()["detail"]
    assert await docs_hub.snapshot() == before


async def test_html_and_csv_uploads(docs_hub: DocsHub) -> None:
    fixtures = FIXTURES
    for name in ("tariff_notice.html", "meters_with_header.csv"):
        response = await upload(docs_hub, fixtures / name)
        assert response.status_code == 202
        body = await docs_hub.wait_for_job(response.json()["document_id"])
        assert body["job"]["state"] == "done"
    listed = {d["filename"]: d for d in (await docs_hub.client.get("/documents")).json()}
    assert listed["tariff_notice.html"]["title"] == "Dynamic tariff notice"
    assert listed["meters_with_header.csv"]["media_type"] == "text/csv"


async def test_the_same_bytes_uploaded_at_once_become_one_document(docs_hub: DocsHub) -> None:
    before = await docs_hub.snapshot()
    data = b"Uploaded twice at the same moment.\n"
    responses = await asyncio.gather(*(upload(docs_hub, f"twin-{n}.txt", data=data) for n in range(3)))
    bodies = [response.json() for response in responses]
    assert len({body["document_id"] for body in bodies}) == 1
    assert sorted(body["deduplicated"] for body in bodies) == [False, True, True]
    await docs_hub.wait_for_job(bodies[0]["document_id"])
    after = await docs_hub.snapshot()
    assert len(after["tables"]["document_versions"]) == len(before["tables"]["document_versions"]) + 1
    assert len(after["files"]) == len(before["files"]) + 2  # one version: its bytes and its description


async def test_documents_on_s3_keep_versions_and_delete_them_all(
    docs_dsn: str, s3_endpoint: str, tmp_path: Path
) -> None:
    """The same API over the S3 store (moto on loopback standing in for MinIO)."""
    bucket = f"luna-docs-{uuid.uuid4().hex[:10]}"
    documents = DocumentSettings(
        store="s3",
        s3=S3Settings(endpoint=s3_endpoint, bucket=bucket, access_key="test", secret_key="test", secure=False),  # noqa: S106
    )
    inspector = S3Store(endpoint=s3_endpoint, bucket=bucket, access_key="test", secret_key="test", secure=False)  # noqa: S106
    try:
        async with docs_hub_client(docs_dsn, tmp_path, documents) as hub:
            client = hub.client
            for text in (b"first text", b"second text"):
                response = await upload(hub, "s3.txt", data=text, document_id="on-s3")
                assert response.status_code == 202, response.text
                assert (await hub.wait_for_job("on-s3"))["job"]["state"] == "done"
            rejected = await upload(hub, "bad.pdf", data=b"%PDF-1.7 nonsense", document_id="on-s3")
            assert rejected.status_code == 422
            stored = await inspector.versions("on-s3")
            assert [len(v.content_hash) for v in stored] == [71, 71]
            assert [await inspector.get("on-s3", v.version_id) for v in stored] == [b"first text", b"second text"]
            old = await client.get("/documents/on-s3/file", params={"version": 1})
            assert old.content == b"first text"
            assert (await client.delete("/documents/on-s3")).status_code == 204
            assert await inspector.versions("on-s3") == []
    finally:
        inspector.close()
        await empty_tables(docs_dsn)


@real_docs
async def test_stopping_the_hub_mid_job_queues_it_for_the_next_hub(docs_dsn: str, tmp_path: Path) -> None:
    manual = DOCS / "manuals" / "fronius_datamanager_modbus_tcp_rtu.pdf"  # 100 pages: seconds of extraction
    try:
        async with docs_hub_client(docs_dsn, tmp_path) as hub:
            response = await upload(hub, manual, document_id="interrupted")
            assert response.status_code == 202
        # the client has left the app's lifespan: the job went back in the queue, nothing of it indexed
        stopped = await hub.snapshot()
        assert [row[0] for row in stopped["tables"]["documents"]] == ["interrupted"]
        assert stopped["tables"]["chunks"] == []
        assert stopped["index"] == {}
        connection = await asyncpg.connect(docs_dsn)
        try:
            job = await connection.fetchrow(
                "SELECT state, attempts FROM document_jobs WHERE document_id = 'interrupted'"
            )
        finally:
            await connection.close()
        assert (job["state"], job["attempts"]) == ("queued", 0)  # a clean stop does not use up an attempt
        async with docs_hub_client(docs_dsn, tmp_path) as again:  # the next start takes it up
            done = await again.wait_for_job("interrupted")
            assert (done["job"]["state"], done["job"]["attempts"]) == ("done", 1), done
            assert done["current_version"] == 1
            assert again.index.calls == [("interrupted", 1)]
            assert len(again.index.content["interrupted"][1]) == done["job"]["chunks"]
    finally:
        await empty_tables(docs_dsn)


@real_docs
async def test_demo_data_loads_the_sample_documents_once(docs_dsn: str, tmp_path: Path) -> None:
    """``serve --demo-data DIR`` uploads DIR/docs in the background; here with two of them."""
    shared = tmp_path / "shared-data"
    for relative in ("laws/stromgvv.md", "office/victron_gx_modbus_tcp_attributes.csv"):
        (shared / "docs" / relative).parent.mkdir(parents=True, exist_ok=True)
        (shared / "docs" / relative).write_bytes((DOCS / relative).read_bytes())
    settings_dir = tmp_path / "hub"
    try:
        for start in range(2):
            async with docs_hub_client(docs_dsn, settings_dir, demo_data=str(shared)) as hub:
                client = hub.client
                for document_id in ("stromgvv", "victron-gx-modbus-tcp-attributes"):
                    for _ in range(600):
                        response = await client.get(f"/documents/{document_id}", params={"text": "false"})
                        if response.status_code == 200 and response.json()["current_version"] == 1:
                            break
                        await asyncio.sleep(0.1)
                    body = await hub.wait_for_job(document_id)
                    assert body["current_version"] == 1, (start, body)
                    assert [v["uploaded_by"] for v in body["versions"]] == ["demo"]
            files = sorted(p.name for p in (settings_dir / "documents").rglob("*.bin"))
            assert len(files) == 2  # the second start found both by their hash
    finally:
        await empty_tables(docs_dsn)


async def test_openapi_describes_the_documents_endpoints(docs_hub: DocsHub) -> None:
    schema = (await docs_hub.client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    assert set(paths["/documents"]) == {"get", "post"}
    assert set(paths["/documents/{document_id}"]) == {"get", "delete"}
    assert "get" in paths["/documents/{document_id}/file"]
    assert "multipart/form-data" in paths["/documents"]["post"]["requestBody"]["content"]
