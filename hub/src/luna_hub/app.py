"""The hub's Litestar application, assembled in one place from each domain's ``deps.py``."""

from __future__ import annotations

from functools import partial

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub import __version__
from luna_hub.admin.controllers import AdminController
from luna_hub.agents.controllers import AgentsController
from luna_hub.alerts.controllers import AlertsController, OpsController
from luna_hub.alerts.deps import alerts_dependencies, alerts_lifespan
from luna_hub.audit.controllers import AuditController
from luna_hub.auth.browser import cors_config
from luna_hub.auth.controllers import AuthController
from luna_hub.auth.deps import auth_dependencies, auth_lifespan
from luna_hub.auth.exposure import check_exposure
from luna_hub.auth.guards import policy_guard
from luna_hub.cache.deps import cache_dependencies, cache_lifespan
from luna_hub.dashboard.controllers import DashboardController, DashboardPagesController
from luna_hub.dashboard.deps import dashboard_lifespan
from luna_hub.database.deps import database_dependencies, database_lifespan, database_url
from luna_hub.documents.controllers import DocumentsController
from luna_hub.documents.deps import documents_dependencies, documents_lifespan
from luna_hub.documents.index import ChunkIndex
from luna_hub.duties import duties_lifespan
from luna_hub.energy.controllers import EnergyController, SiteEnergyController
from luna_hub.events.controllers import EventsController
from luna_hub.events.deps import events_dependencies, events_lifespan, items_of_documents
from luna_hub.health import health
from luna_hub.home import home
from luna_hub.http import hostile_input_middleware
from luna_hub.ingest.controllers import IngestController
from luna_hub.observability.controllers import MetricsController, ReadinessController
from luna_hub.observability.deps import (
    log_archive_lifespan,
    metrics_lifespan,
    observability_dependencies,
    observability_state,
)
from luna_hub.observability.middleware import metrics_middleware
from luna_hub.observability.wiring import operations_wiring_lifespan
from luna_hub.prices.deps import prices_lifespan
from luna_hub.problems import exception_handlers
from luna_hub.rag.controllers import RagController
from luna_hub.rag.deps import provide_chunk_index, rag_dependencies, rag_lifespan
from luna_hub.recommend.controllers import RecommendController
from luna_hub.recommend.deps import recommend_dependencies, recommend_lifespan
from luna_hub.settings import HubSettings
from luna_hub.sync.controllers import AgentIngestController
from luna_hub.timeseries.controllers import CatalogController, TimeseriesController
from luna_hub.timeseries.deps import rollups_lifespan
from luna_shared.apidocs import openapi_config, swagger_asset
from luna_shared.asgi import request_id_middleware
from luna_shared.headers import security_headers

__all__ = ["MAX_REQUEST_BODY", "create_app"]

MAX_REQUEST_BODY = 1 << 20
"""Largest request body of a route that declares no limit of its own (/data/load, documents, agent batches do)."""


def create_app(settings: HubSettings, *, chunk_index: ChunkIndex | None = None) -> Litestar:
    """Build the application for ``settings``; ``settings.database_url`` must be set by now.

    ``chunk_index`` is where document chunks become searchable (default: the rag domain's Qdrant index,
    created in the lifespan with the embedder of ``settings.rag``).
    """
    database_url(settings)  # fail here, not in the lifespan, without one
    check_exposure(settings)
    index_of = provide_chunk_index if chunk_index is None else lambda _state: chunk_index
    return Litestar(
        route_handlers=[
            home,
            swagger_asset,
            health,
            ReadinessController,
            MetricsController,
            IngestController,
            AgentIngestController,
            AgentsController,
            TimeseriesController,
            CatalogController,
            DocumentsController,
            RagController,
            AuditController,
            AdminController,
            AuthController,
            AlertsController,
            OpsController,
            DashboardController,
            DashboardPagesController,
            EnergyController,
            SiteEnergyController,
            EventsController,
            RecommendController,
        ],
        lifespan=[  # in this order: each part may use those opened before it
            metrics_lifespan,  # first: the tasks later lifespans start record into this app's metrics
            partial(database_lifespan, settings=settings),
            partial(log_archive_lifespan, settings=settings),
            partial(auth_lifespan, settings=settings),
            partial(duties_lifespan, settings=settings),
            partial(rollups_lifespan, settings=settings),
            partial(cache_lifespan, settings=settings),
            partial(dashboard_lifespan, settings=settings),
            partial(prices_lifespan, settings=settings),
            partial(rag_lifespan, settings=settings),
            partial(events_lifespan, settings=settings),
            partial(recommend_lifespan, settings=settings),
            partial(documents_lifespan, settings=settings, chunk_index=items_of_documents(index_of)),
            partial(alerts_lifespan, settings=settings),
            operations_wiring_lifespan,  # last: plugs readiness and metrics into the dashboard and alert rules
        ],
        dependencies={
            "settings": Provide(_provide_settings, sync_to_thread=False),
            **database_dependencies(),
            **cache_dependencies(),
            **auth_dependencies(),
            **rag_dependencies(),
            **documents_dependencies(),
            **observability_dependencies(),
            **alerts_dependencies(),
            **events_dependencies(),
            **recommend_dependencies(),
        },
        guards=[policy_guard],  # every route's rule is in luna_hub.auth.policy
        exception_handlers=exception_handlers,
        openapi_config=openapi_config("Luna-iEMS hub", __version__),  # its viewer loads from the hub, not a CDN
        state=State({"settings": settings, **observability_state(settings)}),
        logging_config=None,
        middleware=[request_id_middleware, metrics_middleware, hostile_input_middleware],
        before_send=[security_headers],
        cors_config=cors_config(settings),
        request_max_body_size=MAX_REQUEST_BODY,
    )


def _provide_settings(state: State) -> HubSettings:
    settings: HubSettings = state.settings
    return settings
