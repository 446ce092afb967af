"""``luna-agent``: the agent's command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from luna_agent import __version__
from luna_agent.api import create_app
from luna_agent.settings import CONFIG_ENV, AgentSettings, load
from luna_shared.logs import configure_logging, get_logger
from luna_shared.process import run_main, serve_http

__all__ = ["main"]

_log = get_logger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luna-agent", description="Luna-iEMS edge agent: meters to hub.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get(CONFIG_ENV),
        help=f"settings file (TOML); default: ${CONFIG_ENV}, else built-in defaults plus LUNA_* variables",
    )
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
    settings, ignored = load(args.config)
    configure_logging(settings.log)
    if ignored:
        _log.info("environment variables not used by the agent", names=list(ignored))
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
