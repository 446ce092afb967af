"""Documents: upload, object storage, text extraction and structure-aware chunking."""

__all__: list[str] = []
