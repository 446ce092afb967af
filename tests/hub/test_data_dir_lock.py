"""Two hub processes on one data dir: the second refuses with one line naming the first (real processes).

``luna-hub documents add`` beside a serving hub goes through its API instead (``test_cli_through_hub.py``);
it still takes the lock when it runs on its own, so a ``serve`` started meanwhile refuses.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from luna_hub.datadir import LOCK_FILE, hold_data_dir
from support.processes import BIN, ManagedProcess, free_port, run_program


def luna_hub(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_program("luna-hub", *args, env=env)


@pytest.mark.slow
def test_a_second_serve_beside_a_running_hub_refuses_in_one_line(tmp_path: Path, hub_dsn: str) -> None:
    data_dir = tmp_path / "hub"
    env = {**os.environ, "LUNA_DATA_DIR": str(data_dir), "LUNA_DATABASE_URL": hub_dsn}
    note = tmp_path / "note.md"
    note.write_text("# Tarif\n\n32 Cent je Kilowattstunde.\n", encoding="utf-8")
    with ManagedProcess(
        [str(BIN / "luna-hub"), "serve", "--port", str(free_port())], log=tmp_path / "first.log", env=env
    ) as first:
        first.wait_ready(timeout=120)
        pid = first.process.pid
        second = luna_hub("serve", "--port", str(free_port()), env=env)
        adding = luna_hub("documents", "add", str(note), env=env)  # through the first one's API
        assert first.process.poll() is None  # the first one still serves
        assert first.interrupt(signal.SIGINT) == 0
    assert second.returncode == 1
    assert second.stderr.splitlines() == [
        (
            f"luna-hub: error: data dir {data_dir} is in use by luna-hub serve (pid {pid}); stop it first,"
            " or give this one another data dir (LUNA_DATA_DIR)"
        )
    ]
    assert adding.returncode == 0, adding.stderr
    assert adding.stdout.endswith(": 1 chunks (1 new)\n")
    assert "Traceback" not in second.stderr + adding.stderr
    # Once the first hub is gone, its lock went with it: the file stays, nothing holds it.
    assert (data_dir / LOCK_FILE).exists()
    with hold_data_dir(data_dir, "test", busy_hint="-"):
        pass
