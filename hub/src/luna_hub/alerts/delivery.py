"""Sending notifications: webhooks (signed), e-mail over SMTP with STARTTLS, Alertmanager's v2 API.

Each sender raises :class:`DeliveryError` when the receiver did not take the notification; the
outbox (:mod:`luna_hub.alerts.services`) then retries with backoff.

Webhook signature: ``X-Luna-Signature: sha256=<hex>``, the HMAC-SHA256 under ``alerts.webhook_secret``
of ``<X-Luna-Timestamp>.<body>`` (the timestamp in Unix seconds, so a receiver can refuse replays).
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import time
from datetime import datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import httpx
import msgspec

from luna_hub.alerts.schemas import ZERO_TIME, WebhookBody
from luna_hub.settings.alerts import SmtpSettings

__all__ = [
    "DeliveryError",
    "alertmanager_payload",
    "send_alertmanager",
    "send_email",
    "send_webhook",
    "sign",
]

SIGNATURE_HEADER = "X-Luna-Signature"
TIMESTAMP_HEADER = "X-Luna-Timestamp"


class DeliveryError(Exception):
    """A receiver did not take a notification (unreachable, refused, or answered with an error)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def send_webhook(client: httpx.AsyncClient, url: str, body: bytes, *, secret: str | None) -> None:
    """POST ``body`` (JSON) to ``url``; any 2xx is delivered."""
    headers = {"Content-Type": "application/json", "User-Agent": "luna-hub-alerts"}
    if secret:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    await _post(client, url, body, headers)


def alertmanager_payload(body: WebhookBody, *, now: datetime, hold_s: float) -> bytes:
    """Return the alerts of ``body`` as Alertmanager's ``POST /api/v2/alerts`` takes them.

    A firing alert is valid for ``hold_s`` (Alertmanager resolves it after that unless it is sent again).
    """
    hold = (now + timedelta(seconds=hold_s)).isoformat().replace("+00:00", "Z")
    alerts = [
        {
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": alert.starts_at,
            "endsAt": hold if alert.ends_at == ZERO_TIME else alert.ends_at,
            **({"generatorURL": alert.generator_url} if alert.generator_url else {}),
        }
        for alert in body.alerts
    ]
    return msgspec.json.encode(alerts)


async def send_alertmanager(client: httpx.AsyncClient, base_url: str, payload: bytes) -> None:
    """POST alerts to an Alertmanager's v2 API."""
    url = f"{base_url.rstrip('/')}/api/v2/alerts"
    await _post(client, url, payload, {"Content-Type": "application/json", "User-Agent": "luna-hub-alerts"})


async def _post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        msg = f"{type(exc).__name__}: {exc}"
        raise DeliveryError(msg) from exc
    if not response.is_success:
        msg = f"HTTP {response.status_code}: {response.text[:200]}"
        raise DeliveryError(msg)


def email_message(body: WebhookBody, smtp: SmtpSettings) -> EmailMessage:
    """Write a notification as a plain-text mail, its subject as Alertmanager's: ``[FIRING:2] agent_offline``."""
    message = EmailMessage()
    title = ", ".join(f"{k}={v}" for k, v in sorted(body.group_labels.items())) or "luna-hub"
    message["Subject"] = f"[{body.status.upper()}:{len(body.alerts)}] {title}"
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    lines = []
    for alert in body.alerts:
        lines.append(f"{alert.status.upper()}: {alert.annotations.get('summary', alert.labels.get('alertname', ''))}")
        lines += [f"  {name} = {value}" for name, value in sorted(alert.labels.items())]
        lines.append(f"  since {alert.starts_at}" + ("" if alert.ends_at == ZERO_TIME else f", until {alert.ends_at}"))
        lines.append("")
    if body.external_url:
        lines.append(f"{body.external_url.rstrip('/')}/alerts")
    message.set_content("\n".join(lines))
    return message


async def send_email(smtp: SmtpSettings, body: WebhookBody) -> None:
    """Mail a notification to ``smtp.recipients`` (STARTTLS first unless switched off)."""
    if not smtp.recipients:
        msg = "no recipients in alerts.smtp.recipients"
        raise DeliveryError(msg)
    context = ssl.create_default_context(cafile=smtp.ca_file) if smtp.starttls else None
    try:
        await aiosmtplib.send(
            email_message(body, smtp),
            hostname=smtp.host,
            port=smtp.port,
            start_tls=smtp.starttls,
            use_tls=False,
            tls_context=context,
            username=smtp.username,
            password=smtp.password,
            timeout=smtp.timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        msg = f"{type(exc).__name__}: {exc}"
        raise DeliveryError(msg) from exc
