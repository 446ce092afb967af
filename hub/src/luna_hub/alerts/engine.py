"""Alertmanager's semantics as a pure function: observations and stored state in, new state and notices out.

::

    (new) --observed--> pending --held pending_s, re-checked--> firing --gone--> resolved
                          |                                       |
                          +--gone: forgotten                      +--every repeat_s: a reminder

A firing alert is notified once (unless silenced: then when the silence ends, if still firing);
its resolve is notified once, and only if its firing was. Alerts of rules that could not be
evaluated this time (``held``) keep their state: an unknown is not a resolve.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

import msgspec

from luna_hub.alerts.schemas import ZERO_TIME, Matcher, Observation, StoredAlert, WebhookAlert, WebhookBody

__all__ = [
    "Notice",
    "Plan",
    "due_to_fire",
    "group_key",
    "group_notices",
    "matches",
    "plan",
    "silencing",
    "webhook_alert",
]

RECEIVER: Final = "luna-hub"


@dataclass(frozen=True, slots=True)
class Notice:
    """One alert to notify: it fires (first time or a reminder) or it resolved; or a test, or an info notice."""

    status: Literal["firing", "resolved"]
    kind: Literal["notify", "repeat", "test", "info"]
    alert: StoredAlert


@dataclass(frozen=True, slots=True)
class Plan:
    """What one evaluation changes: rows to write, fingerprints to forget, notices to send."""

    rows: list[StoredAlert] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def plan(  # noqa: C901, PLR0913 - the whole of an evaluation's inputs, and its transitions in one place
    stored: Mapping[str, StoredAlert],
    observed: Mapping[str, Observation],
    *,
    now: datetime,
    pending_s: float,
    repeat_s: float,
    recent_s: float,
    silenced: frozenset[str] = frozenset(),
    unconfirmed: frozenset[str] = frozenset(),
    held: frozenset[str] = frozenset(),
) -> Plan:
    """Advance every alert to ``now``.

    ``silenced``: fingerprints matched by an active silence; ``unconfirmed``: due to fire but the
    re-check just before sending no longer saw them; ``held``: alert names whose rule failed.
    """
    result = Plan()
    pending = timedelta(seconds=pending_s)
    for fingerprint, seen in observed.items():
        alert = _advance(
            stored.get(fingerprint), seen, now=now, pending=pending, confirmed=fingerprint not in unconfirmed
        )
        if alert.state == "firing" and fingerprint not in silenced:
            if not alert.notified:
                result.notices.append(Notice("firing", "notify", alert))
                alert = msgspec.structs.replace(alert, notified=True, last_notified_at=now)
            elif alert.last_notified_at is None or (now - alert.last_notified_at).total_seconds() >= repeat_s:
                result.notices.append(Notice("firing", "repeat", alert))
                alert = msgspec.structs.replace(alert, last_notified_at=now)
        result.rows.append(alert)
    for fingerprint, old in stored.items():
        if fingerprint in observed or old.alertname in held:
            continue
        if old.state == "pending":
            result.forget.append(fingerprint)
        elif old.state == "firing":
            resolved = msgspec.structs.replace(old, state="resolved", resolved_at=now, notified=False)
            if old.notified:
                result.notices.append(Notice("resolved", "notify", resolved))
            result.rows.append(resolved)
        elif old.resolved_at is None or (now - old.resolved_at).total_seconds() >= recent_s:
            result.forget.append(fingerprint)
    return result


def _advance(
    old: StoredAlert | None, seen: Observation, *, now: datetime, pending: timedelta, confirmed: bool
) -> StoredAlert:
    if old is None or old.state == "resolved":
        alert = StoredAlert(
            fingerprint=seen.fingerprint,
            labels=seen.labels,
            annotations=seen.annotations,
            state="pending",
            active_since=now,
        )
    else:
        alert = msgspec.structs.replace(old, annotations=seen.annotations)
    if alert.state == "pending" and now - alert.active_since >= pending and confirmed:
        alert = msgspec.structs.replace(alert, state="firing", fired_at=now)
    return alert


def due_to_fire(
    stored: Mapping[str, StoredAlert], observed: Mapping[str, Observation], *, now: datetime, pending_s: float
) -> set[str]:
    """Fingerprints that this evaluation would turn from pending (or new) to firing: to re-check first."""
    pending = timedelta(seconds=pending_s)
    due = set()
    for fingerprint in observed:
        old = stored.get(fingerprint)
        if old is None or old.state == "resolved":
            if pending <= timedelta(0):
                due.add(fingerprint)
        elif old.state == "pending" and now - old.active_since >= pending:
            due.add(fingerprint)
    return due


def matches(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches ``labels`` (a missing label is the empty string, as in Alertmanager)."""
    for matcher in matchers:
        value = labels.get(matcher.name, "")
        hit = re.fullmatch(matcher.value, value) is not None if matcher.is_regex else value == matcher.value
        if hit != matcher.is_equal:
            return False
    return True


def silencing(silences: Iterable[tuple[int, Sequence[Matcher]]], labels: Mapping[str, str]) -> list[int]:
    """Ids of the ``(id, matchers)`` silences that match ``labels``."""
    return [silence_id for silence_id, matchers in silences if matches(matchers, labels)]


def group_notices(
    notices: Sequence[Notice], *, group_by: Sequence[str], external_url: str, now: datetime
) -> list[WebhookBody]:
    """One webhook body per group (the ``group_by`` labels' values) and status, in order of first appearance."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Notice]] = {}
    for notice in notices:
        key = tuple((name, notice.alert.labels.get(name, "")) for name in group_by)
        groups.setdefault((notice.status, key), []).append(notice)
    bodies = []
    for (status, key), members in groups.items():
        alerts = [webhook_alert(notice, external_url=external_url, now=now) for notice in members]
        group_labels = {name: value for name, value in key if value}
        bodies.append(
            WebhookBody(
                version="4",
                group_key=group_key(group_labels),
                status=status,  # type: ignore[arg-type] # the dict key keeps the literal
                receiver=RECEIVER,
                group_labels=group_labels,
                common_labels=_common([a.labels for a in alerts]),
                common_annotations=_common([a.annotations for a in alerts]),
                alerts=alerts,
                external_url=external_url,
            )
        )
    return bodies


def group_key(group_labels: Mapping[str, str]) -> str:
    """Alertmanager's group key for a route at the root: ``{}:{name="value", ...}``."""
    inner = ", ".join(f'{name}="{group_labels[name]}"' for name in sorted(group_labels))
    return f"{{}}:{{{inner}}}"


def webhook_alert(notice: Notice, *, external_url: str, now: datetime) -> WebhookAlert:
    """Write the alert of ``notice`` as Alertmanager writes it into a webhook body."""
    alert = notice.alert
    ends = alert.resolved_at or now if notice.status == "resolved" else None
    return WebhookAlert(
        status=notice.status,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=_rfc3339(alert.fired_at or alert.active_since),
        ends_at=ZERO_TIME if ends is None else _rfc3339(ends),
        generator_url=f"{external_url.rstrip('/')}/alerts" if external_url else "",
        fingerprint=alert.fingerprint,
    )


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {name: value for name, value in first.items() if all(other.get(name) == value for other in maps[1:])}
