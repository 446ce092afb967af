"""The alert service: evaluate the rules (a duty of one replica), deliver the outbox, silences, tests, backups.

Info notices ("tomorrow's prices are out") have no rule and no alert state: each is claimed from
the table its domain notes it in, in the transaction that puts it into the outbox (kind ``info``),
so it goes out once whichever hub claims it.

An evaluation runs every rule, re-checks the rules of alerts about to fire, and writes the new
alert state together with its notifications (one outbox row per receiver) in one transaction
under an advisory lock, so two evaluators can never both notify an alert. Delivery then claims
due outbox rows; a firing notification is re-checked against the alert's state and the silences
just before it is sent (what resolved or was silenced meanwhile is left out).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

import asyncpg
import httpx
import msgspec

from luna_hub.alerts import repository
from luna_hub.alerts.delivery import (
    DeliveryError,
    alertmanager_payload,
    send_alertmanager,
    send_email,
    send_webhook,
)
from luna_hub.alerts.engine import Notice, due_to_fire, group_notices, plan, silencing
from luna_hub.alerts.rules import RULES, ReadinessCheck, Rule, RuleContext
from luna_hub.alerts.schemas import (
    AlertView,
    BackupRecorded,
    BackupReport,
    DeliveryResult,
    NewSilence,
    Observation,
    SentTestNotification,
    SilenceView,
    StoredAlert,
    WebhookBody,
)
from luna_hub.dashboard.schemas import AlertRow
from luna_hub.errors import BadRequestError, ConflictError, NotFoundError
from luna_hub.prices.services import Publication, claim_publications
from luna_hub.settings.alerts import AlertSettings
from luna_hub.settings.prices import PriceImportSettings
from luna_shared.logs import get_logger

__all__ = ["AlertService"]

_log = get_logger(__name__)
_BODY = msgspec.json.Decoder(WebhookBody)
_BATCH: Final = 50
_MAX_BIGINT: Final = 2**63 - 1


class AlertService:
    """Everything the alerts domain does, on the hub's pool."""

    def __init__(  # noqa: PLR0913 - the service's collaborators
        self,
        pool: asyncpg.Pool,
        settings: AlertSettings,
        *,
        timezone: str,
        client: httpx.AsyncClient,
        checks: Callable[[], Sequence[ReadinessCheck]],
        rules: Sequence[Rule] = RULES,
        started_at: datetime | None = None,
        prices: PriceImportSettings | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._timezone = timezone
        self._client = client
        self._checks = checks
        self._rules = rules
        self._prices = prices
        self.started_at = started_at or datetime.now(UTC)
        self._slow: dict[tuple[str, ...], tuple[datetime, list[Observation]]] = {}
        self._alertmanager_pushed: datetime | None = None

    # --- evaluation -------------------------------------------------------------------------------

    async def run_duty(self, _pool: asyncpg.Pool) -> None:
        """One round of the duty: evaluate, then deliver what is due."""
        await self.evaluate()
        await self.announce_publications()
        await self.deliver_due()
        await self._refresh_alertmanager()
        async with self._pool.acquire() as connection:
            await repository.prune_outbox(connection, self._settings.recent_s)

    async def evaluate(self, now: datetime | None = None) -> list[Notice]:
        """Evaluate every rule at ``now``; persist the new state and enqueue its notices (returned)."""
        now = now or datetime.now(UTC)
        async with self._pool.acquire() as connection:
            stored = await repository.stored_alerts(connection)
        firing = frozenset(fp for fp, alert in stored.items() if alert.state == "firing")
        observed, held = await self._observe(self._rules, now, firing, use_cache=True)
        due = due_to_fire(stored, observed, now=now, pending_s=self._settings.pending_s)
        unconfirmed: set[str] = set()
        if due:  # re-check, just before sending, that the conditions of what would fire still hold
            names = {observed[fp].alertname for fp in due}
            again, failed = await self._observe(
                [rule for rule in self._rules if names & set(rule.names)], datetime.now(UTC), firing, use_cache=False
            )
            unconfirmed = {fp for fp in due if fp not in again or observed[fp].alertname in failed}
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", repository.EVALUATION_LOCK)
            stored = await repository.stored_alerts(connection)  # as another evaluator may have left it
            silences = await repository.active_silences(connection)
            silenced = frozenset(fp for fp, seen in observed.items() if silencing(silences, seen.labels))
            result = plan(
                stored,
                observed,
                now=now,
                pending_s=self._settings.pending_s,
                repeat_s=self._settings.repeat_s,
                recent_s=self._settings.recent_s,
                silenced=silenced,
                unconfirmed=frozenset(unconfirmed),
                held=held,
            )
            changed = [row for row in result.rows if stored.get(row.fingerprint) != row]
            await repository.apply_plan_rows(connection, changed, result.forget)
            await self._enqueue(connection, result.notices, now)
        counts = Counter((n.alert.alertname, n.status, n.kind) for n in result.notices)
        for (alertname, status, kind), count in sorted(counts.items()):  # one line per kind, even in a storm
            _log.info("alerts notified", alertname=alertname, status=status, kind=kind, alerts=count)
        return result.notices

    async def announce_publications(self, now: datetime | None = None) -> list[Notice]:
        """Put one info notice per market and day whose prices came out into the outbox (returned), once."""
        now = now or datetime.now(UTC)
        async with self._pool.acquire() as connection, connection.transaction():
            notices = [_publication_notice(publication, now) for publication in await claim_publications(connection)]
            await self._enqueue(connection, notices, now)
        for notice in notices:
            _log.info("prices notice queued", market=notice.alert.labels["market"], day=notice.alert.labels["day"])
        return notices

    async def _observe(
        self, rules: Sequence[Rule], now: datetime, firing: frozenset[str], *, use_cache: bool
    ) -> tuple[dict[str, Observation], frozenset[str]]:
        """Observations of ``rules`` by fingerprint, and the alert names of rules that failed."""
        ctx = RuleContext(
            pool=self._pool,
            settings=self._settings,
            now=now,
            started_at=self.started_at,
            timezone=self._timezone,
            checks=self._checks(),
            firing=firing,
            prices=self._prices,
        )
        observed: dict[str, Observation] = {}
        held: set[str] = set()
        for rule in rules:
            try:
                seen = await self._observe_rule(rule, ctx, use_cache=use_cache)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _log.warning("alert rule failed; its alerts keep their state", rule=rule.names[0], error=str(exc))
                held.update(rule.names)
                continue
            except Exception as exc:  # noqa: BLE001 - one broken rule must not silence the others
                _log.error("alert rule broke; its alerts keep their state", rule=rule.names[0], exc_info=exc)
                held.update(rule.names)
                continue
            observed.update((item.fingerprint, item) for item in seen)
        return observed, frozenset(held)

    async def _observe_rule(self, rule: Rule, ctx: RuleContext, *, use_cache: bool) -> list[Observation]:
        if not rule.slow:
            return await rule.observe(ctx)
        cached = self._slow.get(rule.names)
        if (
            use_cache
            and cached is not None
            and (ctx.now - cached[0]).total_seconds() < self._settings.slow_rules_every_s
        ):
            return cached[1]
        seen = await rule.observe(ctx)
        self._slow[rule.names] = (ctx.now, seen)
        return seen

    async def _enqueue(self, connection: asyncpg.Connection, notices: Sequence[Notice], now: datetime) -> list[int]:
        """One outbox row per receiver for each group of notices (by kind, status and ``group_by`` labels)."""
        s = self._settings
        rows: list[tuple[str, str, str, str, bytes]] = []
        for kind in ("notify", "repeat", "test", "info"):
            of_kind = [notice for notice in notices if notice.kind == kind]
            for body in group_notices(of_kind, group_by=s.group_by, external_url=s.external_url, now=now):
                encoded = msgspec.json.encode(body)
                rows += [("webhook", url, body.status, kind, encoded) for url in s.webhook_urls]
                if s.smtp is not None:
                    rows.append(("email", ",".join(s.smtp.recipients), body.status, kind, encoded))
                if s.alertmanager_url and kind != "repeat":  # Alertmanager repeats on its own
                    rows.append(("alertmanager", s.alertmanager_url, body.status, kind, encoded))
        return await repository.enqueue(connection, rows)

    # --- delivery ---------------------------------------------------------------------------------

    async def deliver_due(self, ids: Sequence[int] | None = None) -> list[DeliveryResult]:
        """Send due notifications (all, or ``ids``); failures are retried later with backoff."""
        results: list[DeliveryResult] = []
        smtp_timeout = self._settings.smtp.timeout_s if self._settings.smtp is not None else 0
        lease = max(self._settings.timeout_s, smtp_timeout) + 5  # a process that dies mid-send: retried after it
        while True:
            async with self._pool.acquire() as connection:
                claimed = await repository.claim_due(connection, lease_s=lease, limit=_BATCH, ids=ids)
            for index, row in enumerate(claimed):
                try:
                    results.append(await self._deliver(row))
                except asyncio.CancelledError:  # the hub stops: what it did not send is due again at once
                    await self._release([r.outbox_id for r in claimed[index:]])
                    raise
            if len(claimed) < _BATCH:
                return results

    async def _release(self, ids: Sequence[int]) -> None:
        with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            async with asyncio.timeout(5), self._pool.acquire() as connection:
                await repository.release(connection, ids)

    async def _deliver(self, row: repository.OutboxRow) -> DeliveryResult:
        body = _BODY.decode(row.body)
        async with self._pool.acquire() as connection:
            if row.status == "firing" and row.kind != "test":
                body = await self._still_firing(connection, body, notice=row.kind == "info")
                if not body.alerts:
                    await repository.mark_given_up(connection, row.outbox_id, "dropped: no longer firing, or silenced")
                    return DeliveryResult(channel=row.channel, target=row.target, delivered=False, error="dropped")
        try:
            await self._send(row.channel, row.target, body)
        except DeliveryError as exc:
            return await self._failed(row, str(exc))
        async with self._pool.acquire() as connection:
            await repository.mark_delivered(connection, row.outbox_id)
        _log.info("notification delivered", channel=row.channel, status=row.status, outbox_id=row.outbox_id)
        return DeliveryResult(channel=row.channel, target=row.target, delivered=True)

    async def _still_firing(
        self, connection: asyncpg.Connection, body: WebhookBody, *, notice: bool = False
    ) -> WebhookBody:
        """Leave out what resolved or is silenced now (an info ``notice`` has no alert state: silences only)."""
        fingerprints = [a.fingerprint for a in body.alerts]
        firing = set(fingerprints) if notice else await repository.firing_fingerprints(connection, fingerprints)
        silences = await repository.active_silences(connection)
        kept = [a for a in body.alerts if a.fingerprint in firing and not silencing(silences, a.labels)]
        return body if len(kept) == len(body.alerts) else msgspec.structs.replace(body, alerts=kept)

    async def _send(self, channel: str, target: str, body: WebhookBody) -> None:
        s = self._settings
        if channel == "webhook":
            await send_webhook(self._client, target, msgspec.json.encode(body), secret=s.webhook_secret)
        elif channel == "email":
            if s.smtp is None:
                msg = "alerts.smtp is no longer configured"
                raise DeliveryError(msg)
            await send_email(s.smtp, body)
        else:
            payload = alertmanager_payload(body, now=datetime.now(UTC), hold_s=self._am_hold_s)
            await send_alertmanager(self._client, target, payload)

    @property
    def _am_hold_s(self) -> float:
        return 3 * max(self._settings.alertmanager_resend_s, self._settings.evaluate_every_s)

    async def _failed(self, row: repository.OutboxRow, error: str) -> DeliveryResult:
        s = self._settings
        age = (datetime.now(UTC) - row.created_at).total_seconds()
        async with self._pool.acquire() as connection:
            if age >= s.give_up_after_s:
                await repository.mark_given_up(connection, row.outbox_id, f"gave up: {error}")
                _log.error("notification given up", channel=row.channel, outbox_id=row.outbox_id, error=error)
            else:
                retry = min(s.retry_base_s * 2 ** max(row.attempts - 1, 0), s.retry_max_s)
                await repository.mark_failed(connection, row.outbox_id, error, retry)
                _log.warning(
                    "notification not delivered; will retry",
                    channel=row.channel,
                    outbox_id=row.outbox_id,
                    retry_in_s=retry,
                    error=error,
                )
        return DeliveryResult(channel=row.channel, target=row.target, delivered=False, error=error)

    async def _refresh_alertmanager(self) -> None:
        """Re-send firing alerts to Alertmanager every ``alertmanager_resend_s`` (it resolves what it stops hearing)."""
        s = self._settings
        now = datetime.now(UTC)
        if not s.alertmanager_url or (
            self._alertmanager_pushed is not None
            and (now - self._alertmanager_pushed).total_seconds() < s.alertmanager_resend_s
        ):
            return
        self._alertmanager_pushed = now
        async with self._pool.acquire() as connection:
            alerts = [a for a in (await repository.listed_alerts(connection, "firing", 10_000)) if a.notified]
            silences = await repository.active_silences(connection)
        notices = [Notice("firing", "repeat", a) for a in alerts if not silencing(silences, a.labels)]
        for body in group_notices(notices, group_by=s.group_by, external_url=s.external_url, now=now):
            try:
                await send_alertmanager(
                    self._client, s.alertmanager_url, alertmanager_payload(body, now=now, hold_s=self._am_hold_s)
                )
            except DeliveryError as exc:
                _log.warning("alertmanager refresh failed", error=str(exc))
                return

    # --- the API ----------------------------------------------------------------------------------

    async def list_alerts(self, state: str | None, limit: int) -> list[AlertView]:
        """List firing and pending alerts and the recently resolved ones, with the silences holding them back."""
        async with self._pool.acquire() as connection:
            alerts = await repository.listed_alerts(connection, state, limit)
            silences = await repository.active_silences(connection)
        return [_view(alert, silencing(silences, alert.labels)) for alert in alerts]

    async def firing_rows(self) -> list[AlertRow]:
        """List the firing alerts as the admin dashboard shows them (its ``SnapshotSources.alerts``)."""
        async with self._pool.acquire() as connection:
            alerts = await repository.listed_alerts(connection, "firing", 200)
        return [
            AlertRow(
                fingerprint=a.fingerprint,
                alertname=a.alertname,
                labels=a.labels,
                starts_at=a.fired_at or a.active_since,
                summary=a.annotations.get("summary", ""),
            )
            for a in alerts
        ]

    async def create_silence(self, silence: NewSilence, *, actor: str) -> SilenceView:
        """Store a silence after checking its times and regular expressions."""
        now = datetime.now(UTC)
        starts = silence.starts_at or now
        if starts.tzinfo is None or silence.ends_at.tzinfo is None:
            msg = "starts_at and ends_at need an offset (e.g. 2026-01-01T12:00:00Z)"
            raise BadRequestError(msg)
        if silence.ends_at <= max(starts, now):
            msg = "ends_at must lie after starts_at and in the future"
            raise BadRequestError(msg)
        for matcher in silence.matchers:
            if matcher.is_regex:
                try:
                    re.compile(matcher.value)
                except re.error as exc:
                    msg = f"matcher {matcher.name}: invalid regular expression: {exc}"
                    raise BadRequestError(msg) from exc
        async with self._pool.acquire() as connection:
            row = await repository.insert_silence(
                connection, silence.matchers, starts, silence.ends_at, actor, silence.comment
            )
        _log.info("silence created", silence_id=row["silence_id"], actor=actor)
        return _silence_view(row, now)

    async def list_silences(self, *, include_expired: bool) -> list[SilenceView]:
        """Silences in force or to come (or all)."""
        now = datetime.now(UTC)
        async with self._pool.acquire() as connection:
            rows = await repository.silences(connection, include_expired=include_expired)
        return [_silence_view(row, now) for row in rows]

    async def expire_silence(self, silence_id: int, *, actor: str) -> None:
        """End a silence now (404 when there is none in force or to come)."""
        async with self._pool.acquire() as connection:
            if not 1 <= silence_id <= _MAX_BIGINT or not await repository.expire_silence(connection, silence_id):
                msg = f"no active silence {silence_id}"
                raise NotFoundError(msg)
        _log.info("silence expired", silence_id=silence_id, actor=actor)

    async def send_test(self, *, actor: str) -> SentTestNotification:
        """Send a test notification to every receiver now (through the outbox, so failures are retried)."""
        now = datetime.now(UTC)
        labels = {"alertname": "luna_test", "severity": "info", "requested_by": actor}
        alert = StoredAlert(
            fingerprint=Observation(labels=labels).fingerprint,
            labels=labels,
            annotations={"summary": f"test notification requested by {actor}"},
            state="firing",
            active_since=now,
            fired_at=now,
        )
        async with self._pool.acquire() as connection:
            ids = await self._enqueue(connection, [Notice("firing", "test", alert)], now)
        if not ids:
            msg = "no receivers configured: set alerts.webhook_urls, alerts.smtp or alerts.alertmanager_url"
            raise ConflictError(msg)
        return SentTestNotification(results=await self.deliver_due(ids))

    async def record_backup(self, report: BackupReport, *, actor: str) -> BackupRecorded:
        """Store what a backup run reported."""
        if report.finished_at is not None and report.finished_at.tzinfo is None:
            msg = "finished_at needs an offset (e.g. 2026-01-01T02:30:00Z)"
            raise BadRequestError(msg)
        async with self._pool.acquire() as connection:
            report_id = await repository.insert_backup_report(
                connection,
                job=report.job,
                success=report.success,
                finished_at=report.finished_at,
                host=report.host,
                message=report.message,
                reported_by=actor,
            )
        _log.info("backup reported", job=report.job, success=report.success, actor=actor)
        return BackupRecorded(report_id=report_id)


def _publication_notice(publication: Publication, now: datetime) -> Notice:
    labels = {
        "alertname": "prices_published",
        "severity": "info",
        "market": publication.market,
        "day": publication.day.isoformat(),
    }
    summary = (
        f"{publication.market} day-ahead prices for {publication.day.isoformat()} are out:"
        f" {publication.min_price:.2f} to {publication.max_price:.2f} EUR/MWh, mean {publication.mean_price:.2f}"
    )
    annotations = {"summary": summary, "cheapest_at": publication.cheapest_at.isoformat()}
    alert = StoredAlert(
        fingerprint=Observation(labels=labels).fingerprint,
        labels=labels,
        annotations=annotations,
        state="firing",
        active_since=now,
        fired_at=now,
    )
    return Notice("firing", "info", alert)


def _view(alert: StoredAlert, silenced_by: list[int]) -> AlertView:
    return AlertView(
        fingerprint=alert.fingerprint,
        alertname=alert.alertname,
        state=alert.state,
        labels=alert.labels,
        annotations=alert.annotations,
        active_since=alert.active_since,
        fired_at=alert.fired_at,
        resolved_at=alert.resolved_at,
        silenced_by=silenced_by,
    )


def _silence_view(row: asyncpg.Record, now: datetime) -> SilenceView:
    return SilenceView(
        silence_id=row["silence_id"],
        matchers=repository.decode_matchers(row["matchers"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
        comment=row["comment"],
        active=row["starts_at"] <= now < row["ends_at"],
    )
