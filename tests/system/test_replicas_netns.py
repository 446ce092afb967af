"""Three hub replicas on hosts of their own, behind haproxy, survive a killed replica and one cut off the database.

Hosts are network namespaces on one bridge (see ``support.netlab``): a database host running a
throwaway PostgreSQL cluster (the machine's PostgreSQL binaries, as user postgres), three hub hosts
(``luna-hub serve``), a balancer host (Debian's haproxy, health checks on ``/health/ready``) and two
agent hosts with simulated agents (``support.lab_agents``) whose links lose and delay packets
(``tc netem``). The test process is the ops host: it serves the webhook receiver and a SMARD
stand-in (prices of today and tomorrow made up in SMARD's documented shape: nothing can be
downloaded here), and checks the database at the end.

While the agents sync, the replica holding the most duties is killed with SIGKILL and another is cut
off from the database (a blackhole route to the database host; PostgreSQL's TCP keepalives drop its
sessions, so its advisory locks are freed). Afterwards: every acknowledged reading is stored exactly
once, the agent that went quiet fired its offline alert once, the price import ran once per day, and
the document uploaded before the kill has exactly one job, done.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from luna_hub.auth.services import create_api_key, create_user
from support.netlab import Lab, netns_unavailable
from support.processes import BIN, ManagedProcess
from support.receivers import WebhookReceiver, webhook_receiver
from support.sync import Agent, make_agent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a whole lab of processes; its own bound is 5 min

HUBS = ("hub1", "hub2", "hub3")
PG_PORT = 5432
HUB_PORT = 8080
BERLIN = ZoneInfo("Europe/Berlin")
REPO = Path(__file__).resolve().parents[2]
_JWT_SECRET = secrets.token_hex(32)  # one for every replica: a token one signed, any accepts


@pytest.fixture
def lab() -> Iterator[Lab]:
    reason = netns_unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the replicas test must run in CI: {reason}")
        pytest.skip(reason)
    made = Lab.create(f"l{os.getpid() % 10000}")
    try:
        yield made
    finally:
        made.close()


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    assert found, "PostgreSQL server binaries are needed (.ci/run installs postgresql)"
    return found[-1].parent


def _database_host(lab: Lab, base: Path) -> str:
    """A PostgreSQL cluster on the db host, trusting the lab's subnet, dropping dead clients within seconds."""
    address = lab.add_host("db", 2)
    data = base / "pg"
    as_postgres = ["runuser", "-u", "postgres", "--"]
    lab.run("db", *as_postgres, str(_pg_bin() / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--no-sync")  # fmt: skip
    with (data / "pg_hba.conf").open("a", encoding="utf-8") as hba:
        hba.write(f"host all all {lab.address(0)}/24 trust\n")
    options = (
        f"-h {address} -p {PG_PORT} -k {base} -c max_connections=200 -c fsync=off"
        " -c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3"
    )
    lab.run("db", *as_postgres, str(_pg_bin() / "pg_ctl"), "-D", str(data), "-l", str(base / "pg.log"), "-w",
            "-o", options, "start")  # fmt: skip
    return f"postgresql://postgres@{address}:{PG_PORT}/luna"


class _Smard(BaseHTTPRequestHandler):
    """SMARD's chart data for quarter hours of the current weeks: an index and one file per week (made-up prices)."""

    requests: list[str] = []  # noqa: RUF012 - one server per test run

    def do_GET(self) -> None:
        self.requests.append(self.path)
        weeks = _weeks()
        if self.path.endswith("/index_quarterhour.json"):
            self._send({"timestamps": weeks})
            return
        stamp = int(self.path.rsplit("_", 1)[-1].removesuffix(".json"))
        if stamp not in weeks:
            self.send_error(404)
            return
        series = [[stamp + i * 900_000, round(50 + (i % 96) * 0.5, 2)] for i in range(8 * 96)]  # a week and a day
        self._send({"meta_data": {"version": 1, "created": stamp}, "series": series})

    def _send(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def _weeks() -> list[int]:
    """Timestamps (ms) of the Mondays 00:00 Berlin of the weeks around today, as SMARD's weekly files start."""
    today = datetime.now(BERLIN).date()
    monday = today - timedelta(days=today.weekday())
    days = [monday - timedelta(weeks=1), monday, monday + timedelta(weeks=1)]
    return [int(datetime(d.year, d.month, d.day, tzinfo=BERLIN).timestamp() * 1000) for d in days]


def _haproxy_config(lab: Lab) -> str:
    servers = "\n".join(f"    server {hub} {lab.hosts[hub]}:{HUB_PORT} check inter 500ms fall 2 rise 2" for hub in HUBS)
    return f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 60s
    retries 1
frontend hubs
    bind {lab.hosts["lb"]}:{HUB_PORT}
    default_backend replicas
    http-response set-header X-Served-By %s
backend replicas
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
{servers}
"""


async def _admin_key(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        await create_user(connection, "ops", role="admin")
        created = await create_api_key(connection, "ops", "replicas test")
    finally:
        await connection.close()
    return created.key


async def _migrate(dsn: str) -> None:
    """Create the hubs' database and migrate it with ``luna-hub migrate``."""
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute("CREATE DATABASE luna")
    finally:
        await admin.close()
    migrate = await asyncio.create_subprocess_exec(
        str(BIN / "luna-hub"),
        "migrate",
        env={**os.environ, "LUNA_DATABASE_URL": dsn},
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await migrate.wait() == 0


def _hub_env(lab: Lab, dsn: str, base: Path, hub: str, hook: str) -> dict[str, str]:
    return {
        "LUNA_DATABASE_URL": dsn,
        "LUNA_DATA_DIR": str(base / hub),
        "LUNA_DOCUMENTS__STORE_DIR": str(base / "objects"),  # one store for all replicas, as S3 would be
        "LUNA_AUTH__JWT_SECRET": _JWT_SECRET,
        "LUNA_LOG__LEVEL": "INFO",
        "LUNA_ROLLUP_REFRESH_SECONDS": "1",
        "LUNA_ALERTS__EVALUATE_EVERY_S": "1",
        "LUNA_ALERTS__PENDING_S": "0",
        "LUNA_ALERTS__AGENT_OFFLINE_AFTER_S": "12",
        "LUNA_ALERTS__GROUP_BY": '["alertname", "agent_id"]',
        "LUNA_ALERTS__WEBHOOK_URLS": json.dumps([hook]),
        "LUNA_DOCUMENTS__JOB_HEARTBEAT_S": "5",  # abandoned after 20 s: longer than the 12 s partition
        "LUNA_PRICES__ENABLED": "true",
        "LUNA_PRICES__SMARD_URL": f"http://{lab.hosts['ops']}:{_smard_port(lab)}/app/chart_data",
        "LUNA_PRICES__CHECK_EVERY_S": "1",
        "LUNA_PRICES__LOOKBACK_DAYS": "1",
        "LUNA_PRICES__RETRY_INITIAL_S": "1",
        "LUNA_PRICES__QUARTER_HOUR_FROM": "2025-10-01",
    }


def _smard_port(lab: Lab) -> int:
    return 18_000 + lab.subnet


async def _holders(dsn: str) -> dict[str, int]:
    """Advisory locks (duties) held per client address."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT host(a.client_addr) AS addr, count(*) AS n FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted GROUP BY 1"
        )
    finally:
        await connection.close()
    return {row["addr"]: row["n"] for row in rows}


async def _wait_ready(url: str, process: ManagedProcess, within: float = 60) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and process.process.poll() is None:
            try:
                if (await client.get(f"{url}/health/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    msg = f"{url} not ready within {within}s:\n{process.output()[-6000:]}"
    raise AssertionError(msg)


def _announced(receiver: WebhookReceiver) -> list[str]:
    """The days of the "tomorrow's prices are out" notices received."""
    return [
        alert["labels"]["day"]
        for body in receiver.bodies()
        for alert in body.get("alerts", [])
        if alert["labels"].get("alertname") == "prices_published"
    ]


def _firing(receiver: WebhookReceiver, alertname: str, agent_id: str) -> int:
    return sum(
        1
        for body in receiver.bodies()
        for alert in body.get("alerts", [])
        if alert["status"] == "firing"
        and alert["labels"].get("alertname") == alertname
        and alert["labels"].get("agent_id") == agent_id
    )


def _start_hubs(lab: Lab, dsn: str, base: Path, logs: Path, hook: str) -> dict[str, ManagedProcess]:
    hubs = {}
    for index, hub in enumerate(HUBS):
        lab.add_host(hub, 11 + index)
        (base / hub).mkdir()
        hubs[hub] = lab.start(
            hub,
            [str(BIN / "luna-hub"), "serve", "--host", lab.hosts[hub], "--port", str(HUB_PORT)],
            log=logs / f"{hub}.log",
            env=_hub_env(lab, dsn, base, hub, hook),
        )
    return hubs


async def _start_balancer(lab: Lab, base: Path, logs: Path) -> str:
    lab.add_host("lb", 20)
    (base / "haproxy.cfg").write_text(_haproxy_config(lab), encoding="utf-8")
    haproxy = lab.start("lb", ["haproxy", "-db", "-f", str(base / "haproxy.cfg")], log=logs / "haproxy.log")
    balancer = f"http://{lab.hosts['lb']}:{HUB_PORT}"
    await _wait_ready(balancer, haproxy)
    return balancer


def _start_agents(  # noqa: PLR0913, PLR0917 - the hosts, their agents and where things go
    lab: Lab, groups: list[list[Agent]], quiet: Agent, balancer: str, base: Path, logs: Path
) -> list[ManagedProcess]:
    """One agent host per group, its link impaired, running ``support.lab_agents`` for 30 s."""
    runs = []
    for index, group in enumerate(groups):
        host = f"agents{index}"
        lab.add_host(host, 31 + index)
        _impair(lab, host)
        spec = {"url": balancer, "duration_s": 30, "agents": [a._asdict() for a in group], "quiet": [quiet.agent_id]}
        (base / f"{host}.json").write_text(json.dumps(spec), encoding="utf-8")
        argv = [str(BIN / "python"), str(REPO / "tests" / "support" / "lab_agents.py"), str(base / f"{host}.json"),
                str(base / f"{host}.out.json")]  # fmt: skip
        runs.append(lab.start(host, argv, log=logs / f"{host}.log", env={"PYTHONPATH": str(REPO / "tests")}))
    return runs


async def _upload_one_per_replica(balancer: str, admin_key: str) -> dict[str, str]:
    """Upload documents through the balancer until each replica took one; return replica -> document."""
    served: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=balancer, timeout=90) as client:
        for attempt in range(3 * len(HUBS)):
            upload = await client.post(
                "/documents",
                headers={"Authorization": f"Bearer {admin_key}"},
                files={
                    "file": (f"lab{attempt}.md", f"# Lab {attempt}\n\nThe heat pump runs at night.\n", "text/markdown")
                },
            )
            assert upload.status_code == httpx.codes.ACCEPTED, upload.text
            served.setdefault(upload.headers["X-Served-By"], upload.json()["document_id"])
            if len(served) == len(HUBS):
                break
    assert set(served) == set(HUBS), served
    return served


async def _one_firing(receiver: WebhookReceiver, agent: Agent) -> int:
    """The quiet agent's offline firings, once the first arrived (or 30 s passed) and a few more passes ran."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _firing(receiver, "agent_offline", agent.agent_id) == 0:  # noqa: ASYNC110 - the receiver runs on a thread of its own
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)
    return _firing(receiver, "agent_offline", agent.agent_id)


@contextmanager
def _smard_server(lab: Lab) -> Iterator[None]:
    server = ThreadingHTTPServer((lab.hosts["ops"], _smard_port(lab)), _Smard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def _scratch() -> Iterator[Path]:
    """A folder the postgres user can use (the cluster lives in it); removed after."""
    base = Path(tempfile.mkdtemp(prefix="luna-replicas-"))
    base.chmod(0o755)
    shutil.chown(base, "postgres")
    try:
        yield base
    finally:
        if (base / "pg" / "postmaster.pid").exists():
            stop = ["runuser", "-u", "postgres", "--", str(_pg_bin() / "pg_ctl"), "-D", str(base / "pg"), "-m",
                    "immediate", "-w", "stop"]  # fmt: skip
            subprocess.run(stop, capture_output=True, check=False, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


async def test_replicas_keep_every_promise_through_kill_and_partition(lab: Lab, tmp_path: Path) -> None:  # noqa: PLR0915 - one scenario, step by step
    """The hubs', haproxy's and agents' logs stay in the test's ``tmp_path`` for a look after a failure."""
    started = time.monotonic()
    with _scratch() as base, _smard_server(lab):
        dsn = _database_host(lab, base)
        await _migrate(dsn)
        admin_key = await _admin_key(dsn)
        agents = [await make_agent(dsn, f"lab{i}") for i in range(8)]
        quiet = agents[0]
        async with webhook_receiver(host=lab.hosts["ops"]) as receiver:
            hubs = _start_hubs(lab, dsn, base, tmp_path, receiver.url)
            for hub in HUBS:
                await _wait_ready(f"http://{lab.hosts[hub]}:{HUB_PORT}", hubs[hub])
            balancer = await _start_balancer(lab, base, tmp_path)
            runs = _start_agents(lab, [agents[:4], agents[4:]], quiet, balancer, base, tmp_path)
            flapping = asyncio.create_task(_flap(lab, ["agents0", "agents1"]))
            try:
                served = await _upload_one_per_replica(balancer, admin_key)  # before the kill
                await asyncio.sleep(3)
                holders = await _holders(dsn)
                victim = next(hub for hub in HUBS if lab.hosts[hub] == max(holders, key=holders.__getitem__))
                os.killpg(hubs[victim].process.pid, signal.SIGKILL)
                cut = next(hub for hub in HUBS if hub != victim)
                await asyncio.sleep(4)
                lab.run(cut, "ip", "route", "add", "blackhole", f"{lab.hosts['db']}/32")
                await asyncio.sleep(12)
                lab.run(cut, "ip", "route", "del", "blackhole", f"{lab.hosts['db']}/32")
                for run in runs:
                    assert await _exit_code(run, within=90) == 0, run.output()[-3000:]
            finally:
                flapping.cancel()
                flaps = await flapping
            dropped = _randomly_dropped(lab, ["agents0", "agents1"])
            assert dropped is None or dropped > 0, "nftables dropped no packet of the agents' links"
            acked: dict[str, dict[str, int]] = {}
            for index in range(2):
                acked |= json.loads((base / f"agents{index}.out.json").read_text(encoding="utf-8"))
            firings = await _one_firing(receiver, quiet)
            connection = await asyncpg.connect(dsn)
            try:
                await _check_readings(connection, agents, acked)
                runs_by_day = await connection.fetch(
                    "SELECT day, count(*) AS n, array_agg(status) AS statuses FROM price_import_runs"
                    " GROUP BY day ORDER BY day"
                )
                jobs = {hub: await _finished_jobs(connection, document) for hub, document in served.items()}
                versions = {
                    hub: await connection.fetchval("SELECT count(*) FROM document_versions WHERE document_id = $1", doc)
                    for hub, doc in served.items()
                }
            finally:
                await connection.close()
        for process in lab.processes:
            process.close()  # before the cluster stops

    assert flaps >= 3  # the agents' links went down during the run ...
    assert sum(stats["errors"] for stats in acked.values()) > 0, acked  # ... and they had to resend
    assert firings == 1, receiver.bodies()
    assert {row["day"] for row in runs_by_day} == set(_due_days()), runs_by_day
    assert all(row["n"] == 1 and row["statuses"] == ["complete"] for row in runs_by_day), runs_by_day
    # tomorrow's prices (when due) are announced once, whichever replica stored them and announced it
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    assert _announced(receiver) == ([tomorrow.isoformat()] if tomorrow in _due_days() else []), receiver.bodies()
    # no job lost, none done twice: every job is done exactly once, the killed replica's too (if it had
    # not finished it, another replica took it up again once its heartbeat went stale)
    assert all([(row["state"], row["error"]) for row in jobs[hub]] == [("done", None)] for hub in HUBS), jobs
    assert all(versions[hub] == 1 for hub in HUBS), versions
    assert time.monotonic() - started < 300  # the test's time bound


def _impair(lab: Lab, host: str) -> None:
    """Delay and lose packets on the host's link with ``tc netem``.

    Kernels without netem (this project's build and CI machines: no ``sch_netem``, no tc classifiers)
    get the same loss from nftables instead (5 % of packets each way, ``numgen random``), a rate limit
    (``tbf``: queueing delay) for delay, and the link flaps of :func:`_flap` for bursts of loss; the
    test says which it used.
    """
    link = lab.link(host)
    try:
        lab.run(host, "tc", "qdisc", "add", "dev", link, "root", "netem", "delay", "40ms", "10ms", "loss", "5%")
    except RuntimeError as exc:
        if "qdisc kind is unknown" not in str(exc):
            raise
        print(f"{host}: no netem in this kernel; nftables random loss, tbf rate limit and link flaps instead")
        lab.run(host, "tc", "qdisc", "add", "dev", link, "root", "tbf", "rate", "4mbit", "burst", "16kbit",
                "latency", "200ms")  # fmt: skip
        lab.run(host, "nft", "add", "table", "inet", "luna_impair")
        for chain, hook, match in (("lossy_in", "input", "iifname"), ("lossy_out", "output", "oifname")):
            lab.run(host, "nft", "add", "chain", "inet", "luna_impair", chain,
                    f"{{ type filter hook {hook} priority 0 ; }}")  # fmt: skip
            lab.run(host, "nft", "add", "rule", "inet", "luna_impair", chain, match, link,
                    "numgen", "random", "mod", "100", "<", "5", "counter", "drop")  # fmt: skip


def _randomly_dropped(lab: Lab, hosts: list[str]) -> int | None:
    """Packets the nftables loss of :func:`_impair` dropped on ``hosts`` (None: netem did it)."""
    dropped = 0
    for host in hosts:
        try:
            listing = lab.run(host, "nft", "list", "table", "inet", "luna_impair").stdout
        except RuntimeError:
            return None
        dropped += sum(int(count) for count in re.findall(r"packets (\d+)", listing))
    print(f"nftables dropped {dropped} packets on the agents' links")
    return dropped


async def _flap(lab: Lab, hosts: list[str]) -> int:
    """Take each agent host's link down for 4 s after every 3 s up (bursts of loss); return the flaps."""
    flaps = 0
    try:
        while True:
            await asyncio.sleep(3)
            for host in hosts:
                lab.run(host, "ip", "link", "set", lab.link(host), "down")
            await asyncio.sleep(4)  # longer than the agents' 3 s timeout: requests in flight fail and are resent
            for host in hosts:
                lab.run(host, "ip", "link", "set", lab.link(host), "up")
            flaps += 1
    except asyncio.CancelledError:
        for host in hosts:
            lab.run(host, "ip", "link", "set", lab.link(host), "up")
        return flaps


async def _exit_code(process: ManagedProcess, within: float) -> int | None:
    deadline = time.monotonic() + within
    while process.process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child process, no event to wait on
        await asyncio.sleep(0.2)
    return process.process.poll()


async def _finished_jobs(connection: asyncpg.Connection, document_id: str, within: float = 90) -> list[asyncpg.Record]:
    """The document's jobs once none is queued or running any more (or the last look after ``within``)."""
    query = "SELECT job_id, state, error, attempts FROM document_jobs WHERE document_id = $1 ORDER BY job_id"
    deadline = time.monotonic() + within
    jobs: list[asyncpg.Record] = await connection.fetch(query, document_id)
    while any(job["state"] in {"queued", "running"} for job in jobs) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        jobs = await connection.fetch(query, document_id)
    return jobs


def _due_days() -> list[date]:
    now = datetime.now(BERLIN)
    days = [now.date() - timedelta(days=1), now.date()]
    if now.time().hour >= 13:  # SMARD publishes tomorrow's prices after 13:00
        days.append(now.date() + timedelta(days=1))
    return days


async def _check_readings(connection: asyncpg.Connection, agents: list[Agent], acked: dict[str, Any]) -> None:
    """Every acknowledged reading once; none beyond what was sent."""
    for agent in agents:
        seqs = [r["seq"] for r in await connection.fetch(
            "SELECT seq FROM smart_meter_readings WHERE meter_id = $1 ORDER BY seq", agent.meter)]  # fmt: skip
        last = acked[agent.agent_id]["last_seq"]
        assert last >= 9, (agent, acked[agent.agent_id])  # at least one batch
        assert seqs == list(range(last + 1)), (agent.agent_id, len(seqs), last)
