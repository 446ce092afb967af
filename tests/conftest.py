"""Root conftest: load the shared fixtures (real PostgreSQL, Mosquitto, Modbus server, leak guards)."""

pytest_plugins = ["support.plugin"]
