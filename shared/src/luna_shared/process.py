"""What every Luna-iEMS command-line process does the same way: exit codes, signals, serving HTTP."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from luna_shared.config import CONFIG_ENV
from luna_shared.errors import ConfigError, LunaError

if TYPE_CHECKING:  # structlog (and rich, which it pulls in) take a third of a second: not for --help
    from luna_shared.logs import LogSettings

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "cli_parser", "is_loopback", "run_main", "serve_http", "start_logging"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _HasLogSettings(Protocol):
    @property
    def log(self) -> LogSettings: ...


S = TypeVar("S", bound=_HasLogSettings)


def cli_parser(program: str, description: str, version: str) -> argparse.ArgumentParser:
    """Build a parser with the options every Luna-iEMS program has: ``--version`` and ``--config``."""
    parser = argparse.ArgumentParser(prog=program, description=description)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get(CONFIG_ENV),
        help=f"settings file (TOML); default: ${CONFIG_ENV}, else built-in defaults plus LUNA_* variables",
    )
    return parser


def start_logging(settings: S, ignored_env: tuple[str, ...]) -> S:
    """Configure logging from freshly loaded settings and note the variables left unused; return the settings."""
    from luna_shared.logs import configure_logging, get_logger  # noqa: PLC0415 - see the imports above

    configure_logging(settings.log)
    if ignored_env:
        get_logger(__name__).info("environment variables meant for another program", names=list(ignored_env))
    return settings


EXIT_FAILURE: Final = 1
EXIT_CONFIG: Final = 2
SAME_STOP_S: Final = 2.0
"""A stop signal this soon after the first one repeats it (terminal and supervisor) rather than forcing an exit."""


def run_main(program: str, body: Callable[[], int]) -> int:
    """Run a CLI body: Ctrl-C and SIGTERM stop it cleanly (exit 0), errors print one line naming the cause."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return body()
    except KeyboardInterrupt:
        return 0
    except ConfigError as exc:
        print(f"{program}: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except LunaError as exc:
        print(f"{program}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


async def serve_http(  # noqa: PLR0913 - where, what, when ready, how
    app: Any,  # noqa: ANN401 - any ASGI app
    *,
    host: str,
    port: int,
    name: str,
    ready: Callable[[], Awaitable[object]] | None = None,
    tls: tuple[str, str] | None = None,
    on_ready: Callable[[str, int], object] | None = None,
) -> None:
    """Serve an ASGI app with uvicorn until a signal stops it; print where it is reachable once ready.

    Ready means listening and, when given, ``ready()`` done (e.g. the hub's schema migrated).
    ``tls`` (certificate chain file, key file; PEM) serves HTTPS instead of HTTP. ``on_ready`` is
    called with the bound host and port once ready, before the line is printed.
    """
    import uvicorn  # noqa: PLC0415 - the 'http' extra; wire-only users of this package lack it

    class Server(uvicorn.Server):
        """uvicorn's server, except that one stop request delivered twice is not a forced exit.

        Ctrl-C in a terminal reaches every process of its group, and a supervisor (``make run``'s shell,
        systemd) may send SIGTERM as well: a second signal within ``SAME_STOP_S`` of the first is the same
        request, so the shutdown (document jobs put back, pools closed) still runs to its end.
        """

        _first_stop: float | None = None

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            now = time.monotonic()
            if self._first_stop is not None and now - self._first_stop < SAME_STOP_S:
                return
            self._first_stop = self._first_stop or now
            super().handle_exit(sig, frame)

    cert, key = tls or (None, None)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, lifespan="on", ssl_certfile=cert, ssl_keyfile=key
    )
    server = Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn offers no start event
        await asyncio.sleep(0.05)
    if server.started and ready is not None:
        await _until_ready(ready(), serving)
    if server.started and not serving.done():
        bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
        scheme = "https" if tls else "http"
        if on_ready is not None:
            on_ready(bound_host, bound_port)
        print(f"{name} ready at {scheme}://{bound_host}:{bound_port}", flush=True)
    await serving


async def _until_ready(ready: Awaitable[object], serving: asyncio.Future[None]) -> None:
    """Wait for ``ready``, or for the server to stop first (a signal, a failed start-up)."""
    waiting: asyncio.Future[Any] = asyncio.ensure_future(ready)
    try:
        await asyncio.wait({waiting, serving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
