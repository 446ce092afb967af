"""``luna-hub``: the hub's command line.

Every command that needs the database uses ``LUNA_DATABASE_URL`` when set, and otherwise
starts the embedded PostgreSQL in ``data_dir`` for as long as it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Final, TypeVar

import asyncpg
import msgspec

from luna_hub import __version__
from luna_hub.agents.services import create_agent
from luna_hub.app import create_app
from luna_hub.audit.services import verify_model_calls
from luna_hub.auth.services import create_api_key, create_user
from luna_hub.database import EmbeddedPostgres, close_pool, create_pool
from luna_hub.database.deps import provide_schema_ready
from luna_hub.database.migrate import apply_migrations
from luna_hub.demo import load_demo_data, provision_demo_agent
from luna_hub.documents.services import DocumentService, open_object_store
from luna_hub.errors import HubError
from luna_hub.ingest.schemas import LoadReport
from luna_hub.ingest.services import LoadOptions, load_file
from luna_hub.rag.deps import open_rag
from luna_hub.settings import HubSettings, load
from luna_shared.keyfile import write_key
from luna_shared.process import cli_parser, run_main, serve_http, start_logging

__all__ = ["main"]

_GC_FIRST_GENERATION: Final = 50_000
"""Allocations between collections of the youngest generation (CPython's default: 700)."""

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
    serve.add_argument(
        "--demo-data",
        metavar="DIR",
        help="load the demo files from DIR (../shared/data) first, and provision agent demo-agent"
        " with its key in <data_dir>/demo-agent.key",
    )
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
    documents = commands.add_parser(
        "documents", help="manage documents (PDF, DOCX, CSV, Markdown, HTML, text)", description="Manage documents."
    )
    document_commands = documents.add_subparsers(dest="documents_command", required=True, metavar="ACTION")
    add = document_commands.add_parser(
        "add",
        help="upload files as documents, showing extraction progress",
        description="Store, extract, chunk and index each FILE as POST /documents does, waiting for each job.",
    )
    add.add_argument("files", nargs="+", type=Path, metavar="FILE", help="files to add")
    add.add_argument("--document-id", help="add FILE as a new version of this document (one FILE only)")
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
    agent = commands.add_parser(
        "create-agent",
        help="create an agent (and its site) with a key for POST /api/v1/ingest (printed once)",
        description="Create AGENT at SITE when missing and issue a new key for it; the key is printed once"
        " (or written to --key-file, mode 0600) and stored only as a SHA-256.",
    )
    agent.add_argument("agent_id", metavar="AGENT")
    agent.add_argument("--site", required=True, help="the site the agent belongs to (created when missing)")
    agent.add_argument("--key-file", type=Path, help="write the key to this file (mode 0600) instead of printing it")
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
        return _COMMANDS[args.command](settings, args)


def _migrate(settings: HubSettings, _args: argparse.Namespace) -> int:
    version = _with_pool(settings, _schema_version)
    print(f"schema is at version {version}")
    return 0


def _documents(settings: HubSettings, args: argparse.Namespace) -> int:
    return _add_documents(settings, args.files, args.document_id)


def _create_user(settings: HubSettings, args: argparse.Namespace) -> int:
    user_id = _with_pool(settings, lambda pool: _in(pool, create_user, args.username, args.display_name))
    print(f"created user {args.username!r} (id {user_id})")
    return 0


def _create_api_key(settings: HubSettings, args: argparse.Namespace) -> int:
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


def _create_agent(settings: HubSettings, args: argparse.Namespace) -> int:
    actor = f"cli:{getpass.getuser()}"
    created = _with_pool(settings, lambda pool: _in(pool, partial(create_agent, actor=actor), args.agent_id, args.site))
    if args.key_file is None:
        print(f"agent {created.agent_id!r} at site {created.site_id!r}; its key (shown once, store it now):")
        print(created.key)
        return 0
    path: Path = args.key_file
    write_key(path, created.key)
    print(f"agent {created.agent_id!r} at site {created.site_id!r}; key written to {path}")
    return 0


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
                limits=settings.load,
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


def _add_documents(settings: HubSettings, files: list[Path], document_id: str | None) -> int:
    if document_id is not None and len(files) != 1:
        print("luna-hub: --document-id names one document: give exactly one FILE", file=sys.stderr)
        return 2

    async def work(pool: asyncpg.Pool) -> int:
        store = await open_object_store(settings)
        failures = 0
        try:
            async with open_rag(pool, settings) as rag:  # searchable at once, embeddings audited
                service = DocumentService(pool, store, rag.index, settings.documents)
                try:
                    for path in files:
                        failures += not await _add_document(service, path, document_id)
                finally:
                    await service.close()
        finally:
            store.close()
        return 1 if failures else 0

    return _with_pool(settings, work)


async def _add_document(service: DocumentService, path: Path, document_id: str | None) -> bool:
    """Add one file, printing progress to stderr and the outcome to stdout; return whether it worked."""
    try:
        data = await asyncio.to_thread(path.read_bytes)
        result = await service.upload(data, path.name, document_id=document_id, actor=f"cli:{getpass.getuser()}")
    except OSError as exc:
        print(f"luna-hub: {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    except HubError as exc:
        print(f"luna-hub: {path}: {exc}", file=sys.stderr)
        return False
    if result.deduplicated:
        print(f"{path}: already stored as {result.document_id} version {result.version}")
        return True
    while True:
        try:
            detail = await service.detail(result.document_id, text=False, chunks=False)
        except HubError as exc:  # a failed first upload leaves no document, only its job's reason
            print(f"\nluna-hub: {path}: {exc}", file=sys.stderr)
            return False
        job = detail.job
        if job is None or job.version != result.version:
            continue
        print(f"\r{path}: {job.stage} {job.progress:4.0%}", end="", file=sys.stderr, flush=True)
        if job.state == "failed":
            print(f"\nluna-hub: {path}: {job.error}", file=sys.stderr)
            return False
        if job.state == "done":
            print(file=sys.stderr)
            print(f"{path}: {result.document_id} version {result.version}: {job.chunks} chunks ({job.chunks_new} new)")
            return True
        await asyncio.sleep(0.2)


def _verify_audit(settings: HubSettings) -> int:
    report = _with_pool(settings, lambda pool: _in(pool, verify_model_calls))
    if report.ok:
        print(f"model audit log: {report.rows} rows, hash chain intact")
        return 0
    print(f"model audit log: hash chain broken at call {report.broken_call_id}: {report.reason}", file=sys.stderr)
    return 1


def _settle_garbage_collector() -> None:
    """Keep the collector off what lives as long as the process, and off most of each batch's objects.

    Frozen, the objects made at startup (modules, the app) are no longer rescanned by every full
    collection; a first-generation threshold above what one ingest batch allocates (a few objects per
    reading, 5,000 readings) collects once per batch or so rather than dozens of times. Together they
    took agent ingest from about 125k to 155k readings/s in the hub_ingest bench (2 cores).
    """
    gc.freeze()
    gc.set_threshold(_GC_FIRST_GENERATION, *gc.get_threshold()[1:])


def _serve(settings: HubSettings, *, host: str | None, port: int | None, demo: str | None) -> None:
    server = msgspec.structs.replace(
        settings.server, host=host or settings.server.host, port=settings.server.port if port is None else port
    )
    settings = msgspec.structs.replace(settings, server=server, demo_data=demo or settings.demo_data)
    with _database(settings) as settings:
        if settings.demo_data:
            folder = Path(settings.demo_data)
            _with_pool(settings, lambda pool: load_demo_data(pool, folder, settings))
            _with_pool(settings, lambda pool: provision_demo_agent(pool, Path(settings.data_dir)))
        app = create_app(settings)
        _settle_garbage_collector()
        # /health answers 200 once the schema is ready; the event exists once the app's lifespan has begun
        ready = lambda: provide_schema_ready(app.state).wait()  # noqa: E731
        asyncio.run(serve_http(app, host=server.host, port=server.port, name="luna-hub", ready=ready))


_COMMANDS: dict[str, Callable[[HubSettings, argparse.Namespace], int]] = {
    "migrate": _migrate,
    "load": _load,
    "create-agent": _create_agent,
    "documents": _documents,
    "audit": lambda settings, _args: _verify_audit(settings),
    "create-user": _create_user,
    "create-api-key": _create_api_key,
}


if __name__ == "__main__":
    sys.exit(main())
