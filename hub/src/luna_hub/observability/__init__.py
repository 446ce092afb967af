"""Observability: ``GET /metrics``, ``GET /health/ready``, log files (domains record into :mod:`luna_hub.metrics`)."""

__all__: list[str] = []
