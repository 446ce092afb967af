"""``luna-hub serve`` logs calmly (issue 23): a normal start and ordinary requests write no warning,
no error, no traceback and no access line at the default level (access lines are debug lines)."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.processes import BIN, ManagedProcess, free_port


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_a_normal_start_and_a_few_requests_log_only_info_and_no_access_lines(tmp_path: Path, hub_dsn: str) -> None:
    env = {**os.environ, "LUNA_DATA_DIR": str(tmp_path / "hub"), "LUNA_DATABASE_URL": hub_dsn}
    env |= {"LUNA_LOG__FORMAT": "json", "LUNA_LOG__LEVEL": "info"}
    with ManagedProcess(
        [str(BIN / "luna-hub"), "serve", "--port", str(free_port())], log=tmp_path / "hub.log", env=env
    ) as hub:
        url = hub.wait_ready(timeout=120)["luna-hub"]
        answers = [get(f"{url}{path}") for path in ("/", "/health", "/catalog", "/no-such-route", "/schema")]
        assert hub.interrupt(signal.SIGINT) == 0
        output = hub.output()
    assert answers == [200, 200, 401, 404, 200]
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert "Traceback" not in output
    assert [r for r in records if r["level"] not in {"info", "debug"}] == []
    assert [r for r in records if r.get("logger") == "uvicorn.access" or '"GET /' in r["event"]] == []
    assert any(r["event"] == "database pool ready" for r in records)  # the start-up states are there, at info
