"""Footprint of a real ``luna-agent run`` polling 20 simulated SDM630 meters every second (58 values each).

The meters are served by another process; only the agent process is measured (/proc: RSS, user+system CPU).
The "raw baseline" column holds the budget (80 MB, 10 % of one core): a ratio below 1 meets it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import msgspec

from bench.report import Result
from luna_agent.api.views import AgentStatusView

METERS = 20
SECONDS = float(os.environ.get("BENCH_FOOTPRINT_SECONDS", "60"))
WARM_UP_S = 5.0
BIN = Path(sys.executable).parent
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _config(folder: Path, ports: list[int]) -> Path:
    devices = "\n".join(
        f'[[devices]]\nid = "meter-{n}"\nprofile = "sdm630"\nhost = "127.0.0.1"\nport = {port}\ninterval_s = 1\n'
        for n, port in enumerate(ports)
    )
    path = folder / "footprint.toml"
    path.write_text(f'data_dir = "{folder / "data"}"\n[log]\nlevel = "WARNING"\n\n{devices}', encoding="utf-8")
    return path


def _status(url: str) -> AgentStatusView:
    with urllib.request.urlopen(f"{url}/status", timeout=10) as response:  # noqa: S310 - loopback
        return msgspec.json.decode(response.read(), type=AgentStatusView)


def run() -> list[Result]:
    """Run the agent for SECONDS after a warm-up and report peak RSS and mean CPU."""
    meters = subprocess.Popen(
        [sys.executable, "-m", "bench.agent_meters", str(METERS)], stdout=subprocess.PIPE, text=True
    )
    assert meters.stdout is not None
    ports = json.loads(meters.stdout.readline())
    with tempfile.TemporaryDirectory(prefix="luna-footprint-") as folder:
        config = _config(Path(folder), ports)
        log = Path(folder) / "agent.log"
        with log.open("wb") as handle:
            agent = subprocess.Popen(
                [str(BIN / "luna-agent"), "run", "-c", str(config), "--port", "0"],
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        try:
            url = ""
            deadline = time.monotonic() + 60
            while not url and time.monotonic() < deadline:
                text = log.read_text(encoding="utf-8", errors="replace")
                url = next(
                    (line.split(" ready at ")[1].strip() for line in text.splitlines() if " ready at " in line), ""
                )
                time.sleep(0.1)
            time.sleep(WARM_UP_S)
            depth_before = _status(url).buffer.depth
            cpu_before, started = _cpu_seconds(agent.pid), time.monotonic()
            peak_rss = 0.0
            while time.monotonic() - started < SECONDS:
                peak_rss = max(peak_rss, _rss_mb(agent.pid))
                time.sleep(1)
            cpu = (_cpu_seconds(agent.pid) - cpu_before) / (time.monotonic() - started) * 100
            status = _status(url)
            stored = status.buffer.depth - depth_before
            missed = sum(d.missed_runs for d in status.devices)
            up = sum(1 for d in status.devices if d.state == "up")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
            meters.send_signal(signal.SIGINT)
            meters.wait(timeout=30)
    note = (
        f"{METERS} meters x 58 values every 1 s for {SECONDS:.0f} s: {up} up, {stored:,} readings stored "
        f"({stored / SECONDS:,.0f}/s), {missed} missed runs; synchronous=full"
    )
    return [
        Result("agent", "peak RSS, 20 meters @ 1 s", peak_rss, "MB", 80.0, f"{peak_rss:.1f} MB, budget 80 MB; {note}"),
        Result("agent", "CPU, 20 meters @ 1 s", cpu, "% of a core", 10.0, f"{cpu:.1f} %, budget 10 % of one core"),
    ]
