"""Which format a file is, from its content; the name only tells text formats apart."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath
from typing import Final

from luna_hub.documents.errors import CorruptDocumentError, EmptyDocumentError, UnsupportedDocumentError
from luna_hub.documents.extract._ods import ODS_MIMETYPE
from luna_hub.documents.extract._text import decode
from luna_hub.documents.extract._types import CSV, DOCX, HTML, JPEG, MARKDOWN, ODS, PDF, PNG, TEXT, TIFF, XLSX

_BINARY_SUFFIXES: Final = {
    ".pdf": "PDF",
    ".docx": "DOCX (ZIP) file",
    ".xlsx": "XLSX (ZIP) file",
    ".ods": "ODS (ZIP) file",
    ".png": "PNG image",
    ".jpg": "JPEG image",
    ".jpeg": "JPEG image",
    ".tif": "TIFF image",
    ".tiff": "TIFF image",
}
_IMAGE_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)
SUPPORTED: Final = "PDF, DOCX, XLSX, ODS, CSV, MD, HTML, TXT, PNG, JPEG, TIFF"
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
    for magic, media_type in _IMAGE_MAGIC:
        if data.startswith(magic):
            return media_type
    if data.startswith(b"PK\x03\x04"):
        return _zip_format(data, filename)
    if suffix in _BINARY_SUFFIXES:
        msg = f"{filename} is named {suffix} but its content is not a {_BINARY_SUFFIXES[suffix]}"
        raise CorruptDocumentError(msg)
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        msg = f"{filename} is a binary format the hub does not extract (supported: {SUPPORTED})"
        raise UnsupportedDocumentError(msg)
    decode(data, filename)
    if suffix in _TEXT_SUFFIXES:
        return _TEXT_SUFFIXES[suffix]
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return HTML
    return TEXT


def _zip_format(data: bytes, filename: str) -> str:
    """DOCX, XLSX or ODS, by the parts the archive holds."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            mimetype = b""
            if "mimetype" in names:
                with archive.open("mimetype") as member:
                    mimetype = member.read(len(ODS_MIMETYPE) + 2).strip()
    except Exception as exc:  # zipfile on hostile bytes: BadZipFile, EOFError, ValueError, NotImplementedError
        msg = f"{filename} is a damaged ZIP archive: {exc}"
        raise CorruptDocumentError(msg) from exc
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    if mimetype == ODS_MIMETYPE and "content.xml" in names:
        return ODS
    msg = f"{filename} is a ZIP-based format the hub does not extract (supported: {SUPPORTED})"
    raise UnsupportedDocumentError(msg)
