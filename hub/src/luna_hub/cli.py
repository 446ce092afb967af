"""``luna-hub``: the hub's command line.

Every command that needs the database uses ``LUNA_DATABASE_URL`` when set, and otherwise
starts the embedded PostgreSQL in ``data_dir`` for as long as it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from luna_hub import __version__
from luna_hub.recommend.cli import add_recommend_commands
from luna_shared.process import cli_parser, run_main

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

    from luna_hub.documents.services import DocumentService
    from luna_hub.settings import HubSettings

# Commands import what they need when they run: the app, the stores and the database drivers take
# seconds to import, and --help (or a mistyped option) should answer at once.

__all__ = ["main"]

_GC_FIRST_GENERATION: Final = 50_000
"""Allocations between collections of the youngest generation (CPython's default: 700)."""

T = TypeVar("T")

ROLES: Final = ("admin", "analyst", "user")
"""The roles ``create-user --role`` offers (``luna_hub.auth.services.ROLES``, not imported for --help)."""


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
    loader.add_argument(
        "--site", help="site the file's meters belong to (default: none; only analysts and admins read them)"
    )
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
    add.add_argument("--site", help="only this site's users (and analysts, admins) see the documents")
    _identity_commands(commands)
    add_recommend_commands(commands)
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


def _identity_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser(
        "create-user",
        help="create a user with a role (admin, analyst, user) and optionally sites and a password",
        description="Create user NAME. A role 'user' reads only the sites given with --site; admins and analysts"
        " read every site unless --site limits them. The password is read from standard input, never argv.",
    )
    user.add_argument("username", metavar="NAME")
    user.add_argument("--role", required=True, choices=ROLES, help="what the user may do")
    user.add_argument("--site", action="append", metavar="S", help="a site the user may read; repeat for several")
    user.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    user.add_argument("--display-name", default="", help="full name shown in the UI")
    key = commands.add_parser(
        "create-api-key",
        help="create an API key for a user (printed once, stored only as a hash)",
        description="Create an API key for USER; it acts with the user's role and sites. The key is printed once"
        " and stored only as a SHA-256.",
    )
    key.add_argument("username", metavar="USER")
    key.add_argument("--name", default="default", help="what the key is for, e.g. 'grafana'")
    key.add_argument("--expires-in", metavar="DURATION", help="e.g. 90d, 12h, 2w (default: never)")
    revoke = commands.add_parser(
        "revoke-api-key",
        help="revoke an API key by id or prefix (refused from the next request on)",
        description="Revoke the API key with id or prefix ID (as listed by luna-hub api-keys).",
    )
    revoke.add_argument("key", metavar="ID")
    commands.add_parser("users", help="list users with role and sites", description="List users.")
    keys = commands.add_parser(
        "api-keys", help="list API keys (id, prefix, user, expiry, last use)", description="List API keys."
    )
    keys.add_argument("--user", help="only this user's keys")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``luna-hub`` script."""
    args = _parser().parse_args(argv)
    return run_main("luna-hub", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from luna_hub.settings import load
    from luna_shared.process import start_logging

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
    return _add_documents(settings, args.files, args.document_id, args.site)


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _create_user(settings: HubSettings, args: argparse.Namespace) -> int:
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            print("luna-hub: --password-stdin: standard input holds no password", file=sys.stderr)
            return 2
    from functools import partial

    from luna_hub.auth.passwords import Passwords
    from luna_hub.auth.services import create_user

    sites = None if args.site is None else list(dict.fromkeys(args.site))
    if args.role == "user" and sites is None:
        sites = []  # a plain user reads the sites it is given, none by default
    passwords = Passwords(settings.auth)
    create = partial(
        create_user,
        role=args.role,
        sites=sites,
        password=password,
        passwords=passwords,
        display_name=args.display_name,
        actor=_actor(),
    )
    try:
        user = _with_pool(settings, lambda pool: _in(pool, create, args.username))
    finally:
        passwords.close()
    where = "every site" if user.sites is None else ", ".join(user.sites) or "no site yet"
    login = "with a password" if user.has_password else "no password: API keys only"
    print(f"created user {user.username!r}, role {user.role}, reads {where}; {login}")
    return 0


def _create_api_key(settings: HubSettings, args: argparse.Namespace) -> int:
    from functools import partial

    from luna_hub.auth.services import create_api_key, parse_duration

    expires_in = None if args.expires_in is None else parse_duration(args.expires_in)
    create = partial(create_api_key, expires_in=expires_in, actor=_actor())
    created = _with_pool(settings, lambda pool: _in(pool, create, args.username, args.name))
    until = "never expires" if created.expires_at is None else f"expires {created.expires_at:%Y-%m-%d %H:%M} UTC"
    print(f"API key {created.id} {created.name!r} for {created.user!r}, {until} (shown once, store it now):")
    print(created.key)
    return 0


def _revoke_api_key(settings: HubSettings, args: argparse.Namespace) -> int:
    from functools import partial

    from luna_hub.auth.services import revoke_api_key

    revoked = _with_pool(settings, lambda pool: _in(pool, partial(revoke_api_key, actor=_actor()), args.key))
    print(f"API key {revoked.id} ({revoked.prefix}, {revoked.name!r} of {revoked.user!r}) revoked")
    return 0


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _users(settings: HubSettings, _args: argparse.Namespace) -> int:
    from luna_hub.auth.services import list_users

    users = _with_pool(settings, lambda pool: _in(pool, list_users))
    print(f"{'NAME':<24} {'ROLE':<8} {'SITES':<30} {'PASSWORD':<8} DISABLED")
    for user in users:
        sites = "*" if user.sites is None else ",".join(user.sites) or "-"
        print(
            f"{user.username:<24} {user.role:<8} {sites:<30} {'yes' if user.has_password else 'no':<8} "
            f"{'yes' if user.disabled else 'no'}"
        )
    return 0


def _api_keys(settings: HubSettings, args: argparse.Namespace) -> int:
    from luna_hub.auth.services import list_api_keys

    keys = _with_pool(settings, lambda pool: _in(pool, list_api_keys, args.user))
    print(
        f"{'ID':>5} {'PREFIX':<9} {'USER':<20} {'NAME':<20} {'CREATED':<16} {'EXPIRES':<16} {'LAST USED':<16} REVOKED"
    )
    for key in keys:
        print(
            f"{key.id:>5} {key.prefix:<9} {key.user:<20} {key.name:<20} {_when(key.created_at):<16} "
            f"{_when(key.expires_at):<16} {_when(key.last_used_at):<16} {_when(key.revoked_at)}"
        )
    return 0


@contextmanager
def _database(settings: HubSettings) -> Iterator[HubSettings]:
    import msgspec

    from luna_hub.database import EmbeddedPostgres

    if settings.database_url is not None:
        yield settings
        return
    with EmbeddedPostgres(Path(settings.data_dir)) as embedded:
        yield msgspec.structs.replace(settings, database_url=embedded.dsn)


def _with_pool(settings: HubSettings, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    from luna_hub.database import close_pool, create_pool
    from luna_hub.database.migrate import apply_migrations

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


async def _in(pool: asyncpg.Pool, action: Callable[..., Awaitable[T]], *args: str | None) -> T:
    async with pool.acquire() as connection:
        return await action(connection, *args)


def _create_agent(settings: HubSettings, args: argparse.Namespace) -> int:
    from functools import partial

    from luna_hub.agents.services import create_agent
    from luna_shared.keyfile import write_key

    actor = _actor()
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
    import hashlib

    from luna_hub.errors import HubError
    from luna_hub.ingest.schemas import LoadReport
    from luna_hub.ingest.services import LoadOptions, load_file

    path: Path = args.file
    options = LoadOptions(
        name=str(path),
        timezone=args.tz,
        market=args.market,
        metric=args.metric,
        unit=args.unit,
        resolution_minutes=args.resolution_minutes,
        strict=args.strict,
        actor=_actor(),
        site=args.site,
    )

    async def work(pool: asyncpg.Pool) -> LoadReport:
        with path.open("rb") as binary:
            digest = hashlib.file_digest(binary, "sha256").hexdigest()  # recorded in loaded_files, with its site
            binary.seek(0)
            return await load_file(
                pool,
                binary,
                options._replace(sha256=digest),
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


def _add_documents(settings: HubSettings, files: list[Path], document_id: str | None, site: str | None) -> int:
    if document_id is not None and len(files) != 1:
        print("luna-hub: --document-id names one document: give exactly one FILE", file=sys.stderr)
        return 2

    from luna_hub.datadir import hold_data_dir
    from luna_hub.documents.services import DocumentService, open_object_store
    from luna_hub.rag.deps import open_rag

    async def work(pool: asyncpg.Pool) -> int:
        store = await open_object_store(settings)
        failures = 0
        try:
            async with open_rag(pool, settings) as rag:  # searchable at once, embeddings audited
                service = DocumentService(pool, store, rag.index, settings.documents)
                service.start_workers(workers=max(1, settings.documents.workers))  # this command runs its jobs
                try:
                    for path in files:
                        failures += not await _add_document(service, path, document_id, site)
                finally:
                    await service.close()
        finally:
            store.close()
        return 1 if failures else 0

    hint = "stop it, or upload over its API: curl -H 'Authorization: Bearer ...' -F file=@FILE <hub>/documents"
    with hold_data_dir(Path(settings.data_dir), "documents add", busy_hint=hint):
        return _with_pool(settings, work)


async def _add_document(service: DocumentService, path: Path, document_id: str | None, site: str | None) -> bool:
    """Add one file, printing progress to stderr and the outcome to stdout; return whether it worked."""
    from luna_hub.errors import HubError

    try:
        data = await asyncio.to_thread(path.read_bytes)
        result = await service.upload(data, path.name, document_id=document_id, actor=_actor(), site=site)
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
    from luna_hub.audit.admin_log import verify_admin_log
    from luna_hub.audit.services import verify_model_calls

    report = _with_pool(settings, lambda pool: _in(pool, verify_model_calls))
    admin = _with_pool(settings, lambda pool: _in(pool, verify_admin_log))
    failed = 0
    if report.ok:
        print(f"model audit log: {report.rows} rows, hash chain intact")
    else:
        print(f"model audit log: hash chain broken at call {report.broken_call_id}: {report.reason}", file=sys.stderr)
        failed = 1
    if admin.ok:
        print(f"admin log: {admin.rows} rows, hash chain intact")
    else:
        print(f"admin log: hash chain broken at entry {admin.broken_call_id}: {admin.reason}", file=sys.stderr)
        failed = 1
    return failed


def _settle_garbage_collector() -> None:
    """Keep the collector off what lives as long as the process, and off most of each batch's objects.

    Frozen, the objects made at startup (modules, the app) are no longer rescanned by every full
    collection; a first-generation threshold above what one ingest batch allocates (a few objects per
    reading, 5,000 readings) collects once per batch or so rather than dozens of times. Together they
    took agent ingest from about 125k to 155k readings/s in the hub_ingest bench (2 cores).
    """
    import gc

    gc.freeze()
    gc.set_threshold(_GC_FIRST_GENERATION, *gc.get_threshold()[1:])


def _serve(settings: HubSettings, *, host: str | None, port: int | None, demo: str | None) -> None:
    import msgspec

    from luna_hub.app import create_app
    from luna_hub.auth.exposure import check_exposure, tls_files
    from luna_hub.database.deps import provide_schema_ready
    from luna_hub.datadir import hold_data_dir
    from luna_hub.demo import load_demo_data, provision_demo_admin, provision_demo_agent
    from luna_hub.observability.logfiles import attach_log_files, detach_log_files
    from luna_shared.process import serve_http

    server = msgspec.structs.replace(
        settings.server, host=host or settings.server.host, port=settings.server.port if port is None else port
    )
    settings = msgspec.structs.replace(settings, server=server, demo_data=demo or settings.demo_data)
    check_exposure(settings)  # before starting a database for nothing
    tls_files(server)
    hint = "stop it first, or give this one another data dir (LUNA_DATA_DIR)"
    with hold_data_dir(Path(settings.data_dir), "serve", busy_hint=hint), _database(settings) as settings:
        if settings.demo_data:
            folder = Path(settings.demo_data)
            _with_pool(settings, lambda pool: load_demo_data(pool, folder, settings))
            _with_pool(settings, lambda pool: provision_demo_agent(pool, Path(settings.data_dir)))
            admin_key = _with_pool(settings, lambda pool: provision_demo_admin(pool, Path(settings.data_dir)))
            header = f'-H "Authorization: Bearer $(cat {admin_key})"'
            print(f"luna-hub admin API key in {admin_key}: curl {header} ...", flush=True)
        log_files = attach_log_files(settings)
        app = create_app(settings)
        _settle_garbage_collector()
        # /health answers 200 once the schema is ready; the event exists once the app's lifespan has begun
        ready = lambda: provide_schema_ready(app.state).wait()  # noqa: E731
        tls = tls_files(server)
        try:
            asyncio.run(serve_http(app, host=server.host, port=server.port, name="luna-hub", ready=ready, tls=tls))
        finally:
            detach_log_files(log_files)


def _recommend(settings: HubSettings, args: argparse.Namespace) -> int:
    from luna_hub.recommend.cli import run_recommend

    return run_recommend(settings, args, _with_pool)


_COMMANDS: dict[str, Callable[[HubSettings, argparse.Namespace], int]] = {
    "migrate": _migrate,
    "load": _load,
    "create-agent": _create_agent,
    "documents": _documents,
    "audit": lambda settings, _args: _verify_audit(settings),
    "create-user": _create_user,
    "create-api-key": _create_api_key,
    "revoke-api-key": _revoke_api_key,
    "users": _users,
    "api-keys": _api_keys,
    "recommend": _recommend,
}


if __name__ == "__main__":
    sys.exit(main())
