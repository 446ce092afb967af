"""Retrieval and grounded answers: embedders, the Qdrant chunk index, hybrid search, ``/embed`` and ``/rag/ask``."""

__all__: list[str] = []
