"""Simulated devices the agent can serve itself, for the demo, tests and benchmarks (``modbus_meter``)."""

__all__: list[str] = []
