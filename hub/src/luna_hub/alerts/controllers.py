"""``/alerts`` (list, silences, a test notification) and ``POST /ops/backups`` (the backup job's report)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from luna_hub.alerts.schemas import (
    AlertView,
    BackupRecorded,
    BackupReport,
    NewSilence,
    SentTestNotification,
    SilenceView,
)
from luna_hub.alerts.services import AlertService
from luna_hub.auth.guards import actor_of

__all__ = ["AlertsController", "OpsController"]

_Request = Request[Any, Any, Any]


class AlertsController(Controller):
    """Alerts the hub raised, silences, and a test notification."""

    path = "/alerts"
    tags = ["alerts"]  # noqa: RUF012 - Litestar's declared type

    @get("/", summary="Firing and pending alerts and those resolved recently")
    async def alerts(
        self,
        alerts: NamedDependency[AlertService],
        only: Annotated[
            Literal["firing", "pending", "resolved"] | None, QueryParameter(name="state", description="only these")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1000,
    ) -> list[AlertView]:
        """List alerts, firing first; ``silenced_by`` names the silences holding back their notifications."""
        return await alerts.list_alerts(only, limit)

    @post("/silences", summary="Hold back notifications of matching alerts until ends_at")
    async def create_silence(
        self, request: _Request, data: JSONBody[NewSilence], alerts: NamedDependency[AlertService]
    ) -> SilenceView:
        """Create a silence (all matchers must match an alert's labels)."""
        return await alerts.create_silence(data, actor=actor_of(request))

    @get("/silences", summary="Silences in force or to come (all with expired=true)")
    async def silences(
        self, alerts: NamedDependency[AlertService], expired: FromQuery[bool] = False
    ) -> list[SilenceView]:
        """List silences, newest first."""
        return await alerts.list_silences(include_expired=expired)

    @delete("/silences/{silence_id:int}", summary="End a silence now")
    async def expire_silence(
        self,
        request: _Request,
        silence_id: FromPath[int],
        alerts: NamedDependency[AlertService],
    ) -> None:
        """Expire the silence; its alerts are notified again from the next evaluation if still firing."""
        await alerts.expire_silence(silence_id, actor=actor_of(request))

    @post("/test", summary="Send a test notification to every configured receiver now")
    async def test_notification(self, request: _Request, alerts: NamedDependency[AlertService]) -> SentTestNotification:
        """Send ``alertname=luna_test`` to each receiver and report per receiver whether it took it."""
        return await alerts.send_test(actor=actor_of(request))


class OpsController(Controller):
    """Reports of operations jobs run outside the hub."""

    path = "/ops"
    tags = ["alerts"]  # noqa: RUF012 - Litestar's declared type

    @post("/backups", summary="The backup job reports how a run ended")
    async def backup_report(
        self, request: _Request, data: JSONBody[BackupReport], alerts: NamedDependency[AlertService]
    ) -> BackupRecorded:
        """Record a backup result; a failure, or no success for alerts.backup_max_age_s, raises an alert."""
        return await alerts.record_backup(data, actor=actor_of(request))
