"""SQL of the alerts domain: alert state, silences, the notification outbox, backup reports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import asyncpg
import msgspec

from luna_hub.alerts.schemas import Matcher, StoredAlert

__all__ = [
    "EVALUATION_LOCK",
    "OutboxRow",
    "active_silences",
    "apply_plan_rows",
    "claim_due",
    "enqueue",
    "expire_silence",
    "firing_fingerprints",
    "insert_backup_report",
    "insert_silence",
    "listed_alerts",
    "mark_delivered",
    "mark_failed",
    "mark_given_up",
    "prune_outbox",
    "release",
    "silences",
    "stored_alerts",
]

EVALUATION_LOCK: Final = 0x4C554E41_414C5254  # "LUNAALRT": one evaluation writes alert state at a time
_MATCHERS = msgspec.json.Decoder(list[Matcher])

_ALERT_COLUMNS: Final = (
    "fingerprint, labels, annotations, state, active_since, fired_at, resolved_at, notified, last_notified_at"
)


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    """A claimed notification to one receiver."""

    outbox_id: int
    channel: str
    target: str
    status: str
    kind: str
    body: str
    attempts: int
    created_at: datetime


def _alert(row: asyncpg.Record) -> StoredAlert:
    return StoredAlert(
        fingerprint=row["fingerprint"],
        labels=json.loads(row["labels"]),
        annotations=json.loads(row["annotations"]),
        state=row["state"],
        active_since=row["active_since"],
        fired_at=row["fired_at"],
        resolved_at=row["resolved_at"],
        notified=row["notified"],
        last_notified_at=row["last_notified_at"],
    )


async def stored_alerts(connection: asyncpg.Connection) -> dict[str, StoredAlert]:
    """Every alert the hub keeps, by fingerprint."""
    rows = await connection.fetch(f"SELECT {_ALERT_COLUMNS} FROM alerts")  # noqa: S608 - fixed column list
    return {row["fingerprint"]: _alert(row) for row in rows}


async def listed_alerts(connection: asyncpg.Connection, state: str | None, limit: int) -> list[StoredAlert]:
    """Alerts for ``GET /alerts``: firing first, then pending, then the most recently resolved."""
    rows = await connection.fetch(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE $1::text IS NULL OR state = $1"  # noqa: S608 - fixed columns
        " ORDER BY array_position(ARRAY['firing', 'pending', 'resolved'], state),"
        " coalesce(resolved_at, fired_at, active_since) DESC LIMIT $2",
        state,
        limit,
    )
    return [_alert(row) for row in rows]


async def apply_plan_rows(connection: asyncpg.Connection, rows: Sequence[StoredAlert], forget: Sequence[str]) -> None:
    """Write the evaluation's alert rows (insert or replace) and delete the forgotten ones."""
    if forget:
        await connection.execute("DELETE FROM alerts WHERE fingerprint = ANY($1::text[])", list(forget))
    await connection.executemany(
        """
        INSERT INTO alerts (fingerprint, alertname, labels, annotations, state, active_since, fired_at,
                            resolved_at, notified, last_notified_at, updated_at)
        VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7, $8, $9, $10, now())
        ON CONFLICT (fingerprint) DO UPDATE SET
            labels = excluded.labels, annotations = excluded.annotations, state = excluded.state,
            active_since = excluded.active_since, fired_at = excluded.fired_at, resolved_at = excluded.resolved_at,
            notified = excluded.notified, last_notified_at = excluded.last_notified_at, updated_at = now()
        """,
        [
            (
                a.fingerprint,
                a.alertname,
                json.dumps(a.labels),
                json.dumps(a.annotations),
                a.state,
                a.active_since,
                a.fired_at,
                a.resolved_at,
                a.notified,
                a.last_notified_at,
            )
            for a in rows
        ],
    )


async def firing_fingerprints(connection: asyncpg.Connection, fingerprints: Sequence[str]) -> set[str]:
    """Which of ``fingerprints`` are firing now."""
    rows = await connection.fetch(
        "SELECT fingerprint FROM alerts WHERE fingerprint = ANY($1::text[]) AND state = 'firing'", list(fingerprints)
    )
    return {row["fingerprint"] for row in rows}


async def enqueue(connection: asyncpg.Connection, rows: Sequence[tuple[str, str, str, str, bytes]]) -> list[int]:
    """Add ``(channel, target, status, kind, body)`` notifications to the outbox; return their ids."""
    ids = []
    for channel, target, status, kind, body in rows:
        ids.append(
            await connection.fetchval(
                "INSERT INTO alert_outbox (channel, target, status, kind, body) VALUES ($1, $2, $3, $4, $5::jsonb)"
                " RETURNING outbox_id",
                channel,
                target,
                status,
                kind,
                body.decode(),
            )
        )
    return ids


async def claim_due(
    connection: asyncpg.Connection, *, lease_s: float, limit: int, ids: Sequence[int] | None = None
) -> list[OutboxRow]:
    """Claim due notifications (all, or ``ids``): their next attempt moves ``lease_s`` ahead while this one runs."""
    rows = await connection.fetch(
        """
        UPDATE alert_outbox SET next_attempt_at = now() + make_interval(secs => $1), attempts = attempts + 1
        WHERE outbox_id IN (
            SELECT outbox_id FROM alert_outbox
            WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= now()
              AND ($3::bigint[] IS NULL OR outbox_id = ANY($3::bigint[]))
            ORDER BY outbox_id LIMIT $2 FOR UPDATE SKIP LOCKED
        )
        RETURNING outbox_id, channel, target, status, kind, body::text AS body, attempts, created_at
        """,
        lease_s,
        limit,
        None if ids is None else list(ids),
    )
    return sorted((OutboxRow(**dict(row)) for row in rows), key=lambda row: row.outbox_id)


async def release(connection: asyncpg.Connection, ids: Sequence[int]) -> None:
    """Make claimed notifications due again now (their sender stops before sending them)."""
    await connection.execute(
        "UPDATE alert_outbox SET next_attempt_at = now() WHERE outbox_id = ANY($1::bigint[]) AND delivered_at IS NULL",
        list(ids),
    )


async def mark_delivered(connection: asyncpg.Connection, outbox_id: int) -> None:
    """Record that the receiver took the notification."""
    await connection.execute(
        "UPDATE alert_outbox SET delivered_at = now(), last_error = NULL WHERE outbox_id = $1", outbox_id
    )


async def mark_failed(connection: asyncpg.Connection, outbox_id: int, error: str, retry_in_s: float) -> None:
    """Record a failed attempt; the next comes in ``retry_in_s``."""
    await connection.execute(
        "UPDATE alert_outbox SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3)"
        " WHERE outbox_id = $1",
        outbox_id,
        error[:2000],
        retry_in_s,
    )


async def mark_given_up(connection: asyncpg.Connection, outbox_id: int, reason: str) -> None:
    """No further attempts (too old, or nothing left to say)."""
    await connection.execute(
        "UPDATE alert_outbox SET given_up_at = now(), last_error = $2 WHERE outbox_id = $1", outbox_id, reason[:2000]
    )


async def prune_outbox(connection: asyncpg.Connection, older_than_s: float) -> None:
    """Forget notifications delivered or given up longer ago than ``older_than_s``, and silences ended as long ago."""
    await connection.execute(
        "DELETE FROM alert_outbox WHERE coalesce(delivered_at, given_up_at) < now() - make_interval(secs => $1)",
        older_than_s,
    )
    await connection.execute(
        "DELETE FROM alert_silences WHERE ends_at < now() - make_interval(secs => $1)", older_than_s
    )


async def insert_silence(  # noqa: PLR0913, PLR0917 - one column each
    connection: asyncpg.Connection,
    matchers: Sequence[Matcher],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
) -> asyncpg.Record:
    """Store a silence; return its row."""
    row: asyncpg.Record = await connection.fetchrow(
        "INSERT INTO alert_silences (matchers, starts_at, ends_at, created_by, comment)"
        " VALUES ($1::jsonb, $2, $3, $4, $5)"
        " RETURNING silence_id, matchers::text AS matchers, starts_at, ends_at, created_by, comment",
        msgspec.json.encode(list(matchers)).decode(),
        starts_at,
        ends_at,
        created_by,
        comment,
    )
    return row


async def silences(connection: asyncpg.Connection, *, include_expired: bool) -> list[asyncpg.Record]:
    """Silences (those not yet ended, or all), newest first."""
    return list(
        await connection.fetch(
            "SELECT silence_id, matchers::text AS matchers, starts_at, ends_at, created_by, comment FROM alert_silences"
            " WHERE $1 OR ends_at > now() ORDER BY silence_id DESC LIMIT 1000",
            include_expired,
        )
    )


async def active_silences(connection: asyncpg.Connection) -> list[tuple[int, list[Matcher]]]:
    """``(id, matchers)`` of the silences in force now."""
    rows = await connection.fetch(
        "SELECT silence_id, matchers::text AS matchers FROM alert_silences WHERE starts_at <= now() AND ends_at > now()"
    )
    return [(row["silence_id"], _MATCHERS.decode(row["matchers"])) for row in rows]


def decode_matchers(text: str) -> list[Matcher]:
    """Decode the matchers of a silence row."""
    return _MATCHERS.decode(text)


async def expire_silence(connection: asyncpg.Connection, silence_id: int) -> bool:
    """End a silence now; False when there is no such silence in force or to come."""
    status = await connection.execute(
        "UPDATE alert_silences SET ends_at = now(), starts_at = least(starts_at, now() - interval '1 microsecond')"
        " WHERE silence_id = $1 AND ends_at > now()",
        silence_id,
    )
    return bool(status.endswith(" 1"))


async def insert_backup_report(  # noqa: PLR0913 - one column each
    connection: asyncpg.Connection,
    *,
    job: str,
    success: bool,
    finished_at: datetime | None,
    host: str,
    message: str,
    reported_by: str,
) -> int:
    """Store one backup result; return its id."""
    report_id: int = await connection.fetchval(
        "INSERT INTO backup_reports (job, success, finished_at, host, message, reported_by)"
        " VALUES ($1, $2, coalesce($3, now()), $4, $5, $6) RETURNING report_id",
        job,
        success,
        finished_at,
        host,
        message,
        reported_by,
    )
    return report_id
