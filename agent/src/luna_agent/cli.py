"""``luna-agent``: the agent's command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import msgspec

from luna_agent import __version__
from luna_agent.api import create_app
from luna_agent.settings import AgentSettings, load
from luna_shared.process import cli_parser, run_main, serve_http, start_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = cli_parser("luna-agent", "Luna-iEMS edge agent: meters to hub.", __version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run the agent and its status API", description="Run the agent until Ctrl-C or SIGTERM."
    )
    run.add_argument("--host", help="interface of the status API (default: status_api.host)")
    run.add_argument("--port", type=int, help="TCP port of the status API, 0 for any (default: status_api.port)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``luna-agent`` script."""
    args = _parser().parse_args(argv)
    return run_main("luna-agent", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    settings = start_logging(*load(args.config))
    if args.command == "run":
        _serve(settings, host=args.host, port=args.port)
    return 0


def _serve(settings: AgentSettings, *, host: str | None, port: int | None) -> None:
    api = msgspec.structs.replace(
        settings.status_api,
        host=host or settings.status_api.host,
        port=settings.status_api.port if port is None else port,
    )
    settings = msgspec.structs.replace(settings, status_api=api)
    asyncio.run(serve_http(create_app(settings), host=api.host, port=api.port, name="luna-agent"))


if __name__ == "__main__":
    sys.exit(main())
