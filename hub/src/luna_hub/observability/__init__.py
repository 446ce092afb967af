"""Observability of the hub: Prometheus metrics (``GET /metrics``), readiness (``GET /health/ready``), log files."""

from luna_hub.observability.metrics import HubMetrics, recorder

__all__ = ["HubMetrics", "recorder"]
