"""Querying readings and prices: buckets, aggregates, rollups, completeness."""

__all__: list[str] = []
