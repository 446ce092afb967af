"""``luna-hub`` as a real process: help, configuration errors, serving on the embedded PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.processes import BIN, ManagedProcess, free_port


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "luna-hub"), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def health(url: str) -> dict[str, str]:
    """GET /health until it is 200: 'ready' means listening; the schema migrates in the background (503)."""
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=10) as response:  # noqa: S310 - loopback
                body: dict[str, str] = json.load(response)
                return body
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
        time.sleep(0.1)
    msg = "hub not healthy after 30 s"
    raise AssertionError(msg)


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"]])
def test_help_everywhere(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 0
    assert "usage: luna-hub" in result.stdout


def test_bad_config_file_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[server]\nhost = "127.0.0.1"\nport = "http"\n', encoding="utf-8")
    result = run("--config", str(config), "serve")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"luna-hub: configuration error: {config}:3: key 'server.port': Expected `int`, got `str`"
    )


@pytest.mark.slow
def test_serve_on_embedded_postgres_answers_health_and_stops_on_ctrl_c(tmp_path: Path, service_dir: Path) -> None:
    port = free_port()
    hub = ManagedProcess(
        [str(BIN / "luna-hub"), "serve", "--port", str(port)],
        log=tmp_path / "hub.log",
        env={"LUNA_DATA_DIR": str(service_dir / "hub"), "LUNA_LOG__FORMAT": "json"},
    )
    urls = hub.wait_ready()
    assert urls == {"luna-hub": f"http://127.0.0.1:{port}"}
    assert health(urls["luna-hub"])["database"].startswith("PostgreSQL 18")
    # A second command beside the server uses the same embedded server and leaves it running.
    beside = run("audit", "verify", env={**os.environ, "LUNA_DATA_DIR": str(service_dir / "hub")})
    assert beside.returncode == 0, beside.stderr
    assert "hash chain intact" in beside.stdout
    assert health(urls["luna-hub"])["status"] == "ok"
    assert hub.interrupt(signal.SIGINT) == 0
    output = hub.output()
    assert "Traceback" not in output
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert "stopping embedded PostgreSQL" in events
    assert not (service_dir / "hub" / "pgdata" / "postmaster.pid").exists()
