"""``luna-hub``: the hub's command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import msgspec

from luna_hub import __version__
from luna_hub.app import create_app
from luna_hub.database import EmbeddedPostgres
from luna_hub.settings import HubSettings, load
from luna_shared.process import cli_parser, run_main, serve_http, start_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = cli_parser("luna-hub", "Luna-iEMS hub: HTTP API, database, documents.", __version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the HTTP API (starts the embedded PostgreSQL when LUNA_DATABASE_URL is unset)",
        description="Run the hub's HTTP API until Ctrl-C or SIGTERM.",
    )
    serve.add_argument("--host", help="interface to listen on (default: server.host)")
    serve.add_argument("--port", type=int, help="TCP port, 0 for any free one (default: server.port)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``luna-hub`` script."""
    args = _parser().parse_args(argv)
    return run_main("luna-hub", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    settings = start_logging(*load(args.config))
    if args.command == "serve":
        _serve(settings, host=args.host, port=args.port)
    return 0


def _serve(settings: HubSettings, *, host: str | None, port: int | None) -> None:
    server = msgspec.structs.replace(
        settings.server, host=host or settings.server.host, port=settings.server.port if port is None else port
    )
    settings = msgspec.structs.replace(settings, server=server)
    with ExitStack() as stack:
        if settings.database_url is None:
            embedded = stack.enter_context(EmbeddedPostgres(Path(settings.data_dir)))
            settings = msgspec.structs.replace(settings, database_url=embedded.dsn)
        app = create_app(settings)
        asyncio.run(serve_http(app, host=server.host, port=server.port, name="luna-hub"))


if __name__ == "__main__":
    sys.exit(main())
