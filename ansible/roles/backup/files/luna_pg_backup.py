#!/usr/bin/env python3
"""Back up and restore the hub's PostgreSQL database, with a manifest that proves the restore.

    luna_pg_backup.py backup  --dsn DSN --dir DIR [--keep N]
    luna_pg_backup.py verify  BACKUP
    luna_pg_backup.py restore BACKUP --dsn TARGET_DSN [--create]

A backup is a directory ``DIR/<UTC time>`` holding ``db.dump`` (``pg_dump --format=custom``)
and ``manifest.json``: the SHA-256 and size of every file and the exact row count of every
table, counted in the same snapshot that ``pg_dump`` reads (an exported snapshot), so the
counts describe the dump even while the hub keeps writing. It is written as ``<id>.partial``
and renamed when complete: a crash never leaves something that looks like a backup.
``restore`` checks every checksum, restores in one transaction, then counts the rows again and
fails, naming the table, unless each count matches the manifest.

Standard library only (it runs on hosts with nothing but Python and the PostgreSQL client).
``--pg-bin`` points at the client binaries when they are not on PATH; their major version must be
at least the server's. ``--exec`` runs them through a prefix instead, e.g. inside the database
container of the compose stack: ``--exec "docker compose -f compose.hub.yaml exec -T db"``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from luna_backup_store import BackupError, add_commands, log, new_backup, prune, run_tool, verify, verify_command

TOOL = "luna-backup"
FORMAT = "luna-backup/1"
DUMP = "db.dump"
END = "__luna_end__"

# Exact row counts of every user table (hypertable chunks are counted through their parent).
COUNT_ROWS = r"""
SELECT format('%s.%s', table_schema, table_name),
       (xpath('/row/n/text()',
              query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', table_schema, table_name),
                           false, true, '')))[1]::text
FROM information_schema.tables
WHERE table_type = 'BASE TABLE'
  AND table_schema NOT IN ('pg_catalog', 'information_schema')
  AND table_schema NOT LIKE '\_timescaledb%'
  AND table_schema NOT LIKE 'timescaledb\_%'
ORDER BY 1;
"""


@dataclass(frozen=True)
class Tools:
    """The PostgreSQL client binaries to use, directly or through a command prefix."""

    bin_dir: str | None
    prefix: tuple[str, ...] = ()

    def command(self, name: str, *args: str) -> list[str]:
        """Build the argv that runs one client binary with its arguments."""
        if self.prefix:
            return [*self.prefix, name, *args]
        found = shutil.which(name, path=self.bin_dir) if self.bin_dir else shutil.which(name)
        if found is None:
            msg = f"{name} not found" + (f" in {self.bin_dir}" if self.bin_dir else " on PATH")
            raise BackupError(msg)
        return [found, *args]


def _log(message: str) -> None:
    log(TOOL, message)


@contextmanager
def _client_failures() -> Iterator[None]:
    """Report a client binary's non-zero exit as a ``BackupError`` naming the binary."""
    try:
        yield
    except subprocess.CalledProcessError as exc:
        msg = f"{Path(str(exc.cmd[0])).name} failed with exit code {exc.returncode}"
        raise BackupError(msg) from exc


def _redact(dsn: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class _Session:
    """An interactive psql session: send SQL, read its rows up to a marker."""

    def __init__(self, tools: Tools, dsn: str) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, arguments not from a shell
            tools.command("psql", "--no-psqlrc", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", dsn),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def rows(self, sql: str) -> list[list[str]]:
        stdin, stdout = self._pipes()
        stdin.write(f"{sql}\n\\echo {END}\n")
        stdin.flush()
        rows: list[list[str]] = []
        for line in stdout:
            if line.rstrip("\n") == END:
                return rows
            if line.strip():
                rows.append(line.rstrip("\n").split("\t"))
        msg = f"psql ended early (exit {self._process.wait()})"
        raise BackupError(msg)

    def close(self) -> None:
        stdin, _ = self._pipes()
        stdin.close()
        if self._process.wait(timeout=60) != 0:
            msg = f"psql failed (exit {self._process.returncode})"
            raise BackupError(msg)

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self._process.stdin is not None  # noqa: S101 - set by Popen above
        assert self._process.stdout is not None  # noqa: S101
        return self._process.stdin, self._process.stdout


@_client_failures()
def backup(dsn: str, root: Path, *, keep: int, tools: Tools) -> Path:
    """Write one verified backup under ``root`` and prune all but the newest ``keep``."""
    manifest: dict[str, Any] = {"format": FORMAT, "database": _redact(dsn)}
    with new_backup(root, manifest) as partial:
        session = _Session(tools, dsn)
        session.rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;")
        snapshot = session.rows("SELECT pg_export_snapshot();")[0][0]
        manifest["server_version"] = session.rows("SHOW server_version;")[0][0]
        tables = {name: int(count) for name, count in session.rows(COUNT_ROWS)}
        manifest["tables"] = tables
        _log(f"dumping {len(tables)} tables ({sum(tables.values())} rows) of {_redact(dsn)}")
        with (partial / DUMP).open("wb") as out:  # through stdout, so a containerised pg_dump writes here
            dump_command = tools.command("pg_dump", "--format=custom", f"--snapshot={snapshot}", dsn)
            subprocess.run(dump_command, stdout=out, check=True)  # noqa: S603 - fixed binary
        session.rows("COMMIT;")
        session.close()
    final = root / str(manifest["id"])
    _log(f"backup {final} complete")
    prune(TOOL, root, keep)
    return final


@_client_failures()
def restore(backup_dir: Path, dsn: str, *, create: bool, tools: Tools) -> None:
    """Restore a verified backup into ``dsn`` and prove every table has its rows back."""
    manifest = verify(backup_dir, FORMAT)
    if create:
        _create_database(dsn, tools)
    _log(f"restoring {backup_dir.name} into {_redact(dsn)}")
    with (backup_dir / DUMP).open("rb") as dump:  # through stdin, for the same reason
        flags = ("--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction")
        subprocess.run(tools.command("pg_restore", *flags, f"--dbname={dsn}"), stdin=dump, check=True)  # noqa: S603
    session = _Session(tools, dsn)
    restored = {name: int(count) for name, count in session.rows(COUNT_ROWS)}
    session.close()
    expected = manifest["tables"]
    assert isinstance(expected, dict)  # noqa: S101 - checked by the format above
    wrong = {name: (rows, restored.get(name)) for name, rows in expected.items() if restored.get(name) != rows}
    if wrong:
        details = ", ".join(f"{name}: expected {want} rows, found {got}" for name, (want, got) in sorted(wrong.items()))
        msg = f"restore incomplete: {details}"
        raise BackupError(msg)
    _log(f"restore verified: {len(expected)} tables, {sum(expected.values())} rows")


def _create_database(dsn: str, tools: Tools) -> None:
    parts = urllib.parse.urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not name:
        msg = f"{_redact(dsn)}: the DSN names no database"
        raise BackupError(msg)
    maintenance = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    session = _Session(tools, maintenance)
    literal = "'" + name.replace("'", "''") + "'"  # a quoted literal: psql here takes no bind parameters
    exists = session.rows(f"SELECT 1 FROM pg_database WHERE datname = {literal};")  # noqa: S608
    if exists:
        session.close()
        msg = f"database {name!r} already exists; restore into a new database"
        raise BackupError(msg)
    session.rows(f'CREATE DATABASE "{name.replace(chr(34), chr(34) * 2)}";')
    session.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luna_pg_backup.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-bin", help="directory of psql, pg_dump and pg_restore (default: PATH)")
    parser.add_argument("--exec", dest="prefix", default="", help="command prefix that runs the client binaries")
    add_commands(
        parser,
        backup_description="Write a backup, prune old ones.",
        add_source=lambda make: make.add_argument(
            "--dsn", required=True, help="postgresql:// URL of the database to back up"
        ),
        add_target=_add_target,
    )
    return parser


def _add_target(put: argparse.ArgumentParser) -> None:
    put.add_argument("--dsn", required=True, help="postgresql:// URL of the target database")
    put.add_argument("--create", action="store_true", help="create the target database first (it must not exist)")


def _tools(args: argparse.Namespace) -> Tools:
    return Tools(args.pg_bin, tuple(shlex.split(args.prefix)))


def main(argv: list[str] | None = None) -> int:
    """Run one command; print the error and exit 1 when it fails."""
    return run_tool(
        TOOL,
        _parser(),
        {
            "backup": lambda args: print(backup(args.dsn, args.dir, keep=args.keep, tools=_tools(args))),
            "verify": verify_command(TOOL, FORMAT),
            "restore": lambda args: restore(args.backup, args.dsn, create=args.create, tools=_tools(args)),
        },
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
