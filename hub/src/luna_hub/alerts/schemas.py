"""Types of the alerts domain: alert state, silences, notifications (Alertmanager's webhook v4 body), backup reports."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec

__all__ = [
    "ZERO_TIME",
    "AlertState",
    "AlertView",
    "BackupRecorded",
    "BackupReport",
    "DeliveryResult",
    "Matcher",
    "NewSilence",
    "Observation",
    "SentTestNotification",
    "SilenceView",
    "StoredAlert",
    "WebhookAlert",
    "WebhookBody",
    "fingerprint_of",
]

AlertState = Literal["pending", "firing", "resolved"]
Labels = dict[str, str]
ZERO_TIME: Final = "0001-01-01T00:00:00Z"
"""``endsAt`` of a firing alert in Alertmanager's webhook body."""

LabelName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Job = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


def fingerprint_of(labels: Labels) -> str:
    """Return an alert's stable identity: 16 hex digits of a SHA-256 over its sorted labels."""
    canonical = "\x1f".join(f"{name}\x1e{labels[name]}" for name in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """A condition a rule sees now: the alert's labels (``alertname`` among them) and what to tell people."""

    labels: Labels
    annotations: Labels = msgspec.field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """The alert's identity."""
        return fingerprint_of(self.labels)

    @property
    def alertname(self) -> str:
        """Which rule raised it."""
        return self.labels["alertname"]


class StoredAlert(msgspec.Struct, frozen=True, kw_only=True):
    """An alert as persisted (table ``alerts``)."""

    fingerprint: str
    labels: Labels
    annotations: Labels
    state: AlertState
    active_since: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    notified: bool = False
    """A firing notification went out for this episode (so exactly one resolve will follow)."""
    last_notified_at: datetime | None = None

    @property
    def alertname(self) -> str:
        """Which rule raised it."""
        return self.labels["alertname"]


class AlertView(msgspec.Struct, frozen=True, kw_only=True):
    """An alert in ``GET /alerts``."""

    fingerprint: str
    alertname: str
    state: AlertState
    labels: Labels
    annotations: Labels
    active_since: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    silenced_by: list[int]
    """Active silences matching the alert (its notifications are held back)."""


class Matcher(msgspec.Struct, frozen=True, kw_only=True):
    """Matches an alert's label (Alertmanager's matcher): equal, not equal, or a full-match regex."""

    name: LabelName
    value: Annotated[str, msgspec.Meta(max_length=1024)]
    is_regex: bool = False
    is_equal: bool = True


class NewSilence(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /alerts/silences``: hold back notifications of alerts matching every matcher until ``ends_at``."""

    matchers: Annotated[list[Matcher], msgspec.Meta(min_length=1, max_length=32)]
    ends_at: datetime
    starts_at: datetime | None = None
    """Default: now."""
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class SilenceView(msgspec.Struct, frozen=True, kw_only=True):
    """A silence as stored."""

    silence_id: int
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    active: bool


class WebhookAlert(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One alert of a webhook body, as Alertmanager writes it."""

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels
    starts_at: str
    ends_at: str
    generator_url: str = msgspec.field(name="generatorURL", default="")
    fingerprint: str = ""


class WebhookBody(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Alertmanager's webhook body, version 4 (what ``alerts.webhook_urls`` receive)."""

    version: str
    group_key: str
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: Labels
    common_labels: Labels
    common_annotations: Labels
    alerts: list[WebhookAlert]
    truncated_alerts: int = 0
    external_url: str = msgspec.field(name="externalURL", default="")


class DeliveryResult(msgspec.Struct, frozen=True, kw_only=True):
    """How one delivery attempt went."""

    channel: str
    target: str
    delivered: bool
    error: str | None = None


class SentTestNotification(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /alerts/test``: one result per configured receiver."""

    results: list[DeliveryResult]


class BackupReport(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /ops/backups``: what one backup run (of one part: database, vectors, documents) ended with."""

    job: Job
    success: bool
    finished_at: datetime | None = None
    """Default: when the hub receives the report."""
    host: Annotated[str, msgspec.Meta(max_length=255)] = ""
    message: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class BackupRecorded(msgspec.Struct, frozen=True, kw_only=True):
    """The stored report's id."""

    report_id: int
