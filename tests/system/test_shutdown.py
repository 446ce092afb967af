"""A real ``luna-hub serve`` stopped while it extracts a huge upload (issue 16).

A 1.6 MB DOCX unpacking to 419 MB once held the hub through SIGTERM for minutes. Parsing now runs in
a child process the hub kills when it stops; here the hub gets SIGTERM (to its own process only, as
a container runtime sends it, so the hub must end its parsing child itself) while it extracts a PDF
of 20,000 text pages that takes minutes to parse, and must exit promptly, cleanly, and leave the
job failed with its reason rather than "running" for ever.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import uuid
from typing import Any

import httpx

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


def test_sigterm_while_extracting_a_huge_upload_stops_the_hub_promptly_and_fails_the_job(hub: HubRun) -> None:
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
        job = job_of(client, document_id)
    assert job["state"] == "failed", job
    assert "the hub stopped" in job["error"], job
    print(f"stopped {took:.1f} s after SIGTERM")


def test_a_job_left_running_by_a_killed_hub_is_failed_after_restart(hub: HubRun) -> None:
    """``kill -9`` (or power lost): nothing ends the job; its missed heartbeats let the restarted hub fail it."""
    hub.extra_env["LUNA_DOCUMENTS__JOB_HEARTBEAT_S"] = "1"  # abandoned after 4 s without one
    hub.start()
    pdf = many_page_pdf(PAGES, f"kill test {uuid.uuid4().hex}")
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        upload = client.post("/documents", files={"file": ("huge-manual.pdf", pdf, "application/pdf")})
        assert upload.status_code == 202, upload.text
        document_id = upload.json()["document_id"]
        wait_for_extraction(client, document_id)
    hub.kill()
    hub.start()
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        deadline = time.monotonic() + 60
        while (job := job_of(client, document_id))["state"] != "failed" and time.monotonic() < deadline:
            time.sleep(0.5)
    assert job["state"] == "failed", job
    assert "abandoned: the hub running it stopped" in job["error"], job
