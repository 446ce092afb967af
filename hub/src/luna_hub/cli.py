"""``luna-hub``: the hub's command line.

Every command that needs the database uses ``LUNA_DATABASE_URL`` when set, and otherwise
starts the embedded PostgreSQL in ``data_dir`` for as long as it runs. Beside a hub serving on the
same ``data_dir`` (its runtime file, :mod:`luna_hub.datadir`), the commands on documents, loads,
users, API keys and agents go through that hub's HTTP API instead (:mod:`luna_hub.remote`), with
the same output.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from luna_hub import __version__
from luna_hub.recommend.cli import add_recommend_commands
from luna_shared.process import cli_parser, run_main

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

    from luna_hub.agents.schemas import AgentCreated
    from luna_hub.auth.schemas import ApiKeyCreated, ApiKeyView, UserView
    from luna_hub.datadir import LiveHub
    from luna_hub.documents.schemas import DocumentDetail, DocumentSummary, JobView, UploadResult
    from luna_hub.ingest.schemas import LoadReport, RowIssue
    from luna_hub.remote import HubClient
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
    listing = document_commands.add_parser(
        "list",
        help="list documents with version, job state and chunks, most recently changed first",
        description="List documents as GET /documents does: id, current version, job state, chunks, site, file.",
    )
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    wait = document_commands.add_parser(
        "wait",
        help="wait until documents are indexed (beside a running hub), showing progress",
        description="Wait until each DOCUMENT exists and its latest job is done (a failed one: exit 1); without"
        " DOCUMENT, until no document job is queued or running. Needs the hub serving on this data dir.",
    )
    wait.add_argument("document_ids", nargs="*", metavar="DOCUMENT", help="document ids, e.g. stromgvv")
    wait.add_argument("--timeout", type=float, metavar="SECONDS", help="give up (exit 1) after this long")
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
    remote = _REMOTE.get(args.command)
    if remote is not None:
        from luna_hub.datadir import live_hub

        hub = live_hub(Path(settings.data_dir))
        if hub is not None:
            return remote(settings, hub, args)
    with _database(settings) as settings:
        return _COMMANDS[args.command](settings, args)


def _through(hub: LiveHub, work: Callable[[HubClient], Awaitable[T]]) -> T:
    """Run ``work`` with a client of the running ``hub``."""
    from luna_hub.remote import HubClient

    async def body() -> T:
        async with HubClient(hub) as client:
            return await work(client)

    return asyncio.run(body())


def _migrate(settings: HubSettings, _args: argparse.Namespace) -> int:
    version = _with_pool(settings, _schema_version)
    print(f"schema is at version {version}")
    return 0


def _documents(settings: HubSettings, args: argparse.Namespace) -> int:
    if args.documents_command == "list":
        from luna_hub.documents.repository import list_documents

        limit = _limit(args.limit)
        summaries = _with_pool(settings, lambda pool: _in(pool, partial(list_documents, limit=limit, offset=0)))
        _print_documents(summaries)
        return 0
    if args.documents_command == "wait":
        print(f"luna-hub: no hub serves on {settings.data_dir}: no document job runs", file=sys.stderr)
        return 1
    return _add_documents(settings, args.files, args.document_id, args.site)


def _documents_remote(_settings: HubSettings, hub: LiveHub, args: argparse.Namespace) -> int:
    if args.documents_command == "list":
        limit = _limit(args.limit)
        _print_documents(_through(hub, lambda client: client.documents(limit=limit)))
        return 0
    if args.documents_command == "wait":
        return _through(hub, partial(_wait_for_jobs, ids=args.document_ids, give_up_after=args.timeout))
    if args.document_id is not None and len(args.files) != 1:
        print("luna-hub: --document-id names one document: give exactly one FILE", file=sys.stderr)
        return 2

    async def work(client: HubClient) -> int:
        failures = 0
        for path in args.files:
            upload = partial(client.upload, document_id=args.document_id, site=args.site)
            failures += not await _add_document(upload, client.detail, path)
        return 1 if failures else 0

    return _through(hub, work)


async def _wait_for_jobs(client: HubClient, *, ids: Sequence[str], give_up_after: float | None) -> int:
    """Poll the hub until the documents' jobs are done, showing progress on stderr; 1 for a failed job or a timeout."""
    loop = asyncio.get_running_loop()
    deadline = None if give_up_after is None else loop.time() + give_up_after
    shown = ""
    while True:
        pending, failed = await _pending_jobs(client, ids)
        if failed:
            print(file=sys.stderr)
            for line in failed:
                print(f"luna-hub: {line}", file=sys.stderr)
            return 1
        if not pending:
            print(f"\r{'documents indexed':<100}", file=sys.stderr)
            return 0
        if deadline is not None and loop.time() >= deadline:
            print(f"\nluna-hub: still not indexed after {give_up_after:g} s: {pending[0]}", file=sys.stderr)
            return 1
        line = f"{len(pending)} to index; {pending[0]}"
        if line != shown:  # a line per change, not per poll
            print(f"\r{line[:100]:<100}", end="", file=sys.stderr, flush=True)
            shown = line
        await asyncio.sleep(1)


async def _pending_jobs(client: HubClient, ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return what is still to index (one line each) and the jobs that failed, of ``ids`` (none: every document)."""
    from luna_hub.remote import HubAnswerError

    jobs: list[tuple[str, JobView | None]] = []
    if not ids:
        jobs = [(doc.document_id, doc.job) for doc in await client.documents(limit=1000)]
        jobs = [(name, job) for name, job in jobs if job is not None and job.state in {"queued", "running"}]
    pending: list[str] = []
    for document_id in ids:
        try:
            jobs.append((document_id, (await client.detail(document_id)).job))
        except HubAnswerError as exc:
            if exc.answered != 404:  # noqa: PLR2004 - not uploaded yet (make run uploads its documents one by one)
                raise
            pending.append(f"{document_id}: {exc}")
    failed = [f"{name}: job failed: {job.error}" for name, job in jobs if job is not None and job.state == "failed"]
    pending += [
        f"{name}: {job.state}, {job.stage} {job.progress:.0%}"
        for name, job in jobs
        if job is not None and job.state in {"queued", "running"}
    ]
    return pending, failed


def _limit(limit: int) -> int:
    if not 1 <= limit <= 1000:  # noqa: PLR2004 - what GET /documents allows
        from luna_hub.errors import BadRequestError

        msg = f"--limit {limit}: give 1 to 1000"
        raise BadRequestError(msg)
    return limit


def _print_documents(summaries: Sequence[DocumentSummary]) -> None:
    print(f"{'ID':<24} {'VERSION':>7} {'JOB':<8} {'CHUNKS':>6} {'SITE':<12} {'UPDATED':<16} FILE")
    for doc in summaries:
        job = doc.job
        state = "-" if job is None else job.state
        chunks = "-" if job is None or job.chunks is None else str(job.chunks)
        version = "-" if doc.current_version is None else str(doc.current_version)
        print(
            f"{doc.document_id:<24} {version:>7} {state:<8} {chunks:>6} {doc.site or '-':<12} "
            f"{_when(doc.updated_at):<16} {doc.filename}"
        )


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _password(args: argparse.Namespace) -> str | None:
    """Return the password of ``--password-stdin`` (None without it); exit 2 when stdin holds none."""
    if not args.password_stdin:
        return None
    password: str = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("luna-hub: --password-stdin: standard input holds no password", file=sys.stderr)
        raise SystemExit(2)
    return password


def _user_sites(args: argparse.Namespace) -> list[str] | None:
    sites = None if args.site is None else list(dict.fromkeys(args.site))
    if args.role == "user" and sites is None:
        sites = []  # a plain user reads the sites it is given, none by default
    return sites


def _print_user_created(user: UserView) -> None:
    where = "every site" if user.sites is None else ", ".join(user.sites) or "no site yet"
    login = "with a password" if user.has_password else "no password: API keys only"
    print(f"created user {user.username!r}, role {user.role}, reads {where}; {login}")


def _create_user_remote(_settings: HubSettings, hub: LiveHub, args: argparse.Namespace) -> int:
    password = _password(args)
    body = {
        "username": args.username,
        "role": args.role,
        "sites": _user_sites(args),
        "password": password,
        "display_name": args.display_name,
    }
    _print_user_created(_through(hub, lambda client: client.create_user(body)))
    return 0


def _create_user(settings: HubSettings, args: argparse.Namespace) -> int:
    password = _password(args)
    from luna_hub.auth.passwords import Passwords
    from luna_hub.auth.services import create_user

    sites = _user_sites(args)
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
    _print_user_created(user)
    return 0


def _create_api_key(settings: HubSettings, args: argparse.Namespace) -> int:
    from luna_hub.auth.services import create_api_key, parse_duration

    expires_in = None if args.expires_in is None else parse_duration(args.expires_in)
    create = partial(create_api_key, expires_in=expires_in, actor=_actor())
    _print_api_key_created(_with_pool(settings, lambda pool: _in(pool, create, args.username, args.name)))
    return 0


def _create_api_key_remote(_settings: HubSettings, hub: LiveHub, args: argparse.Namespace) -> int:
    from luna_hub.auth.services import parse_duration

    expires_in = None if args.expires_in is None else parse_duration(args.expires_in)
    created = _through(hub, lambda client: client.create_api_key(args.username, args.name, expires_in))
    _print_api_key_created(created)
    return 0


def _print_api_key_created(created: ApiKeyCreated) -> None:
    until = "never expires" if created.expires_at is None else f"expires {created.expires_at:%Y-%m-%d %H:%M} UTC"
    print(f"API key {created.id} {created.name!r} for {created.user!r}, {until} (shown once, store it now):")
    print(created.key)


def _revoke_api_key(settings: HubSettings, args: argparse.Namespace) -> int:
    from luna_hub.auth.services import revoke_api_key

    revoked = _with_pool(settings, lambda pool: _in(pool, partial(revoke_api_key, actor=_actor()), args.key))
    _print_revoked(revoked)
    return 0


def _revoke_api_key_remote(_settings: HubSettings, hub: LiveHub, args: argparse.Namespace) -> int:
    _print_revoked(_through(hub, lambda client: client.revoke_api_key(args.key)))
    return 0


def _print_revoked(revoked: ApiKeyView) -> None:
    print(f"API key {revoked.id} ({revoked.prefix}, {revoked.name!r} of {revoked.user!r}) revoked")


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _users(settings: HubSettings, _args: argparse.Namespace) -> int:
    from luna_hub.auth.services import list_users

    _print_users(_with_pool(settings, lambda pool: _in(pool, list_users)))
    return 0


def _users_remote(_settings: HubSettings, hub: LiveHub, _args: argparse.Namespace) -> int:
    _print_users(_through(hub, lambda client: client.users()))
    return 0


def _print_users(users: Sequence[UserView]) -> None:
    print(f"{'NAME':<24} {'ROLE':<8} {'SITES':<30} {'PASSWORD':<8} DISABLED")
    for user in users:
        sites = "*" if user.sites is None else ",".join(user.sites) or "-"
        print(
            f"{user.username:<24} {user.role:<8} {sites:<30} {'yes' if user.has_password else 'no':<8} "
            f"{'yes' if user.disabled else 'no'}"
        )


def _api_keys(settings: HubSettings, args: argparse.Namespace) -> int:
    from luna_hub.auth.services import list_api_keys

    _print_api_keys(_with_pool(settings, lambda pool: _in(pool, list_api_keys, args.user)))
    return 0


def _api_keys_remote(_settings: HubSettings, hub: LiveHub, args: argparse.Namespace) -> int:
    _print_api_keys(_through(hub, lambda client: client.api_keys(args.user)))
    return 0


def _print_api_keys(keys: Sequence[ApiKeyView]) -> None:
    print(
        f"{'ID':>5} {'PREFIX':<9} {'USER':<20} {'NAME':<20} {'CREATED':<16} {'EXPIRES':<16} {'LAST USED':<16} REVOKED"
    )
    for key in keys:
        print(
            f"{key.id:>5} {key.prefix:<9} {key.user:<20} {key.name:<20} {_when(key.created_at):<16} "
            f"{_when(key.expires_at):<16} {_when(key.last_used_at):<16} {_when(key.revoked_at)}"
        )


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
    from luna_hub.agents.services import create_agent

    actor = _actor()
    created = _with_pool(settings, lambda pool: _in(pool, partial(create_agent, actor=actor), args.agent_id, args.site))
    return _print_agent_created(created, args.key_file)


def _create_agent_remote(_settings: HubSettings, hub: LiveHub, args: argparse.Namespace) -> int:
    created = _through(hub, lambda client: client.create_agent(args.agent_id, args.site))
    return _print_agent_created(created, args.key_file)


def _print_agent_created(created: AgentCreated, key_file: Path | None) -> int:
    from luna_shared.keyfile import write_key

    if key_file is None:
        print(f"agent {created.agent_id!r} at site {created.site_id!r}; its key (shown once, store it now):")
        print(created.key)
        return 0
    path = key_file
    write_key(path, created.key)
    print(f"agent {created.agent_id!r} at site {created.site_id!r}; key written to {path}")
    return 0


def _load(settings: HubSettings, args: argparse.Namespace) -> int:
    import hashlib

    from luna_hub.errors import HubError
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
        _print_load_failure(path, exc, getattr(getattr(exc, "report", None), "rejections", []))
        return 1
    _print_load(path, report)
    return 0


def _load_remote(settings: HubSettings, hub: LiveHub, args: argparse.Namespace) -> int:
    import msgspec

    from luna_hub.ingest.schemas import LoadReport
    from luna_hub.remote import HubAnswerError

    path: Path = args.file
    given = {
        "strict": "true" if args.strict else None,
        "tz": args.tz,
        "market": args.market,
        "metric": args.metric,
        "unit": args.unit,
        "resolution_minutes": None if args.resolution_minutes is None else str(args.resolution_minutes),
        "name": str(path),
        "site": args.site,
    }
    params = {key: value for key, value in given.items() if value is not None}
    try:
        with path.open("rb") as binary:
            report = _through(hub, lambda client: client.load(binary, params))
    except OSError as exc:
        print(f"luna-hub: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except HubAnswerError as exc:
        if exc.answered == 413:  # noqa: PLR2004 - beyond load.max_body_bytes: straight into the shared database
            print(f"luna-hub: {path}: {exc}; loading it into the hub's database directly", file=sys.stderr)
            with _database(settings) as direct:
                return _load(direct, args)
        failed = msgspec.convert(exc.problem.get("report"), LoadReport | None)
        rejections: list[RowIssue] = [] if failed is None else failed.rejections
        _print_load_failure(path, exc, rejections)
        return 1
    _print_load(path, report)
    return 0


def _print_load_failure(path: Path, exc: Exception, rejections: Sequence[RowIssue]) -> None:
    print(f"luna-hub: {path}: {exc}", file=sys.stderr)
    for issue in rejections:
        print(f"{path}:{issue.line}: {'; '.join(issue.reasons)}", file=sys.stderr)


def _print_load(path: Path, report: LoadReport) -> None:
    for issue in report.rejections:
        print(f"{path}:{issue.line}: rejected: {'; '.join(issue.reasons)}", file=sys.stderr)
    print(
        f"{path}: {report.stored} stored, {report.duplicates} already there, {report.rejected} rejected, "
        f"{report.flagged} flagged ({', '.join(report.series[:5])}{', ...' if len(report.series) > 5 else ''})"  # noqa: PLR2004
    )


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
                upload = partial(service.upload, document_id=document_id, actor=_actor(), site=site)
                detail = partial(service.detail, text=False, chunks=False)
                try:
                    for path in files:
                        failures += not await _add_document(upload, detail, path)
                finally:
                    await service.close()
        finally:
            store.close()
        return 1 if failures else 0

    hint = "once a hub serving there is ready, this goes through its API; or stop it"
    with hold_data_dir(Path(settings.data_dir), "documents add", busy_hint=hint):
        return _with_pool(settings, work)


async def _add_document(
    upload: Callable[[bytes, str], Awaitable[UploadResult]],
    detail: Callable[[str], Awaitable[DocumentDetail]],
    path: Path,
) -> bool:
    """Add one file, printing progress to stderr and the outcome to stdout; return whether it worked.

    ``upload`` and ``detail`` are the documents service's (offline) or the running hub's API.
    """
    from luna_hub.errors import HubError

    try:
        data = await asyncio.to_thread(path.read_bytes)
        result = await upload(data, path.name)
    except OSError as exc:
        print(f"luna-hub: {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    except HubError as exc:
        print(f"luna-hub: {path}: {exc}", file=sys.stderr)
        return False
    if result.deduplicated:
        print(f"{path}: already stored as {result.document_id} version {result.version}")
        return True
    shown = ""
    while True:
        try:
            found = await detail(result.document_id)
        except HubError as exc:  # a failed first upload leaves no document, only its job's reason
            print(f"\nluna-hub: {path}: {exc}", file=sys.stderr)
            return False
        job = found.job
        if job is None or job.version != result.version:
            await asyncio.sleep(0.2)
            continue
        progress = f"\r{path}: {job.stage} {job.progress:4.0%}"
        if progress != shown:  # a line per change, not per poll (a log file would fill up)
            print(progress, end="", file=sys.stderr, flush=True)
            shown = progress
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
    from luna_hub.auth.local import new_local_admin
    from luna_hub.database.deps import provide_schema_ready
    from luna_hub.datadir import LiveHub, hold_data_dir, remove_runtime_file, write_runtime_file
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
        local = app.state.local_admin = new_local_admin()
        _settle_garbage_collector()
        # /health answers 200 once the schema is ready; the event exists once the app's lifespan has begun
        ready = lambda: provide_schema_ready(app.state).wait()  # noqa: E731
        tls = tls_files(server)
        data_dir = Path(settings.data_dir)

        def publish(host: str, port: int) -> None:  # for luna-hub commands beside this one
            url = f"{'https' if tls else 'http'}://{_loopback(host)}:{port}"
            hub = LiveHub(url=url, pid=os.getpid(), token=local.token, tls_cert=None if tls is None else tls[0])
            write_runtime_file(data_dir, hub)

        try:
            asyncio.run(
                serve_http(
                    app, host=server.host, port=server.port, name="luna-hub", ready=ready, tls=tls, on_ready=publish
                )
            )
        finally:
            remove_runtime_file(data_dir)
            detach_log_files(log_files)


def _loopback(host: str) -> str:
    """Where a command on this host reaches a server bound to ``host`` (any interface: loopback)."""
    if host in {"0.0.0.0", ""}:  # noqa: S104 - recognising the wildcard, not binding it
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _recommend(settings: HubSettings, args: argparse.Namespace) -> int:
    from luna_hub.recommend.cli import run_recommend

    return run_recommend(settings, args, _with_pool)


_REMOTE: dict[str, Callable[[HubSettings, LiveHub, argparse.Namespace], int]] = {
    "load": _load_remote,
    "create-agent": _create_agent_remote,
    "documents": _documents_remote,
    "create-user": _create_user_remote,
    "create-api-key": _create_api_key_remote,
    "revoke-api-key": _revoke_api_key_remote,
    "users": _users_remote,
    "api-keys": _api_keys_remote,
}
"""Commands that go through a hub serving on the same data dir when there is one."""

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
