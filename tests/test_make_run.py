"""The README's first command: ``make run`` starts hub, agent and simulated meters.

Both answer, the meters' readings reach the hub through the agent's sync, and Ctrl-C stops all.
"""

from __future__ import annotations

import json
import re
import signal
import stat
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.processes import ManagedProcess, free_port
from support.services import MqttBroker

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


def _get(url: str, key: str) -> object:
    """GET ``url`` as JSON with the demo's admin key (auth is required by default)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.load(response)


def _wait_for_series(hub_url: str, key: str, meter: str, metric: str, timeout: float = 60) -> list[dict[str, object]]:
    """The README's proof: the meter's readings, synced by the agent, in the hub's /data/query."""
    today = datetime.now(UTC).date()
    query = f"/data/query?meter={meter}&metric={metric}&start={today}&end={today + timedelta(days=2)}&bucket=raw"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            series = _get(hub_url + query, key)["series"]  # type: ignore[index]
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # the hub has not heard of the meter yet
                raise
            series = []
        if series and series[0]["points"]:
            points: list[dict[str, object]] = series[0]["points"]
            return points
        time.sleep(0.5)
    msg = f"no {meter} {metric} readings at {hub_url}/data/query after {timeout}s"
    raise AssertionError(msg)


def _ask_until_cited(hub_url: str, key: str, question: str, timeout: float = 180) -> dict[str, object]:
    """The demo documents load in the background: ask until the answer cites one of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{hub_url}/rag/ask",
            data=json.dumps({"question": question}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            answer: dict[str, object] = json.load(response)
        if answer.get("citations"):
            return answer
        time.sleep(2)
    msg = f"no cited answer to {question!r} after {timeout}s"
    raise AssertionError(msg)


@pytest.mark.slow
def test_make_run_starts_the_system_and_ctrl_c_stops_it(
    tmp_path: Path, service_dir: Path, mqtt_broker: MqttBroker
) -> None:
    assert (mqtt_broker.host, mqtt_broker.port) == ("127.0.0.1", 1883), "the demo plug publishes to the default broker"
    hub_port, agent_port = free_port(), free_port()
    with ManagedProcess(
        ["make", "--no-print-directory", "run"],
        log=tmp_path / "run.log",
        cwd=ROOT,
        env={
            "LUNA_DATA_DIR": str(service_dir / "var"),
            "LUNA_SERVER__PORT": str(hub_port),
            "LUNA_STATUS_API__PORT": str(agent_port),
            "LUNA_LOG__FORMAT": "json",
            # the demo agent syncs to the demo hub with the key the hub provisions (ports moved for the test)
            "LUNA_SYNC__HUB_URL": f"http://127.0.0.1:{hub_port}",
            "LUNA_SYNC__KEY_FILE": str(service_dir / "var" / "demo-agent.key"),
        },
    ) as system:  # killed with its children if the test fails half way
        urls = system.wait_ready(count=2, timeout=120)
        key_file = service_dir / "var" / "admin.key"
        assert f"luna-hub admin API key in {key_file}" in system.output()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        with pytest.raises(urllib.error.HTTPError, match="401"):  # secure by default, even the demo
            urllib.request.urlopen(urls["luna-hub"] + "/agents", timeout=10)  # noqa: S310 - loopback
        assert urls == {"luna-hub": f"http://127.0.0.1:{hub_port}", "luna-agent": f"http://127.0.0.1:{agent_port}"}
        for url in urls.values():
            with urllib.request.urlopen(f"{url}/health", timeout=10) as response:  # noqa: S310 - loopback
                assert json.load(response)["status"] == "ok"
        latest = _wait_for_readings(urls["luna-agent"])
        volts = next(r for r in latest if r["metric"] == "voltage_l1_v" and r["meter_id"] == "main-meter")
        assert volts["quality"] == "good"
        assert 200 < float(volts["value"]) < 260  # type: ignore[arg-type]
        # synced into the hub: the Modbus SDM630 and the Tasmota plug publishing through Mosquitto
        for meter, metric in (("main-meter", "voltage_l1_v"), ("fridge-plug", "power_w")):
            points = _wait_for_series(urls["luna-hub"], key, meter, metric)
            assert all(point["quality"] == "good" for point in points), points
            if metric == "voltage_l1_v":
                assert all(200 < float(point["value"]) < 260 for point in points)  # type: ignore[arg-type]
        if (ROOT.parent / "shared" / "data" / "prices").is_dir():  # the demo data sits next to the repository
            # The README's example: the DE-LU day-ahead prices of the 25-hour day 2024-10-27 (SMARD).
            query = "/data/query?market=DE-LU&start=2024-10-27&end=2024-10-28&bucket=1d&aggregate=avg"
            day = _get(urls["luna-hub"] + query, key)["series"][0]["points"]  # type: ignore[index]
            assert len(day) == 1
            assert day[0]["count"] == 25
            assert round(day[0]["value"], 3) == 90.334

        if (ROOT.parent / "shared" / "data" / "docs").is_dir():
            # /rag/ask answers out of the box from the sample documents, with citations (extractive default)
            answer = _ask_until_cited(urls["luna-hub"], key, "Welche Aufgaben hat der Messstellenbetreiber?")
            assert answer["mode"] == "extractive"
            citations = answer["citations"]
            assert isinstance(citations, list)
            assert all(citation["quote"] for citation in citations)

        system.interrupt(signal.SIGINT)  # make itself dies of SIGINT, as in a terminal; what matters is below
        output = system.output()
        assert "Traceback" not in output
        events = [json.loads(line).get("event") for line in output.splitlines() if line.startswith("{")]
        assert events.count("Application shutdown complete.") == 2, output
        assert "stopping embedded PostgreSQL" in events
        assert not (service_dir / "var" / "pgdata" / "postmaster.pid").exists()


def test_every_readme_curl_to_the_hub_sends_the_demo_admin_key() -> None:
    """The README's examples work as written against ``make run``: all but /health and /schema need the key."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    hub_curls = [line for line in lines if re.search(r"\bcurl\b.*127\.0\.0\.1:8080", line)]
    assert len(hub_curls) > 10
    for line in hub_curls:
        if not re.search(r"8080/(health|schema)", line):
            assert '-H "Authorization: Bearer $(cat var/hub/admin.key)"' in line, line
