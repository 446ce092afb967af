"""The alerts domain's long-lived parts: the service, its HTTP client, and the evaluation duty.

Readiness checks: a later lifespan (or the app) may put a list of
:class:`~luna_hub.alerts.rules.ReadinessCheck` into ``app.state.readiness_checks``; until then, and
without one, the component check is "the database answers".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.alerts.rules import DatabaseReachable, ReadinessCheck
from luna_hub.alerts.services import AlertService
from luna_hub.dashboard.services import SnapshotSources
from luna_hub.database.deps import provide_db_pool, provide_schema_ready
from luna_hub.duties import Duty, provide_duties
from luna_hub.settings import HubSettings

__all__ = ["ALERT_DUTY", "alerts_dependencies", "alerts_lifespan", "provide_alerts"]

ALERT_DUTY = "alert evaluation"


@asynccontextmanager
async def alerts_lifespan(
    app: Litestar, *, settings: HubSettings, checks: Sequence[ReadinessCheck] | None = None
) -> AsyncIterator[None]:
    """Open the alert service; with ``alerts.enabled``, evaluate every ``evaluate_every_s`` (one replica does)."""
    pool = provide_db_pool(app.state)
    default: Sequence[ReadinessCheck] = (DatabaseReachable(pool),)

    def current_checks() -> Sequence[ReadinessCheck]:
        if checks is not None:
            return checks
        plugged: Sequence[ReadinessCheck] | None = app.state.get("readiness_checks")
        return default if plugged is None else plugged

    async with httpx.AsyncClient(timeout=settings.alerts.timeout_s, follow_redirects=False) as client:
        service = AlertService(
            pool,
            settings.alerts,
            timezone=settings.rollup_timezone,
            client=client,
            checks=current_checks,
            prices=settings.prices if settings.prices.enabled else None,
        )
        app.state.alerts = service
        sources: SnapshotSources | None = app.state.get("snapshot_sources")
        if sources is not None:  # the admin dashboard lists the firing alerts
            sources.alerts = service.firing_rows
        if settings.alerts.enabled:
            provide_duties(app.state).start(
                Duty(ALERT_DUTY, settings.alerts.evaluate_every_s, service.run_duty),
                after=provide_schema_ready(app.state),
            )
        yield


def provide_alerts(state: State) -> AlertService:
    """Return the app's alert service (opened by :func:`alerts_lifespan`)."""
    service: AlertService = state.alerts
    return service


def alerts_dependencies() -> dict[str, Provide]:
    """Return the dependency ``alerts`` for handlers."""
    return {"alerts": Provide(provide_alerts, sync_to_thread=False)}
