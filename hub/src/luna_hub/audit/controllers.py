"""``GET /audit``: the model audit log, filtered and paged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from luna_hub.audit.admin_log import list_admin_entries
from luna_hub.audit.schemas import AdminLogPage, ModelCallFilter, ModelCallPage
from luna_hub.audit.services import list_model_calls
from luna_hub.errors import BadRequestError

__all__ = ["AuditController"]

_MAX_BIGINT = 2**63 - 1  # call ids are bigint; a larger number would fail in the driver


class AuditController(Controller):
    """Model calls (embed, generate), newest first.

    Guarded by the API key where the app is assembled (``luna_hub.app``): every domain writes to the
    audit log, so the audit domain imports none of them, not even ``auth``.
    """

    path = "/audit"
    tags = ["audit"]  # noqa: RUF012 - Litestar's declared type

    @get("/", summary="Model calls with their prompts, answers, chunks and hash chain")
    async def calls(  # noqa: PLR0913, PLR0917 - one parameter per filter
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        actor: FromQuery[str | None] = None,
        operation: FromQuery[Literal["embed", "generate"] | None] = None,
        model: FromQuery[str | None] = None,
        endpoint: FromQuery[str | None] = None,
        since: Annotated[datetime | None, QueryParameter(description="ISO 8601 with offset, inclusive")] = None,
        until: Annotated[datetime | None, QueryParameter(description="ISO 8601 with offset, exclusive")] = None,
        before: Annotated[
            int | None, QueryParameter(ge=1, le=_MAX_BIGINT, description="next_before of the previous page")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        kind: Annotated[
            Literal["model", "admin"], QueryParameter(description="model calls, or the admin log (users, keys, logins)")
        ] = "model",
    ) -> ModelCallPage | AdminLogPage:
        """List model calls matching every given filter, or (``kind=admin``) admin log entries."""
        if kind == "admin":
            entries = await list_admin_entries(db_pool, before=before, limit=limit)
            return AdminLogPage(entries=entries, next_before=entries[-1].entry_id if len(entries) == limit else None)
        query = ModelCallFilter(
            actor=actor,
            operation=operation,
            model=model,
            endpoint=endpoint,
            since=_in_calendar("since", since),
            until=_in_calendar("until", until),
            before=before,
            limit=limit,
        )
        return await list_model_calls(db_pool, query)


def _in_calendar(name: str, value: datetime | None) -> datetime | None:
    """Return ``value`` in UTC (without offset: UTC, as the driver reads it); 400 outside years 1-9999 there."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        msg = f"{name} {value.isoformat()} lies beyond the calendar (years 1-9999) in UTC"
        raise BadRequestError(msg) from exc
