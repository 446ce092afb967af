"""A real ``luna-hub serve`` stopped or killed while it works on an upload (issues 16, 20).

A 1.6 MB DOCX unpacking to 419 MB once held the hub through SIGTERM for minutes. Parsing now runs in
a child process the hub kills when it stops; here the hub gets SIGTERM (to its own process only, as
a container runtime sends it, so the hub must end its parsing child itself) while it extracts a PDF
of 20,000 text pages that takes minutes to parse, and must exit promptly, cleanly, and leave the
job queued for the next hub rather than "running" for ever.

``kill -9`` mid-job: nothing ends the job; its heartbeat goes stale, the restarted hub queues it
again and runs it, and the document ends up indexed exactly once: as many chunk rows and vectors as
a clean run of a PDF of the same shape.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from qdrant_client import QdrantClient, models

from support.system import HubRun

PAGES = 20_000
STOP_WITHIN_S = 20.0


def many_page_pdf(pages: int, label: str, lines: int = 60) -> bytes:
    """A valid PDF of ``pages`` pages, each with ``lines`` lines of text (one content stream shared by all)."""
    text = b"".join(b"(Der Arbeitspreis betraegt %d Cent je Kilowattstunde.) Tj T* " % i for i in range(lines))
    content = b"BT /F1 9 Tf 11 TL 40 800 Td (" + label.encode() + b") Tj T* " + text + b"ET"
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
    page += b" /Contents 4 0 R >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (5 + i) for i in range(pages)) + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        *[page] * pages,
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def job_of(client: httpx.Client, document_id: str) -> dict[str, Any]:
    response = client.get(f"/documents/{document_id}", params={"text": "false", "chunks": "false"})
    if response.status_code == 404:  # its first version failed and was undone: the reason is in the detail
        return {"state": "failed", "error": response.json()["detail"]}
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["job"]
    return job


def wait_for_extraction(client: httpx.Client, document_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = job_of(client, document_id)
        if job["stage"].startswith("extracting page"):
            return job
        assert job["state"] in {"queued", "running"}, job
        time.sleep(0.2)
    msg = f"the job did not start extracting within {timeout} s"
    raise AssertionError(msg)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_while_extracting_a_huge_upload_stops_the_hub_promptly_and_queues_the_job_again(hub: HubRun) -> None:
    hub.start()
    assert hub.process is not None
    process = hub.process.process
    pdf = many_page_pdf(PAGES, f"shutdown test {uuid.uuid4().hex}")  # unique bytes: uploads deduplicate
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        upload = client.post("/documents", files={"file": ("huge-manual.pdf", pdf, "application/pdf")})
        assert upload.status_code == 202, upload.text
        document_id = upload.json()["document_id"]
        running = wait_for_extraction(client, document_id)
    assert running["state"] == "running"
    stopping = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)  # the hub alone, not its process group
    try:
        code = process.wait(STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        hub.kill()
        raise AssertionError(f"still running {STOP_WITHIN_S} s after SIGTERM:\n{hub.process.output()}") from None
    took = time.monotonic() - stopping
    output = hub.process.output()
    assert code == 0, output
    assert "Traceback" not in output, output
    for _ in range(100):  # the parsing child and the forkserver end with the hub (at most 10 s)
        if not group_alive(process.pid):
            break
        time.sleep(0.1)
    assert not group_alive(process.pid), "a process of the stopped hub is still running"
    hub.stop()  # already stopped: closes its log
    hub.start()
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        again = wait_for_extraction(client, document_id)  # the restarted hub took it up again
    assert again["state"] == "running", again
    assert again["attempts"] == 1, again  # a clean stop did not use up an attempt
    assert again["error"] is None, again
    print(f"stopped {took:.1f} s after SIGTERM")


KILLED_PAGES = 20  # 480 texts to embed: 8 batches, some 20 s of indexing


def index_batches_since(dsn: str, since: datetime) -> int:
    """Embedding batches written to the model audit log while indexing, since ``since`` (one row per batch)."""

    async def count() -> int:
        connection = await asyncpg.connect(dsn)
        try:
            found: int = await connection.fetchval(
                "SELECT count(*) FROM model_calls WHERE endpoint = 'index' AND at > $1", since
            )
            return found
        finally:
            await connection.close()

    return asyncio.run(count())


def vector_counts(data_dir: str, document_ids: list[str]) -> dict[str, dict[int, int]]:
    """Points per version of each document in the (stopped) hub's local Qdrant."""
    client = QdrantClient(path=f"{data_dir}/qdrant")
    try:
        counts: dict[str, dict[int, int]] = {}
        for document_id in document_ids:
            found: dict[int, int] = {}
            offset = None
            while True:
                points, offset = client.scroll(
                    "chunks_usem3_512",
                    scroll_filter=models.Filter(
                        must=[models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))]
                    ),
                    limit=1024,
                    offset=offset,
                    with_payload=["version"],
                )
                for point in points:
                    assert point.payload is not None
                    found[point.payload["version"]] = found.get(point.payload["version"], 0) + 1
                if offset is None:
                    break
            counts[document_id] = found
        return counts
    finally:
        client.close()


def chunk_rows(client: httpx.Client, document_id: str) -> int:
    response = client.get(f"/documents/{document_id}", params={"text": "false"})
    assert response.status_code == 200, response.text
    return len(response.json()["chunks"])


def wait_for_job(client: httpx.Client, document_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := job_of(client, document_id))["state"] not in {"done", "failed"}:
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    return job


def test_a_job_left_running_by_a_killed_hub_is_picked_up_again_and_done_exactly_once(hub: HubRun) -> None:
    """``kill -9`` (or power lost) mid-indexing: the restarted hub runs the job again; indexed once, as a clean run."""
    hub.extra_env["LUNA_DOCUMENTS__JOB_HEARTBEAT_S"] = "1"  # abandoned after 4 s without one
    hub.start()
    tag = uuid.uuid4().hex
    clean_pdf, killed_pdf = (many_page_pdf(KILLED_PAGES, f"{name} {tag}") for name in ("clean", "kills"))
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        upload = client.post("/documents", files={"file": ("clean.pdf", clean_pdf, "application/pdf")})
        assert upload.status_code == 202, upload.text
        clean_id = upload.json()["document_id"]
        clean = wait_for_job(client, clean_id)
        assert clean["state"] == "done", clean
        started = datetime.now(UTC)
        upload = client.post("/documents", files={"file": ("killed.pdf", killed_pdf, "application/pdf")})
        assert upload.status_code == 202, upload.text
        killed_id = upload.json()["document_id"]
        deadline = time.monotonic() + 300
        # batch 2's audit row: batch 1's vectors are written (an attempt embeds, audits, then upserts a batch)
        while index_batches_since(hub.dsn, started) < 2:
            job = job_of(client, killed_id)
            assert job["state"] in {"queued", "running"}, job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job_of(client, killed_id)["state"] == "running"
    hub.kill()
    hub.start()
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        done = wait_for_job(client, killed_id)
        assert done["state"] == "done", done
        assert done["attempts"] == 2, done  # the killed attempt and the one that finished
        assert done["chunks"] == clean["chunks"], (done, clean)
        rows = {document_id: chunk_rows(client, document_id) for document_id in (clean_id, killed_id)}
        assert rows == {clean_id: clean["chunks"], killed_id: clean["chunks"]}
    hub.stop()
    vectors = vector_counts(str(hub.folder), [clean_id, killed_id])
    assert vectors[killed_id] == {1: vectors[clean_id][1]}, vectors  # one version's points, as many as a clean run
    print(f"killed mid-indexing; picked up again: {done['chunks']} chunks, {vectors[killed_id][1]} points")
