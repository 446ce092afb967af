"""ZIP-based formats (DOCX, XLSX, ...): refuse an archive that unpacks beyond the limits, before any parser opens it."""

from __future__ import annotations

import io
import zipfile
from typing import Final

from luna_hub.documents.errors import CorruptDocumentError, DocumentTooLargeError

ZIP_MAGIC: Final = b"PK\x03\x04"
_RATIO_FLOOR: Final = 1024 * 1024  # smaller members may compress well beyond any sane ratio (empty styles, ...)


def check_archive(data: bytes, filename: str, *, max_unpacked_bytes: int, max_ratio: float) -> None:
    """Raise :class:`DocumentTooLargeError` if the ZIP ``data`` unpacks to more than the limits allow.

    The sizes are the central directory's; ``zipfile`` never inflates a member beyond its declared
    size (and checks its CRC), so no parser reading through it can be fed more than they say.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except Exception as exc:  # zipfile on hostile bytes: BadZipFile, EOFError, ValueError, NotImplementedError
        msg = f"{filename} is a damaged ZIP archive: {exc}"
        raise CorruptDocumentError(msg) from exc
    unpacked = sum(member.file_size for member in members)
    if unpacked > max_unpacked_bytes:
        msg = f"{filename} unpacks to {unpacked} bytes; documents.max_unpacked_bytes is {max_unpacked_bytes}"
        raise DocumentTooLargeError(msg)
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR and ratio > max_ratio:
            msg = (
                f"{filename}: {member.filename} unpacks {ratio:.0f} times its packed size"
                f" ({member.compress_size} to {member.file_size} bytes); documents.max_unpack_ratio is {max_ratio:g}"
            )
            raise DocumentTooLargeError(msg)
