"""Simulated devices for the demo, tests and benchmarks: a Modbus meter and a Tasmota plug on MQTT."""

__all__: list[str] = []
