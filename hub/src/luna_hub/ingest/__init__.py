"""Loading files of readings and market prices (CSV, JSON), written with ``luna_hub.timeseries.writer``."""

from luna_hub.ingest.services import LoadOptions, load_file

__all__ = ["LoadOptions", "load_file"]
