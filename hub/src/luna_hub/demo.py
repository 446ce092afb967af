"""Demo data for ``luna-hub serve --demo-data DIR``: real prices and load profiles from ``../shared/data``.

Each file is loaded once: its SHA-256 is recorded in ``loaded_files``, so a restart skips it in
milliseconds instead of re-reading it (re-reading would store nothing new either).

The demo also provisions agent ``demo-agent`` at site ``demo-site`` and keeps its key in
``<data_dir>/demo-agent.key`` (mode 0600), where the demo agent reads it to sync into the hub: a
key already in that file is reused while the hub knows it; otherwise a new one is issued.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

import asyncpg

from luna_hub.agents.services import reuse_or_create_key
from luna_hub.auth.repository import user_id
from luna_hub.auth.services import create_api_key, create_user, verify_api_key
from luna_hub.ingest.services import LoadOptions, load_file
from luna_hub.settings import HubSettings
from luna_shared.errors import KeyFileError
from luna_shared.keyfile import read_key, write_key
from luna_shared.logs import get_logger

__all__ = [
    "DEMO_ADMIN",
    "DEMO_ADMIN_KEY_FILE",
    "DEMO_AGENT",
    "DEMO_FILES",
    "DEMO_KEY_FILE",
    "DEMO_SITE",
    "load_demo_data",
    "provision_demo_admin",
    "provision_demo_agent",
]

DEMO_FILES: Final = (
    # EPEX SPOT day-ahead DE-LU, hourly, 2023-2024 (SMARD CSV, CRLF): market "DE-LU"
    ("prices/smard/Gro_handelspreise_202301010000_202501010000_Stunde.csv", LoadOptions()),
    # A household in Konstanz: cumulative kWh counters per appliance, hourly, 2015-2017 (OPSD)
    ("load/opsd_household_data/household_data_60min_singleindex.csv", LoadOptions()),
    # A year of 30-minute house load and PV power (EMHASS sample), metric power_w
    ("load/emhass/long_train_data_30min.csv", LoadOptions(metric="power_w")),
)
DEMO_AGENT: Final = "demo-agent"
DEMO_SITE: Final = "demo-site"
DEMO_KEY_FILE: Final = "demo-agent.key"
DEMO_ADMIN: Final = "demo-admin"
DEMO_ADMIN_KEY_FILE: Final = "admin.key"
_log = get_logger(__name__)


async def load_demo_data(pool: asyncpg.Pool, folder: Path, settings: HubSettings) -> int:
    """Load the demo files found in ``folder`` that are not loaded yet; return how many were loaded."""
    loaded = 0
    for relative, options in DEMO_FILES:
        path = folder / relative
        if not path.is_file():
            _log.warning("demo file missing, skipped", path=str(path))
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        async with pool.acquire() as connection:
            done = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM loaded_files WHERE sha256 = $1)", digest)
        if done:
            continue
        _log.info("loading demo file", path=str(path))
        with path.open("rb") as binary:
            await load_file(
                pool,
                binary,
                options._replace(name=relative, sha256=digest),
                method=settings.bulk_insert,
            )
        loaded += 1
    return loaded


async def provision_demo_agent(pool: asyncpg.Pool, data_dir: Path) -> Path:
    """Make sure ``demo-agent`` exists with the key stored in ``data_dir/demo-agent.key``; return that path."""
    path = data_dir / DEMO_KEY_FILE
    async with pool.acquire() as connection:
        created = await reuse_or_create_key(connection, DEMO_AGENT, DEMO_SITE, _stored_key(path), actor="demo")
    if created is not None:
        write_key(path, created.key)
        _log.info("demo agent key written", agent_id=DEMO_AGENT, site_id=DEMO_SITE, path=str(path))
    return path


async def provision_demo_admin(pool: asyncpg.Pool, data_dir: Path) -> Path:
    """Keep an API key of admin ``demo-admin`` in ``<data_dir>/admin.key`` (mode 0600) for the README's curls.

    A key already in the file is reused while it works; otherwise the user is created when missing
    and a new key is written.
    """
    path = data_dir / DEMO_ADMIN_KEY_FILE
    stored = _stored_key(path) if path.exists() else None
    async with pool.acquire() as connection:
        if stored is not None:
            principal = await verify_api_key(connection, stored)
            if principal is not None and principal.role == "admin":
                return path
        if await user_id(connection, DEMO_ADMIN) is None:
            await create_user(connection, DEMO_ADMIN, role="admin", display_name="make run demo", actor="demo")
        created = await create_api_key(connection, DEMO_ADMIN, "make run demo", actor="demo")
    write_key(path, created.key)
    _log.info("demo admin key written", user=DEMO_ADMIN, key_id=created.id, path=str(path))
    return path


def _stored_key(path: Path) -> str | None:
    """Return the demo agent's stored key; an unusable file (emptied by a crash, say) is replaced like a missing one."""
    try:
        return read_key(path)
    except KeyFileError as exc:
        _log.warning("demo agent key file unusable; issuing a new key", path=str(path), error=exc.problem)
        return None
