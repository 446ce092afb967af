"""Sources: where samples come from (Modbus devices, MQTT topics)."""

__all__: list[str] = []
