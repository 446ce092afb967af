"""Alerts end to end: the hub app evaluates, a real webhook receiver on loopback gets the notifications.

Agents' contact is set in the database (``agents.last_seen_at``, as the sync domain records it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from luna_hub.alerts.schemas import fingerprint_of
from luna_hub.settings import HubSettings
from luna_shared.config import load_settings
from support.alerting import Fleet, alert_settings, evaluations, until
from support.hub import admin_key, migrated_pool, ready_client
from support.processes import free_port
from support.receivers import WebhookReceiver, webhook_receiver

SECRET = "s3cret-for-the-test"  # noqa: S105 - the test's own signing secret


async def _until_outbox(fleet: Fleet, condition: str) -> None:
    """Wait until ``condition`` (an aggregate over the outbox, which the duty writes) holds."""
    async with asyncio.timeout(30):
        while not await fleet.pool.fetchval(f"SELECT coalesce({condition}, false) FROM alert_outbox"):  # noqa: S608, ASYNC110
            await asyncio.sleep(0.05)


def _alertnames(body: dict[str, object]) -> list[str]:
    return sorted(alert["labels"]["alertname"] for alert in body["alerts"])  # type: ignore[attr-defined]


async def test_offline_agent_fires_once_and_resolves_exactly_once(
    alerts_dsn: str, fleet: Fleet, receiver: WebhookReceiver
) -> None:
    await fleet.add("agent-1")
    await fleet.add("agent-2")
    settings = alert_settings(alerts_dsn, webhook_urls=[receiver.url], webhook_secret=SECRET)
    async with ready_client(settings) as hub:
        await until(lambda: evaluations(hub) >= 15)  # past agent_offline_after_s since the start (storm guard)
        assert receiver.received == []  # both agents are in contact
        await fleet.silent_since("agent-1", 3600)
        await fleet.silent_since("agent-2", 3600)
        await receiver.wait_for(1)
        firing = receiver.received[0]
        body = firing.json()
        # one notification for the group (alertname), both agents in it, Alertmanager's webhook v4 shape
        assert body["version"] == "4"
        assert body["status"] == "firing"
        assert body["groupKey"] == '{}:{alertname="agent_offline"}'
        assert body["groupLabels"] == {"alertname": "agent_offline"}
        assert body["commonLabels"]["site_id"] == "site-a"
        assert sorted(a["labels"]["agent_id"] for a in body["alerts"]) == ["agent-1", "agent-2"]
        for alert in body["alerts"]:
            assert alert["status"] == "firing"
            assert alert["endsAt"] == "0001-01-01T00:00:00Z"
            assert datetime.fromisoformat(alert["startsAt"]) <= datetime.now(UTC)
            assert alert["fingerprint"] == fingerprint_of(alert["labels"])
        # signed: HMAC-SHA256 of "<timestamp>.<body>"
        timestamp = firing.headers["x-luna-timestamp"]
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + firing.body, hashlib.sha256).hexdigest()
        assert firing.headers["x-luna-signature"] == f"sha256={expected}"

        listed = (await hub.get("/alerts", params={"state": "firing"})).json()
        assert sorted(a["labels"]["agent_id"] for a in listed) == ["agent-1", "agent-2"]

        await fleet.contact("agent-1")
        await receiver.wait_for(2)
        resolved = receiver.received[1].json()
        assert resolved["status"] == "resolved"
        assert [a["labels"]["agent_id"] for a in resolved["alerts"]] == ["agent-1"]
        assert datetime.fromisoformat(resolved["alerts"][0]["endsAt"]) > datetime.fromisoformat(
            resolved["alerts"][0]["startsAt"]
        )
        runs = evaluations(hub)
        await until(lambda: evaluations(hub) >= runs + 10)
        assert len(receiver.received) == 2, "a resolve or firing notification was repeated"
        states = {a["labels"]["agent_id"]: a["state"] for a in (await hub.get("/alerts")).json()}
        assert states == {"agent-1": "resolved", "agent-2": "firing"}


async def test_settings_from_the_environment_drive_the_evaluation(
    alerts_dsn: str, fleet: Fleet, receiver: WebhookReceiver
) -> None:
    env = {
        "LUNA_DATABASE_URL": alerts_dsn,
        "LUNA_ALERTS__WEBHOOK_URLS": f'["{receiver.url}"]',
        "LUNA_ALERTS__AGENT_OFFLINE_AFTER_S": "5",
        "LUNA_ALERTS__PENDING_S": "0",
        "LUNA_ALERTS__EVALUATE_EVERY_S": "1",
        "LUNA_ALERTS__BACKUP_MAX_AGE_S": "86400",
    }
    settings = load_settings(HubSettings, env=env).settings
    assert settings.alerts.webhook_urls == [receiver.url]
    assert settings.alerts.agent_offline_after_s == 5
    assert settings.alerts.pending_s == 0
    assert settings.alerts.evaluate_every_s == 1
    assert settings.alerts.stale_after_s == 2.5  # half of offline when not set
    await fleet.add("agent-env")
    await fleet.silent_since("agent-env", 3600)
    async with ready_client(settings) as hub:
        # silent for an hour, but the hub just started: stale after 2.5 s, offline after 5 s (storm guard)
        await receiver.wait_for(3)
        sent = [(body["status"], _alertnames(body)) for body in receiver.bodies()]
        assert sent == [
            ("firing", ["agent_stale"]),
            ("firing", ["agent_offline"]),
            ("resolved", ["agent_stale"]),
        ]
        assert evaluations(hub) >= 5


async def test_storm_guard_gives_agents_their_period_after_the_hub_starts(
    alerts_dsn: str, fleet: Fleet, receiver: WebhookReceiver
) -> None:
    """Agents silent while the hub was down are not alerted before they had ``agent_offline_after_s`` to report."""
    await fleet.add("agent-back")
    await fleet.silent_since("agent-back", 86400)  # the hub was down for a day
    settings = alert_settings(alerts_dsn, webhook_urls=[receiver.url], agent_offline_after_s=3.0)
    async with ready_client(settings) as hub:
        await until(lambda: evaluations(hub) >= 5)
        assert receiver.received == []
        await fleet.contact("agent-back")  # it reconnects within its period
        await until(lambda: evaluations(hub) >= 40)  # past 3 s from the start
        assert receiver.received == []


async def test_a_silence_holds_back_notifications_until_it_is_expired(
    alerts_dsn: str, fleet: Fleet, receiver: WebhookReceiver
) -> None:
    await fleet.add("agent-quiet")
    await fleet.add("agent-loud")
    settings = alert_settings(alerts_dsn, webhook_urls=[receiver.url])
    async with ready_client(settings) as hub:
        await until(lambda: evaluations(hub) >= 15)
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        created = await hub.post(
            "/alerts/silences",
            json={"matchers": [{"name": "agent_id", "value": "agent-q.*", "is_regex": True}], "ends_at": ends},
        )
        assert created.status_code == 201, created.text
        silence = created.json()
        assert silence["active"] is True
        await fleet.silent_since("agent-quiet", 3600)
        await fleet.silent_since("agent-loud", 3600)
        await receiver.wait_for(1)
        runs = evaluations(hub)
        await until(lambda: evaluations(hub) >= runs + 10)
        assert [[a["labels"]["agent_id"] for a in body["alerts"]] for body in receiver.bodies()] == [["agent-loud"]]
        listed = {a["labels"]["agent_id"]: a for a in (await hub.get("/alerts")).json()}
        assert listed["agent-quiet"]["state"] == "firing"
        assert listed["agent-quiet"]["silenced_by"] == [silence["silence_id"]]
        assert [s["silence_id"] for s in (await hub.get("/alerts/silences")).json()] == [silence["silence_id"]]
        on_dashboard = (await hub.get("/admin/snapshot")).json()["alerts"]
        assert sorted(a["labels"]["agent_id"] for a in on_dashboard) == ["agent-loud", "agent-quiet"]
        assert all("has not contacted the hub" in a["summary"] for a in on_dashboard)

        assert (await hub.delete(f"/alerts/silences/{silence['silence_id']}")).status_code == 204
        assert (await hub.delete(f"/alerts/silences/{silence['silence_id']}")).status_code == 404
        await receiver.wait_for(2)
        assert [a["labels"]["agent_id"] for a in receiver.received[1].json()["alerts"]] == ["agent-quiet"]
        assert (await hub.get("/alerts/silences")).json() == []


async def test_silence_requests_are_validated(alerts_dsn: str) -> None:
    async with ready_client(alert_settings(alerts_dsn)) as hub:
        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        matcher = {"name": "alertname", "value": "agent_offline"}
        assert (await hub.post("/alerts/silences", json={"matchers": [matcher], "ends_at": past})).status_code == 400
        assert (await hub.post("/alerts/silences", json={"matchers": [], "ends_at": future})).status_code == 400
        bad_regex = {"name": "agent_id", "value": "(", "is_regex": True}
        assert (
            await hub.post("/alerts/silences", json={"matchers": [bad_regex], "ends_at": future})
        ).status_code == 400
        assert (await hub.delete("/alerts/silences/99999999999999999999")).status_code in {400, 404}


async def test_a_notification_in_the_outbox_is_delivered_after_a_restart(alerts_dsn: str, fleet: Fleet) -> None:
    port = free_port()  # nothing listens there while the first hub runs
    url = f"http://127.0.0.1:{port}/hook"
    settings = alert_settings(alerts_dsn, webhook_urls=[url], retry_base_s=0.2, retry_max_s=0.5, timeout_s=1.0)
    await fleet.add("agent-x")
    async with ready_client(settings) as hub:
        await until(lambda: evaluations(hub) >= 15)
        await fleet.silent_since("agent-x", 3600)
        await _until_outbox(fleet, "max(attempts) >= 2")  # a first attempt and a retry
        row = await fleet.pool.fetchrow("SELECT delivered_at, last_error FROM alert_outbox")
        assert row["delivered_at"] is None
        assert "ConnectError" in row["last_error"]
        assert evaluations(hub) >= 1
    # the hub is gone; the receiver comes up; a new hub process starts on the same database
    async with webhook_receiver(port) as receiver, ready_client(settings) as hub:
        await receiver.wait_for(1)
        runs = evaluations(hub)
        await until(lambda: evaluations(hub) >= runs + 5)
        assert [b["status"] for b in receiver.bodies()] == ["firing"]  # delivered once, not notified again
        assert _alertnames(receiver.bodies()[0]) == ["agent_offline"]
    assert await fleet.pool.fetchval("SELECT count(*) FROM alert_outbox WHERE delivered_at IS NULL") == 0


async def test_two_evaluating_hubs_on_one_database_notify_once(
    alerts_dsn: str, fleet: Fleet, receiver: WebhookReceiver
) -> None:
    await fleet.add("agent-y")
    settings = alert_settings(alerts_dsn, webhook_urls=[receiver.url])
    async with ready_client(settings) as first, ready_client(settings) as second:
        await until(lambda: evaluations(first) + evaluations(second) >= 15)
        await fleet.silent_since("agent-y", 3600)
        await receiver.wait_for(1)
        await until(lambda: evaluations(first) + evaluations(second) >= 20)
        assert len(receiver.received) == 1
        assert min(evaluations(first), evaluations(second)) == 0, "both replicas evaluated"


async def test_a_failing_receiver_is_retried_with_backoff(
    alerts_dsn: str, fleet: Fleet, receiver: WebhookReceiver
) -> None:
    receiver.status = 503
    await fleet.add("agent-z")
    settings = alert_settings(alerts_dsn, webhook_urls=[receiver.url], retry_base_s=0.1, retry_max_s=0.4)
    async with ready_client(settings) as hub:
        await until(lambda: evaluations(hub) >= 15)
        await fleet.silent_since("agent-z", 3600)
        await _until_outbox(fleet, "max(attempts) >= 3")
        assert "HTTP 503" in await fleet.pool.fetchval("SELECT last_error FROM alert_outbox")
        receiver.status = 200
        await receiver.wait_for(1)
        await _until_outbox(fleet, "bool_and(delivered_at IS NOT NULL)")
    assert len(receiver.received) == 1


async def test_backup_reports_raise_and_clear_an_alert(alerts_dsn: str, receiver: WebhookReceiver) -> None:
    settings = alert_settings(alerts_dsn, webhook_urls=[receiver.url])
    async with ready_client(settings) as hub:
        failed = await hub.post("/ops/backups", json={"job": "database", "success": False, "message": "pg_dump: oops"})
        assert failed.status_code == 201, failed.text
        await receiver.wait_for(1)
        body = receiver.bodies()[0]
        assert body["alerts"][0]["labels"] == {"alertname": "backup_failed", "severity": "critical", "job": "database"}
        assert "pg_dump: oops" in body["alerts"][0]["annotations"]["message"]
        assert (await hub.post("/ops/backups", json={"job": "database", "success": True})).status_code == 201
        await receiver.wait_for(2)
        assert receiver.bodies()[1]["status"] == "resolved"
        assert (await hub.post("/ops/backups", json={"job": "../etc", "success": True})).status_code == 400


async def test_test_notification_reaches_every_receiver(alerts_dsn: str, receiver: WebhookReceiver) -> None:
    async with ready_client(alert_settings(alerts_dsn, enabled=False)) as hub:
        assert (await hub.post("/alerts/test")).status_code == 409  # no receiver configured
    async with ready_client(alert_settings(alerts_dsn, enabled=False, webhook_urls=[receiver.url])) as hub:
        sent = await hub.post("/alerts/test")
        assert sent.status_code == 201, sent.text
        assert sent.json() == {
            "results": [{"channel": "webhook", "target": receiver.url, "delivered": True, "error": None}]
        }
        assert _alertnames(receiver.bodies()[0]) == ["luna_test"]


async def test_alerts_are_read_by_analysts_and_silenced_by_admins(alerts_dsn: str) -> None:
    async with migrated_pool(alerts_dsn) as pool:
        analyst = await admin_key(pool, "analyst")
        user = await admin_key(pool, "user")
    async with ready_client(alert_settings(alerts_dsn), as_admin=False) as hub:
        as_analyst = {"Authorization": f"Bearer {analyst}"}
        assert (await hub.get("/alerts", headers=as_analyst)).status_code == 200
        assert (await hub.get("/alerts", headers={"Authorization": f"Bearer {user}"})).status_code == 403
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        silence = {"matchers": [{"name": "alertname", "value": "x"}], "ends_at": ends}
        assert (await hub.post("/alerts/silences", json=silence, headers=as_analyst)).status_code == 403
