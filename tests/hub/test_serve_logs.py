"""``luna-hub serve`` logs calmly (issue 23): a normal start and ordinary requests write no warning,
no error, no traceback (a client hanging up mid-upload included) and no access line at the default
level (access lines are debug lines)."""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.processes import BIN, ManagedProcess, free_port


def hang_up_mid_body(url: str, path: str, content_type: str = "text/csv") -> None:
    """Send a request announcing a 1 MB body, send part of it, and close the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        head = f"POST {path} HTTP/1.1\r\nHost: hub\r\nContent-Type: {content_type}\r\nContent-Length: 1000000\r\n\r\n"
        connection.sendall(head.encode() + b"meter_id,metric,ts,value\n" * 2000)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_a_normal_start_and_a_few_requests_log_only_info_and_no_access_lines(tmp_path: Path, hub_dsn: str) -> None:
    env = {**os.environ, "LUNA_DATA_DIR": str(tmp_path / "hub"), "LUNA_DATABASE_URL": hub_dsn}
    env |= {"LUNA_LOG__FORMAT": "json", "LUNA_LOG__LEVEL": "info", "LUNA_AUTH__REQUIRED": "false"}  # loopback
    with ManagedProcess(
        [str(BIN / "luna-hub"), "serve", "--port", str(free_port())], log=tmp_path / "hub.log", env=env
    ) as hub:
        url = hub.wait_ready(timeout=120)["luna-hub"]
        answers = [get(f"{url}{path}") for path in ("/", "/health", "/no-such-route", "/schema")]
        hang_up_mid_body(url, "/data/load?name=gone.csv")
        hang_up_mid_body(url, "/documents", "multipart/form-data; boundary=b")
        answers.append(get(f"{url}/health"))  # after the hang-ups, so their lines are written
        assert hub.interrupt(signal.SIGINT) == 0
        output = hub.output()
    assert answers == [200, 200, 404, 200, 200]
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert "Traceback" not in output
    assert [r for r in records if r["level"] not in {"info", "debug"}] == []
    assert [r for r in records if r.get("logger") == "uvicorn.access" or '"GET /' in r["event"]] == []
    assert any(r["event"] == "database pool ready" for r in records)  # the start-up states are there, at info
    gone = [r["path"] for r in records if r["event"] == "client disconnected before sending its whole request"]
    assert sorted(gone) == ["/data/load", "/documents"]
