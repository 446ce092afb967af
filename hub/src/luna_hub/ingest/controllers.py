"""``POST /data/load``: load a CSV or JSON file of readings or market prices sent as the request body."""

from __future__ import annotations

import hashlib
import tempfile
from typing import Annotated, Any, BinaryIO, cast

import asyncpg
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from luna_hub.auth.guards import actor_of, api_key_guard, readable_sites
from luna_hub.errors import PayloadTooLargeError
from luna_hub.ingest.schemas import LoadReport
from luna_hub.ingest.services import LoadOptions, load_file
from luna_hub.settings import HubSettings

__all__ = ["IngestController"]

_SPOOL_IN_MEMORY = 1 << 20  # bigger uploads go to a temporary file, not to memory


class IngestController(Controller):
    """Loading files."""

    path = "/data"
    tags = ["ingest"]  # noqa: RUF012 - Litestar's declared type
    guards = [api_key_guard]  # noqa: RUF012
    request_max_body_size = 10_000_000  # a file of readings; other routes take 1 MiB (app.MAX_REQUEST_BODY)

    @post(
        "/load",
        status_code=200,
        summary="Load a CSV/JSON file of meter readings or market prices",
        request_max_body_size=None,  # load.max_body_bytes is enforced while reading, with a problem body
    )
    async def load(  # noqa: PLR0913, PLR0917 - one parameter per option of the endpoint
        self,
        request: Request[Any, Any, Any],
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
        strict: Annotated[bool, QueryParameter(description="any rejected row aborts the load")] = False,
        tz: Annotated[str, QueryParameter(description="zone of timestamps without offset")] = "Europe/Berlin",
        market: Annotated[str | None, QueryParameter(description="market of a price file, e.g. DE-LU")] = None,
        metric: Annotated[str | None, QueryParameter(description="metric of a wide file (default power_w)")] = None,
        unit: Annotated[str | None, QueryParameter(description="unit when the file does not say")] = None,
        resolution_minutes: Annotated[int | None, QueryParameter(ge=1, le=1440)] = None,
        name: Annotated[str, QueryParameter(description="file name for the report")] = "upload",
        site: Annotated[
            str | None, QueryParameter(description="site the file's meters belong to (default: none, analysts only)")
        ] = None,
    ) -> LoadReport:
        """Load the body (CSV: SMARD, ENTSO-E, OPSD, wide or long; JSON document or JSON Lines).

        At most ``load.max_body_bytes`` (10 MiB by default; 413 beyond it: ``luna-hub load FILE`` takes any
        size). Rows are validated one by one: rejected rows are listed with their line and reason and the
        rest is stored, unless ``strict=true`` (then 422 and nothing is stored). A file that
        cannot be read at all is a 400 and stores nothing. Loading the same file again stores nothing new.
        With ``site``, meters without a site become that site's (users of the site read them); a meter
        of another site is a 403 and nothing is stored. Without it, meters the load creates have no
        site: only analysts and admins read them. A loader limited to sites loads readings only into
        meters of its sites (new ones need ``site``).
        """
        limit = settings.load.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        digest = hashlib.sha256()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                digest.update(chunk)
                spool.write(chunk)
            spool.seek(0)
            options = LoadOptions(
                name=name,
                timezone=tz,
                market=market,
                metric=metric,
                unit=unit,
                resolution_minutes=resolution_minutes,
                strict=strict,
                sha256=digest.hexdigest(),
                actor=actor_of(request),
                site=site,
                reader_sites=readable_sites(request),
            )
            return await load_file(
                db_pool,
                cast("BinaryIO", spool),
                options,
                method=settings.bulk_insert,
                limits=settings.load,
            )


def _too_large(limit: int) -> PayloadTooLargeError:
    msg = (
        f"the file is larger than load.max_body_bytes ({limit} bytes): raise that setting, split the file,"
        " or load it on the hub's host with `luna-hub load FILE`, which reads files of any size"
    )
    return PayloadTooLargeError(msg)
