"""Settings of the alerts domain (``[alerts]``, ``LUNA_ALERTS__*``): rules, notification timing, receivers."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["AlertSettings", "SmtpSettings"]

Seconds = Annotated[float, msgspec.Meta(ge=0)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]


class SmtpSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An SMTP server that mails notifications (``[alerts.smtp]``)."""

    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 587
    starttls: bool = True
    """Upgrade the connection with STARTTLS before authenticating (refused if the server does not offer it)."""
    ca_file: str | None = None
    """PEM file of the CA that signed the server's certificate; default: the system's trust store."""
    username: str | None = None
    password: str | None = None
    """Prefer ``LUNA_ALERTS__SMTP__PASSWORD`` to writing it into the file."""
    sender: str = "luna-hub@localhost"
    recipients: list[str] = msgspec.field(default_factory=list)
    timeout_s: PositiveSeconds = 10.0


class AlertSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Alert rules evaluated by the hub and where their notifications go (``[alerts]``)."""

    enabled: bool = True
    evaluate_every_s: PositiveSeconds = 30.0
    """How often one hub replica evaluates every rule and delivers due notifications."""
    pending_s: Seconds = 60.0
    """How long a condition must hold before its alert fires (Alertmanager/Prometheus ``for``)."""
    repeat_s: PositiveSeconds = 4 * 3600.0
    """A firing alert is notified again after this long (a reminder)."""
    recent_s: PositiveSeconds = 24 * 3600.0
    """Resolved alerts stay listed by ``GET /alerts`` this long."""
    group_by: list[str] = msgspec.field(default_factory=lambda: ["alertname"])
    """Labels whose values make one notification: alerts of one group changing together are sent together."""
    slow_rules_every_s: PositiveSeconds = 300.0
    """Rules that scan readings (data gaps, counter resets) run at most this often; between, their last answer holds."""
    # the rules
    agent_stale_after_s: PositiveSeconds | None = None
    """An agent is stale after this long without contact (default: half of ``agent_offline_after_s``) ..."""
    agent_offline_after_s: PositiveSeconds = 300.0
    """... and offline after this long (counted from the hub's start at the earliest: no storm after downtime)."""
    data_gap_min_completeness: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.9
    """A series whose last closed local day holds fewer than this share of its expected readings has a gap."""
    data_gap_days: Annotated[int, msgspec.Meta(ge=2, le=60)] = 7
    """Days of readings a series' expected spacing is inferred from."""
    sync_backlog_min: Annotated[int, msgspec.Meta(ge=1)] = 1000
    """An agent reporting at least this many unsynced readings ..."""
    sync_backlog_age_s: PositiveSeconds = 900.0
    """... the oldest of them waiting longer than this, has a growing backlog (it is not draining)."""
    clock_skew_s: PositiveSeconds = 30.0
    """An agent whose measured clock offset is beyond this (either way), or whose clock is untrusted, is skewed."""
    counter_reset_window_s: PositiveSeconds = 24 * 3600.0
    """Counter resets flagged by an agent in readings of this recent past are alerted."""
    document_jobs_window_s: PositiveSeconds = 3600.0
    """Document jobs that failed within this window are alerted."""
    backup_max_age_s: PositiveSeconds | None = 26 * 3600.0
    """No successful backup reported (``POST /ops/backups``) for this long is an alert; None: not watched."""
    backup_jobs: list[str] = msgspec.field(default_factory=lambda: ["luna-backup"])
    """Backup jobs expected to report even before their first report (``luna-backup``: the ansible role's unit)."""
    # delivery
    webhook_urls: list[str] = msgspec.field(default_factory=list)
    """Receivers of Alertmanager-v4-compatible webhook bodies."""
    webhook_secret: str | None = None
    """Signs each webhook body (``X-Luna-Signature``, HMAC-SHA256); ``LUNA_ALERTS__WEBHOOK_SECRET``."""
    smtp: SmtpSettings | None = None
    alertmanager_url: str | None = None
    """An Alertmanager (``http://host:9093``) the hub forwards alerts to (its v2 API)."""
    alertmanager_resend_s: PositiveSeconds = 60.0
    """Firing alerts are re-sent to Alertmanager this often (it resolves alerts it stops hearing about)."""
    external_url: str = ""
    """The hub's address as people reach it (``externalURL``, ``generatorURL`` of notifications)."""
    timeout_s: PositiveSeconds = 10.0
    """Per delivery attempt (webhook, Alertmanager)."""
    retry_base_s: PositiveSeconds = 5.0
    """A failed delivery is retried after this, doubling each time ..."""
    retry_max_s: PositiveSeconds = 600.0
    """... up to this delay ..."""
    give_up_after_s: PositiveSeconds = 24 * 3600.0
    """... until the notification is this old; then it is marked failed (and logged)."""

    @property
    def stale_after_s(self) -> float:
        """Seconds without contact after which an agent is stale."""
        return self.agent_stale_after_s if self.agent_stale_after_s is not None else self.agent_offline_after_s / 2

    def __post_init__(self) -> None:
        if self.agent_stale_after_s is not None and self.agent_stale_after_s >= self.agent_offline_after_s:
            msg = (
                f"agent_stale_after_s ({self.agent_stale_after_s}) must be below"
                f" agent_offline_after_s ({self.agent_offline_after_s})"
            )
            raise ValueError(msg)
        if self.retry_base_s > self.retry_max_s:
            msg = "retry_base_s must not exceed retry_max_s"
            raise ValueError(msg)
