"""``luna-hub``: the hub's command line.

Every command that needs the database uses ``LUNA_DATABASE_URL`` when set, and otherwise
starts the embedded PostgreSQL in ``data_dir`` for as long as it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import asyncpg
import msgspec

from luna_hub import __version__
from luna_hub.app import create_app
from luna_hub.audit.services import verify_model_calls
from luna_hub.auth.services import create_api_key, create_user
from luna_hub.database import EmbeddedPostgres, close_pool, create_pool
from luna_hub.database.migrate import apply_migrations
from luna_hub.demo import load_demo_data
from luna_hub.errors import HubError
from luna_hub.ingest.schemas import LoadReport
from luna_hub.ingest.services import LoadOptions, load_file
from luna_hub.settings import HubSettings, load
from luna_shared.process import cli_parser, run_main, serve_http, start_logging

__all__ = ["main"]

T = TypeVar("T")


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
    serve.add_argument("--demo-data", metavar="DIR", help="load the demo files from DIR (../shared/data) first")
    commands.add_parser("migrate", help="apply pending schema migrations", description="Apply pending migrations.")
    loader = commands.add_parser(
        "load",
        help="load a CSV/JSON file of readings or market prices",
        description="Load a file (SMARD, ENTSO-E, OPSD, wide or long CSV; JSON or JSON Lines), as POST /data/load.",
    )
    loader.add_argument("file", type=Path, help="the file to load")
    loader.add_argument("--strict", action="store_true", help="any rejected row aborts the load (nothing stored)")
    loader.add_argument("--tz", default="Europe/Berlin", help="zone of timestamps without offset")
    loader.add_argument("--market", help="market of a price file, e.g. DE-LU")
    loader.add_argument("--metric", help="metric of a wide file (default power_w)")
    loader.add_argument("--unit", help="unit when the file does not say")
    loader.add_argument("--resolution-minutes", type=int, help="resolution of a price file")
    user = commands.add_parser("create-user", help="create a user", description="Create a user.")
    user.add_argument("username")
    user.add_argument("--display-name", default="", help="full name shown in the UI")
    key = commands.add_parser(
        "create-api-key",
        help="create an API key for a user (printed once, stored only as a hash)",
        description="Create an API key for USERNAME; the key is printed once and stored only as a SHA-256.",
    )
    key.add_argument("username")
    key.add_argument("--name", default="default", help="what the key is for, e.g. 'agent site-1'")
    audit = commands.add_parser("audit", help="check the model audit log", description="The model audit log.")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_commands.add_parser(
        "verify",
        help="recompute the hash chain of every model call; exit 1 naming the first row that breaks it",
        description="Recompute the model audit log's hash chain; exit 1 naming the first changed or missing row.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``luna-hub`` script."""
    args = _parser().parse_args(argv)
    return run_main("luna-hub", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    settings = start_logging(*load(args.config))
    if args.command == "serve":
        _serve(settings, host=args.host, port=args.port, demo=args.demo_data)
        return 0
    with _database(settings) as settings:
        if args.command == "migrate":
            version = _with_pool(settings, _schema_version)
            print(f"schema is at version {version}")
            return 0
        if args.command == "load":
            return _load(settings, args)
        if args.command == "audit":
            return _verify_audit(settings)
        if args.command == "create-user":
            user_id = _with_pool(settings, lambda pool: _in(pool, create_user, args.username, args.display_name))
            print(f"created user {args.username!r} (id {user_id})")
            return 0
        created = _with_pool(settings, lambda pool: _in(pool, create_api_key, args.username, args.name))
        print(f"API key {created.name!r} for {created.username!r} (shown once, store it now):\n{created.key}")
        return 0


@contextmanager
def _database(settings: HubSettings) -> Iterator[HubSettings]:
    if settings.database_url is not None:
        yield settings
        return
    with EmbeddedPostgres(Path(settings.data_dir)) as embedded:
        yield msgspec.structs.replace(settings, database_url=embedded.dsn)


def _with_pool(settings: HubSettings, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async def body() -> T:
        pool = await create_pool(
            settings.database_url or "",
            max_size=2,
            statement_cache_size=settings.database_statement_cache_size,
            search_path=settings.database_search_path,
        )
        try:
            async with pool.acquire() as connection:
                await apply_migrations(connection, timezone=settings.rollup_timezone)
            return await work(pool)
        finally:
            await close_pool(pool)

    return asyncio.run(body())


async def _schema_version(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as connection:
        version: int = await connection.fetchval("SELECT max(version) FROM schema_migrations")
    return version


async def _in(pool: asyncpg.Pool, action: Callable[..., Awaitable[T]], *args: str) -> T:
    async with pool.acquire() as connection:
        return await action(connection, *args)


def _load(settings: HubSettings, args: argparse.Namespace) -> int:
    path: Path = args.file
    options = LoadOptions(
        name=str(path),
        timezone=args.tz,
        market=args.market,
        metric=args.metric,
        unit=args.unit,
        resolution_minutes=args.resolution_minutes,
        strict=args.strict,
        actor=f"cli:{getpass.getuser()}",
    )

    async def work(pool: asyncpg.Pool) -> LoadReport:
        with path.open("rb") as binary:
            return await load_file(
                pool,
                binary,
                options,
                method=settings.bulk_insert,
            )

    try:
        report = _with_pool(settings, work)
    except OSError as exc:
        print(f"luna-hub: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except HubError as exc:
        print(f"luna-hub: {path}: {exc}", file=sys.stderr)
        for issue in getattr(getattr(exc, "report", None), "rejections", []):
            print(f"{path}:{issue.line}: {'; '.join(issue.reasons)}", file=sys.stderr)
        return 1
    for issue in report.rejections:
        print(f"{path}:{issue.line}: rejected: {'; '.join(issue.reasons)}", file=sys.stderr)
    print(
        f"{path}: {report.stored} stored, {report.duplicates} already there, {report.rejected} rejected, "
        f"{report.flagged} flagged ({', '.join(report.series[:5])}{', ...' if len(report.series) > 5 else ''})"  # noqa: PLR2004
    )
    return 0


def _verify_audit(settings: HubSettings) -> int:
    report = _with_pool(settings, lambda pool: _in(pool, verify_model_calls))
    if report.ok:
        print(f"model audit log: {report.rows} rows, hash chain intact")
        return 0
    print(f"model audit log: hash chain broken at call {report.broken_call_id}: {report.reason}", file=sys.stderr)
    return 1


def _serve(settings: HubSettings, *, host: str | None, port: int | None, demo: str | None) -> None:
    server = msgspec.structs.replace(
        settings.server, host=host or settings.server.host, port=settings.server.port if port is None else port
    )
    settings = msgspec.structs.replace(settings, server=server, demo_data=demo or settings.demo_data)
    with _database(settings) as settings:
        if settings.demo_data:
            folder = Path(settings.demo_data)
            _with_pool(settings, lambda pool: load_demo_data(pool, folder, settings))
        app = create_app(settings)
        asyncio.run(serve_http(app, host=server.host, port=server.port, name="luna-hub"))


if __name__ == "__main__":
    sys.exit(main())
