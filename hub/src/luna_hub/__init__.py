"""Luna-iEMS hub: HTTP API over PostgreSQL/TimescaleDB for readings, prices, documents and answers."""

from importlib.metadata import version

__version__ = version("luna-hub")
__all__ = ["__version__"]
