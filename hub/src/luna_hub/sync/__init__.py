"""Agent sync: batches and status reports that agents deliver to ``POST /api/v1/ingest``, stored exactly once."""

__all__: list[str] = []
