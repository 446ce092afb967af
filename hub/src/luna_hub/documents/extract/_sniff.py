"""Which format a file is, from its content; the name only tells text formats apart."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath
from typing import Final

from luna_hub.documents.errors import CorruptDocumentError, EmptyDocumentError, UnsupportedDocumentError
from luna_hub.documents.extract._text import decode
from luna_hub.documents.extract._types import CSV, DOCX, HTML, MARKDOWN, PDF, TEXT

_BINARY_SUFFIXES: Final = {".pdf": PDF, ".docx": DOCX}
_TEXT_SUFFIXES: Final = {
    ".csv": CSV,
    ".tsv": CSV,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".txt": TEXT,
}
SNIFF_BYTES: Final = 64 * 1024


def sniff(data: bytes, filename: str) -> str:
    """Return the media type of ``data`` from its content; the name only tells text formats apart."""
    if not data.strip():
        msg = f"{filename} is empty"
        raise EmptyDocumentError(msg)
    suffix = PurePosixPath(filename).suffix.lower()
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except Exception as exc:  # zipfile on hostile bytes: BadZipFile, EOFError, ValueError, NotImplementedError
            msg = f"{filename} is a damaged ZIP archive: {exc}"
            raise CorruptDocumentError(msg) from exc
        if "word/document.xml" in names:
            return DOCX
        msg = f"{filename} is a ZIP-based format the hub does not extract (supported: PDF, DOCX, CSV, MD, HTML, TXT)"
        raise UnsupportedDocumentError(msg)
    if suffix in _BINARY_SUFFIXES:
        kind = "PDF" if suffix == ".pdf" else "DOCX (ZIP) file"
        msg = f"{filename} is named {suffix} but its content is not a {kind}"
        raise CorruptDocumentError(msg)
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        msg = f"{filename} is a binary format the hub does not extract (supported: PDF, DOCX, CSV, MD, HTML, TXT)"
        raise UnsupportedDocumentError(msg)
    decode(data, filename)
    if suffix in _TEXT_SUFFIXES:
        return _TEXT_SUFFIXES[suffix]
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return HTML
    return TEXT
