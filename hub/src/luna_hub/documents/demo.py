"""Sample documents for ``luna-hub serve --demo-data DIR``: the real corpus in ``DIR/docs``.

Uploaded in the background through the running app's :class:`DocumentService` (so they reach the
app's chunk index), once the schema is migrated, one at a time: each is queued and the next waits
until a worker has indexed it; the log says how far it is ("indexing demo documents 3/15"). Each
has a fixed id; a restart finds the same bytes by their hash and stores nothing again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from luna_hub.documents.services import DocumentService
from luna_hub.errors import HubError
from luna_shared.logs import get_logger

__all__ = ["DEMO_DOCUMENTS", "load_demo_documents"]

DEMO_DOCUMENTS: Final = (
    "laws/msbg.md",
    "laws/stromstg.md",
    "laws/stromgvv.md",
    "laws/stromnev.md",
    "laws/enwg_auszug.md",
    "laws/eeg_auszug.md",
    "manuals/eastron_sdm630_modbus_protocol.pdf",
    "manuals/eastron_sdm120m_user_manual.pdf",
    "manuals/fronius_datamanager_modbus_tcp_rtu.pdf",
    "manuals/heidelberg_energy_control_modbus_register.pdf",
    "manuals/chint_dtsu666_user_manual.pdf",
    "manuals/sigenergy_modbus_protocol.pdf",
    "office/bdew_codeliste_obis_kennzahlen.docx",
    "office/fronius_gen24_register_map_float_storage.xlsx",
    "office/victron_gx_modbus_tcp_attributes.csv",
)
"""Paths under ``DIR/docs`` (the real documents; the broken ones in ``edge_cases`` are left out)."""
_log = get_logger(__name__)


async def load_demo_documents(service: DocumentService, folder: Path, schema_ready: asyncio.Event) -> int:
    """Upload the sample documents under ``folder`` once ``schema_ready`` is set; return how many were new."""
    await schema_ready.wait()
    total = len(DEMO_DOCUMENTS)
    _log.info("indexing demo documents in the background; /rag/ask answers from those done", documents=total)
    added = 0
    for number, relative in enumerate(DEMO_DOCUMENTS, start=1):
        path = folder / relative
        try:
            result = await service.upload_path(path, document_id=path.stem.replace("_", "-"), actor="demo")
        except OSError as exc:
            _log.warning("demo document missing, skipped", path=str(path), error=str(exc))
            continue
        except HubError as exc:
            _log.warning("demo document not loaded", path=str(path), error=str(exc))
            continue
        if not result.deduplicated:
            added += 1
        if result.job is not None:  # one at a time (the machine is shared with the demo agent); any worker runs it
            await service.wait_for_job(result.job.job_id)
        _log.info(
            "indexing demo documents", progress=f"{number}/{total}", document=relative, new=not result.deduplicated
        )
    _log.info("demo documents ready", added=added)
    return added
