"""Run our own programs as real processes in tests: start, wait until they say they are ready, stop."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Final, Self

__all__ = ["BIN", "ManagedProcess", "free_port", "run_program"]

BIN: Final = Path(os.environ.get("VIRTUAL_ENV", ".venv")).resolve() / "bin"
_READY: Final = re.compile(r"(luna-\w+) ready at (https?://\S+)")


def run_program(
    program: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one of our programs (``luna-hub``, ``luna-agent``) to its end; ``stdin`` is typed in, else none is open."""
    return subprocess.run(
        [str(BIN / program), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class ManagedProcess:
    """A child process in its own session whose combined output goes to a log file."""

    def __init__(
        self, args: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.log = log
        self._handle = log.open("wb")
        self.process = subprocess.Popen(
            args,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, count: int = 1, timeout: float = 60) -> dict[str, str]:
        """Wait until ``count`` programs printed ``<name> ready at <url>``; return their URLs by name."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = dict(_READY.findall(self.output()))
            if len(ready) >= count:
                return ready
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        msg = f"not ready after {timeout}s (exit {self.process.returncode}):\n{self.output()}"
        raise AssertionError(msg)

    def interrupt(self, sig: signal.Signals = signal.SIGINT, timeout: float = 30) -> int:
        """Send ``sig`` to the whole process group, as Ctrl-C in a terminal does; return the exit code."""
        os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            msg = f"did not stop within {timeout}s after {sig.name}:\n{self.output()}"
            raise AssertionError(msg) from None
        finally:
            self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Leave nothing running (a test that failed half way would leave a whole system behind); close the log."""
        if self.process.poll() is None:
            self.kill()
        self._handle.close()

    def kill(self) -> None:
        """Kill the process group outright (cleanup after a failure)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._handle.close()
