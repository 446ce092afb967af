"""Loading files of readings and market prices, and the bulk writers every ingest path uses."""

from luna_hub.ingest.repository import PriceWriter, ReadingWriter, WriteResult, write_readings
from luna_hub.ingest.services import LoadOptions, load_file

__all__ = ["LoadOptions", "PriceWriter", "ReadingWriter", "WriteResult", "load_file", "write_readings"]
