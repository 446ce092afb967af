"""The audit logs: who changed what (``audit_log``), and every model call (``model_calls``, hash-chained).

The database refuses UPDATE, DELETE and TRUNCATE on both tables (migrations 0001 and 0006).
"""

from luna_hub.audit.services import record, record_model_call, verify_model_calls

__all__ = ["record", "record_model_call", "verify_model_calls"]
