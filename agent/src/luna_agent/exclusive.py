"""One agent per data dir and per status port: checked before anything starts, refused in one line.

Two agents on one data dir would share the buffer file (each counting and sending the other's
readings) and, with the same MQTT client id, knock each other off the broker. The lock is an
advisory ``flock`` on ``data_dir/agent.lock``: the kernel drops it when the process ends, even
on ``kill -9``, so a stale file never blocks a restart.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import IO

from luna_agent.errors import AgentError

__all__ = ["LOCK_FILE", "check_port_free", "lock_data_dir"]

LOCK_FILE = "agent.lock"


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Take ``data_dir``'s lock for this process's lifetime (keep the returned file open); raise if held."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        msg = (
            f"{data_dir} is in use by another luna-agent (pid {holder}, lock {path}); stop that one, "
            "or give this one its own data_dir (LUNA_DATA_DIR)"
        )
        raise AgentError(msg) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def check_port_free(host: str, port: int) -> None:
    """Raise if ``host:port`` cannot be listened on (port 0, any free port, always can)."""
    if port == 0:
        return
    with contextlib.closing(socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is taken (another luna-agent?)" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc}"
            msg = f"status API port {host}:{port} {reason}; choose another with --port or status_api.port"
            raise AgentError(msg) from None
