"""Point-in-time recovery, for real: a throwaway PostgreSQL cluster archives its WAL through the pitr role.

The test makes a cluster with the PostgreSQL binaries on this machine (``initdb`` in a scratch folder, a
free port), runs ``pitr.yml`` (which installs ``luna_pitr.sh`` and the ``archive_command``), takes a base
backup through the same playbook, writes rows, notes the time, writes and changes more, and restores
with ``restore.yml -e restore_target_time=…`` into a new data directory. Started, the copy rolls the
archived WAL forward and must hold exactly the first rows. PostgreSQL refuses to run as root: as root,
everything runs as the ``postgres`` user (``runuser``), as the role does on a host.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.ansible import ANSIBLE, play_recap, run_playbook, write_inventory

pytestmark = pytest.mark.slow

SCRIPT = ANSIBLE / "roles" / "pitr" / "files" / "luna_pitr.sh"
FIRST = "INSERT INTO meter_log SELECT g, 'first', g * 0.5 FROM generate_series(1, 1000) g"
LATER = """
INSERT INTO meter_log SELECT g, 'later', g * 0.5 FROM generate_series(1001, 1500) g;
UPDATE meter_log SET note = 'changed later' WHERE id = 7;
DELETE FROM meter_log WHERE id = 9;
"""
FINGERPRINT = "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM meter_log t"


def _pg_bin() -> Path:
    """The newest PostgreSQL server binaries installed (15 here; CI may have a newer one)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    assert found, "PostgreSQL server binaries are needed (.ci/run installs postgresql)"
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Cluster:
    """A scratch cluster: its folder (owned by the OS user that runs it), binaries, user and port."""

    base: Path
    bin: Path
    os_user: str
    port: int

    @property
    def run_as(self) -> list[str]:
        return ["runuser", "-u", self.os_user, "--"] if os.geteuid() == 0 else []

    def run(self, *argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LUNA_PG_BIN": str(self.bin), "PGHOST": str(self.base), "PGUSER": "postgres"}
        command = [*self.run_as, *map(str, argv)]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=check, env=env, cwd=self.base)

    def sql(self, sql: str, port: int | None = None) -> str:
        psql: list[str | Path] = [
            self.bin / "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-p",
            str(port or self.port),
        ]
        return self.run(*psql, "-d", "postgres", "-c", sql).stdout.strip()

    def start(self, data: Path, port: int) -> None:
        options = f"-p {port} -k {self.base} -c listen_addresses=127.0.0.1"
        self.run(self.bin / "pg_ctl", "-D", data, "-l", data.parent / f"{data.name}.log", "-w", "-o", options, "start")

    def stop(self, data: Path) -> None:
        if (data / "postmaster.pid").exists():
            self.run(self.bin / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # not under pytest's tmp_path: the cluster's user must be able to reach it
    base = Path(tempfile.mkdtemp(prefix="luna-pitr-"))
    os_user = "postgres" if os.geteuid() == 0 else getpass.getuser()
    base.chmod(0o755)
    shutil.chown(base, os_user)
    made = Cluster(base=base, bin=_pg_bin(), os_user=os_user, port=_free_port())
    data = base / "data"
    made.run(made.bin / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("include_dir = 'conf.d'\n")
    made.run("mkdir", data / "conf.d")
    try:
        yield made
    finally:
        for folder in ("data", "restored"):
            made.stop(base / folder)
        shutil.rmtree(base, ignore_errors=True)


def _role_vars(cluster: Cluster) -> dict[str, object]:
    return {
        "pitr_root": str(cluster.base / "root"),
        "pitr_archive_dir": str(cluster.base / "archive"),
        "pitr_conf_dir": str(cluster.base / "data" / "conf.d"),
        "pitr_pg_bin": str(cluster.bin),
        "pitr_os_user": cluster.os_user,
        "pitr_run_as": cluster.run_as,
        "pitr_manage_service": False,
        "pitr_basebackup_args": ["--host", str(cluster.base), "--port", str(cluster.port), "--username", "postgres"],
        "pitr_archive_timeout": 5,
    }


def _wait_until(condition: str, cluster: Cluster, port: int, what: str) -> None:
    """Poll a SQL condition (bounded; the archiver and the end of recovery run asynchronously)."""
    deadline = time.monotonic() + 120
    while cluster.sql(f"SELECT ({condition})::text", port) != "true":
        assert time.monotonic() < deadline, f"{what} did not happen within 120 s"
        time.sleep(0.2)


def test_a_restore_to_a_noted_time_holds_exactly_the_rows_written_before_it(cluster: Cluster, tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, "hub")
    role_vars = _role_vars(cluster)
    installed = run_playbook("pitr.yml", inventory, role_vars, tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    conf = (cluster.base / "data" / "conf.d" / "luna-pitr.conf").read_text(encoding="utf-8")
    script = cluster.base / "root" / "usr/local/lib/luna-pitr/luna_pitr.sh"
    assert f"archive_command = '{script} archive-wal {cluster.base / 'archive'} %p %f'" in conf
    assert script.read_bytes() == SCRIPT.read_bytes()

    data = cluster.base / "data"
    cluster.start(data, cluster.port)
    assert cluster.sql("SHOW archive_mode") == "on"

    backed_up = run_playbook("pitr.yml", inventory, {**role_vars, "pitr_base_backup_now": True}, tmp_path)
    assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
    assert play_recap(backed_up)[1] == 1, "only the base backup changed something: the role is idempotent"
    (base_backup,) = (cluster.base / "archive" / "base").glob("*Z")

    # after the base backup, so that only the archived WAL can bring these rows back
    cluster.sql("CREATE TABLE meter_log (id int PRIMARY KEY, note text, kwh numeric)")
    cluster.sql(FIRST)
    expected = cluster.sql(FINGERPRINT)
    target = cluster.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    cluster.sql("SELECT pg_sleep(0.05)")  # the later commits get later timestamps than the target
    cluster.sql(LATER)
    assert cluster.sql(FINGERPRINT) != expected
    last_wal = cluster.sql("SELECT pg_walfile_name(pg_switch_wal())")
    archived = f"(SELECT last_archived_wal >= '{last_wal}' FROM pg_stat_archiver)"  # noqa: S608 - a WAL file name
    _wait_until(archived, cluster, cluster.port, "archiving")
    assert cluster.sql("SELECT failed_count FROM pg_stat_archiver") == "0"

    restored = cluster.base / "restored"
    restore_vars = {**role_vars, "restore_target_time": target, "restore_data_dir": str(restored)}
    prepared = run_playbook("restore.yml", inventory, restore_vars, tmp_path)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert (restored / "recovery.signal").exists()
    assert f"recovery_target_time = '{target}'" in (restored / "postgresql.auto.conf").read_text(encoding="utf-8")
    assert str(base_backup) in prepared.stdout

    port = _free_port()
    cluster.start(restored, port)
    _wait_until("NOT pg_is_in_recovery()", cluster, port, "the end of recovery")
    assert cluster.sql(FINGERPRINT, port) == expected
    assert cluster.sql("SELECT count(*) FILTER (WHERE note = 'first') || '/' || count(*) FROM meter_log", port) == (
        "1000/1000"
    )
    assert cluster.sql("SELECT min(id) || '-' || max(id) FROM meter_log", port) == "1-1000"
    # the source still has everything: the restore went into a new directory
    assert cluster.sql("SELECT count(*) FROM meter_log") == "1499"
    log = (cluster.base / "restored.log").read_text(encoding="utf-8")
    assert "recovery stopping before commit" in log
    assert "restored log file" in log  # segments came from the archive through restore_command

    # the same script refuses what it cannot do safely
    again = cluster.run(script, "restore", cluster.base / "archive", restored, target, check=False)
    assert again.returncode == 1
    assert "is not empty" in again.stderr
    too_early = cluster.run(
        script, "restore", cluster.base / "archive", cluster.base / "new", "2000-01-01 00:00:00+00", check=False
    )
    assert too_early.returncode == 1
    assert "no base backup finished before" in too_early.stderr
    assert not (cluster.base / "new").exists()


def test_archiving_a_segment_twice_is_accepted_only_with_the_same_bytes(tmp_path: Path) -> None:
    """PostgreSQL retries a segment when it did not see the first copy succeed; a different file is refused."""
    archive = tmp_path / "archive"
    (archive / "wal").mkdir(parents=True)
    segment = tmp_path / "000000010000000000000003"
    segment.write_bytes(b"\x01" * 8192)

    def archive_wal() -> subprocess.CompletedProcess[str]:
        argv = ["bash", str(SCRIPT), "archive-wal", str(archive), str(segment), segment.name]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    assert archive_wal().returncode == 0
    assert archive_wal().returncode == 0
    assert (archive / "wal" / segment.name).read_bytes() == segment.read_bytes()
    segment.write_bytes(b"\x02" * 8192)
    refused = archive_wal()
    assert refused.returncode == 1
    assert "already archived with different content" in refused.stderr
    assert (archive / "wal" / segment.name).read_bytes() == b"\x01" * 8192
    assert not list((archive / "wal").glob("*.partial"))

    missing = subprocess.run(
        ["bash", str(SCRIPT), "restore-wal", str(archive), "000000010000000000000004", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 1  # the end of the archive, as restore_command must report it
    assert not (tmp_path / "out").exists()
