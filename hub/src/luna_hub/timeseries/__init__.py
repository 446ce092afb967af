"""Readings and prices: the bulk writers every ingest path uses, and queries: buckets, aggregates, rollups."""

__all__: list[str] = []
