"""The documents domain's branch of the hub's exception tree (:mod:`luna_hub.errors`).

::

    HubError
    └── DocumentRejectedError        the file cannot become a document; ``reason`` says why
        ├── CorruptDocumentError     422 the bytes are not the format they claim (truncated, not a ZIP, ...)
        ├── EncryptedDocumentError   422 password-protected
        ├── EmptyDocumentError       422 nothing in it (0 bytes, 0 pages, only whitespace)
        ├── NoTextError              422 pages without a text layer (scanned); no OCR here
        ├── UnsupportedDocumentError 415 a format the hub does not extract (XLSX, images, binaries)
        └── DocumentTooLargeError    413 more bytes than ``[documents] max_upload_bytes``
    NotFoundError (404)
    ├── DocumentNotFoundError        no such document (or version)
    └── ObjectNotFoundError          no such object (or object version) in the object store
    UnavailableError (503)
    └── ObjectStoreError             the object store failed or cannot be reached

Each rejection is also the hub's error of its status, which it takes its status from:
an ``UnprocessableError`` (422), ``UnsupportedMediaError`` (415) or ``PayloadTooLargeError`` (413);
none is a ``BadRequestError`` (400).
"""

from __future__ import annotations

from typing import Any, ClassVar

from luna_hub.errors import (
    HubError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
    UnprocessableError,
    UnsupportedMediaError,
)

__all__ = [
    "CorruptDocumentError",
    "DocumentNotFoundError",
    "DocumentRejectedError",
    "DocumentTooLargeError",
    "EmptyDocumentError",
    "EncryptedDocumentError",
    "NoTextError",
    "ObjectNotFoundError",
    "ObjectStoreError",
    "UnsupportedDocumentError",
]


class DocumentRejectedError(HubError):
    """An uploaded file cannot become a document; nothing of it is stored.

    Not raised itself: each subclass also derives from the hub error of its status.
    """

    title = "Document rejected"
    reason: ClassVar[str] = "rejected"

    def problem_extra(self) -> dict[str, Any]:
        """Name the reason in the problem body, for clients that branch on it."""
        return {"reason": self.reason}


class CorruptDocumentError(DocumentRejectedError, UnprocessableError):
    """The bytes are not a readable file of the format they claim."""

    reason = "corrupt"


class EncryptedDocumentError(DocumentRejectedError, UnprocessableError):
    """The file is password-protected."""

    reason = "encrypted"


class EmptyDocumentError(DocumentRejectedError, UnprocessableError):
    """The file holds no text at all (0 bytes, 0 pages, only whitespace)."""

    reason = "empty"


class NoTextError(DocumentRejectedError, UnprocessableError):
    """The file has pages but no text layer (a scan); the hub does no OCR."""

    reason = "no_text"


class UnsupportedDocumentError(DocumentRejectedError, UnsupportedMediaError):
    """A format the hub does not extract text from."""

    title = "Unsupported media type"
    reason = "unsupported"


class DocumentTooLargeError(DocumentRejectedError, PayloadTooLargeError):
    """The upload exceeds the configured maximum size."""

    title = "Content too large"
    reason = "too_large"


class DocumentNotFoundError(NotFoundError):
    """No document (or version) with that id."""


class ObjectNotFoundError(NotFoundError):
    """No object (or object version) under that key."""


class ObjectStoreError(UnavailableError):
    """The object store failed or cannot be reached."""
