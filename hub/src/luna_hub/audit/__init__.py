"""The audit log: one append-only table, written only through :func:`record`.

The database refuses UPDATE, DELETE and TRUNCATE on ``audit_log`` (migration 0001).
"""

from luna_hub.audit.services import record

__all__ = ["record"]
