"""Notifications reach real receivers: an SMTP server (aiosmtpd, STARTTLS required) and Debian's Alertmanager.

Alertmanager (``prometheus-alertmanager``) runs as a process on loopback, configured to deliver to a
webhook receiver of the test: the hub forwards to Alertmanager's v2 API, Alertmanager notifies.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from luna_hub.settings.alerts import SmtpSettings
from support.alerting import Fleet, alert_settings, evaluations, until
from support.hub import ready_client
from support.processes import free_port
from support.receivers import WebhookReceiver, self_signed_certificate

ALERTMANAGER = shutil.which("prometheus-alertmanager")


class _Inbox:
    """aiosmtpd handler keeping every message with whether it came over TLS."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, bool]] = []

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope, session.ssl is not None))
        return "250 OK"


async def test_email_goes_out_over_starttls(alerts_dsn: str, tmp_path: Path, fleet: Fleet) -> None:
    cert, _key, context = self_signed_certificate(tmp_path)
    inbox = _Inbox()
    port = free_port()
    server = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True, ready_timeout=10
    )
    server.start()
    try:
        smtp = SmtpSettings(
            host="127.0.0.1", port=port, ca_file=str(cert), sender="hub@example.org", recipients=["ops@example.org"]
        )
        await fleet.add("agent-mail")
        async with ready_client(alert_settings(alerts_dsn, smtp=smtp)) as hub:
            await until(lambda: evaluations(hub) >= 15)
            await fleet.silent_since("agent-mail", 3600)
            await until(lambda: len(inbox.messages) >= 1)
            sent = await hub.post("/alerts/test")
            assert sent.json()["results"] == [
                {"channel": "email", "target": "ops@example.org", "delivered": True, "error": None}
            ]
        envelope, over_tls = inbox.messages[0]
        assert over_tls, "the mail was sent before STARTTLS"
        assert envelope.mail_from == "hub@example.org"
        assert envelope.rcpt_tos == ["ops@example.org"]
        message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        assert message["Subject"] == "[FIRING:1] alertname=agent_offline"
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "agent agent-mail has not contacted the hub" in text
        assert "agent_id = agent-mail" in text
        assert len(inbox.messages) == 2
    finally:
        server.stop()


async def test_email_is_retried_when_the_server_refuses_plain_text(alerts_dsn: str) -> None:
    """A server without STARTTLS is never sent the mail in clear text: the delivery fails (and is retried)."""
    inbox = _Inbox()
    port = free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    server.start()
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=port, recipients=["ops@example.org"])
        async with ready_client(alert_settings(alerts_dsn, smtp=smtp, enabled=False)) as hub:
            result = (await hub.post("/alerts/test")).json()["results"][0]
        assert result["delivered"] is False
        assert "STARTTLS" in result["error"] or "starttls" in result["error"].lower()
        assert inbox.messages == []
    finally:
        server.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[str]:
    """Debian's Alertmanager on loopback, routing every alert to ``receiver`` at once; its URL."""
    if ALERTMANAGER is None:
        pytest.fail("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: test\n"
        "  group_by: [alertname]\n"
        "  group_wait: 100ms\n"
        "  group_interval: 500ms\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: test\n"
        "    webhook_configs:\n"
        f"      - url: {receiver.url}\n"
        "        send_resolved: true\n",
        encoding="utf-8",
    )
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"alertmanager did not start: {(tmp_path / 'alertmanager.log').read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


async def test_alerts_forwarded_to_alertmanager_reach_its_receiver(
    alerts_dsn: str, fleet: Fleet, receiver: WebhookReceiver, alertmanager: str
) -> None:
    await fleet.add("agent-am", site_id="site-am")
    async with ready_client(alert_settings(alerts_dsn, alertmanager_url=alertmanager)) as hub:
        await until(lambda: evaluations(hub) >= 15)
        await fleet.silent_since("agent-am", 3600)
        await receiver.wait_for(1)
        firing = receiver.bodies()[0]
        assert firing["receiver"] == "test"  # Alertmanager's own notification
        assert firing["status"] == "firing"
        labels = firing["alerts"][0]["labels"]
        assert labels == {
            "alertname": "agent_offline",
            "severity": "critical",
            "agent_id": "agent-am",
            "site_id": "site-am",
        }
        async with httpx.AsyncClient(timeout=5) as client:
            in_alertmanager = (await client.get(f"{alertmanager}/api/v2/alerts")).json()
        assert [a["labels"]["agent_id"] for a in in_alertmanager] == ["agent-am"]

        await fleet.contact("agent-am")
        await until(lambda: any(body["status"] == "resolved" for body in receiver.bodies()))
        resolved: dict[str, Any] = next(b for b in receiver.bodies() if b["status"] == "resolved")
        assert resolved["alerts"][0]["labels"]["agent_id"] == "agent-am"
        assert resolved["alerts"][0]["status"] == "resolved"
