"""The README's first command: ``make run`` starts hub and agent, both answer, Ctrl-C stops both cleanly."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from support.processes import ManagedProcess, free_port

ROOT = Path(__file__).resolve().parents[1]


def _wait_for_readings(agent_url: str, timeout: float = 30) -> list[dict[str, object]]:
    """The agent polls its simulated SDM630 every 2 s; wait until readings show up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{agent_url}/readings/latest", timeout=10) as response:  # noqa: S310 - loopback
            latest: list[dict[str, object]] = json.load(response)
        if latest:
            return latest
        time.sleep(0.2)
    msg = f"no readings at {agent_url}/readings/latest after {timeout}s"
    raise AssertionError(msg)


def _wait_for_hub_readings(hub_url: str, agent_url: str, timeout: float = 60) -> list[dict[str, object]]:
    """Wait until the demo agent's voltage readings can be queried at the hub (the README's promise)."""
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    query = f"/data/query?meter=main-meter&metric=voltage_l1_v&start={today}&end={tomorrow}&tz=UTC&bucket=raw"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(hub_url + query, timeout=10) as response:  # noqa: S310 - loopback
            series = json.load(response)["series"]
        if series and series[0]["points"]:
            points: list[dict[str, object]] = series[0]["points"]
            return points
        time.sleep(0.5)
    with urllib.request.urlopen(f"{agent_url}/status", timeout=10) as response:  # noqa: S310 - loopback
        sync = json.load(response)["sync"]
    msg = f"no synced readings at {hub_url}{query} after {timeout}s; agent sync: {sync}"
    raise AssertionError(msg)


@pytest.mark.slow
def test_make_run_starts_the_system_and_ctrl_c_stops_it(tmp_path: Path, service_dir: Path) -> None:
    hub_port, agent_port = free_port(), free_port()
    system = ManagedProcess(
        ["make", "--no-print-directory", "run"],
        log=tmp_path / "run.log",
        cwd=ROOT,
        env={
            "LUNA_DATA_DIR": str(service_dir / "var"),
            "LUNA_SERVER__PORT": str(hub_port),
            "LUNA_STATUS_API__PORT": str(agent_port),
            "LUNA_LOG__FORMAT": "json",
            # the hub's port and data_dir (where it writes the demo agent's key) moved: tell the agent
            "LUNA_SYNC__HUB_URL": f"http://127.0.0.1:{hub_port}",
            "LUNA_SYNC__KEY_FILE": str(service_dir / "var" / "demo-agent.key"),
        },
    )
    urls = system.wait_ready(count=2, timeout=120)
    assert urls == {"luna-hub": f"http://127.0.0.1:{hub_port}", "luna-agent": f"http://127.0.0.1:{agent_port}"}
    for url in urls.values():
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:  # noqa: S310 - loopback
            assert json.load(response)["status"] == "ok"
    latest = _wait_for_readings(urls["luna-agent"])
    volts = next(r for r in latest if r["metric"] == "voltage_l1_v")
    assert (volts["meter_id"], volts["quality"]) == ("main-meter", "good")
    assert 200 < float(volts["value"]) < 260  # type: ignore[arg-type]
    if (ROOT.parent / "shared" / "data" / "prices").is_dir():  # the demo data sits next to the repository
        # The README's example: the DE-LU day-ahead prices of the 25-hour day 2024-10-27 (SMARD).
        query = "/data/query?market=DE-LU&start=2024-10-27&end=2024-10-28&bucket=1d&aggregate=avg"
        with urllib.request.urlopen(urls["luna-hub"] + query, timeout=10) as response:  # noqa: S310 - loopback
            day = json.load(response)["series"][0]["points"]
        assert len(day) == 1
        assert day[0]["count"] == 25
        assert round(day[0]["value"], 3) == 90.334

    # the agent syncs into the hub: its live readings are queryable there
    synced = _wait_for_hub_readings(urls["luna-hub"], urls["luna-agent"])
    assert synced[-1]["quality"] in {"good", "suspect"}
    assert 200 < float(synced[-1]["value"]) < 260  # type: ignore[arg-type]

    system.interrupt(signal.SIGINT)  # make itself dies of SIGINT, as in a terminal; what matters is below
    output = system.output()
    assert "Traceback" not in output
    events = [json.loads(line).get("event") for line in output.splitlines() if line.startswith("{")]
    assert events.count("Application shutdown complete.") == 2, output
    assert "stopping embedded PostgreSQL" in events
    assert not (service_dir / "var" / "pgdata" / "postmaster.pid").exists()
