"""The documents domain's rejections keep their statuses and are not 400s."""

from __future__ import annotations

import pytest

from luna_hub.documents.errors import (
    CorruptDocumentError,
    DocumentRejectedError,
    DocumentTooLargeError,
    EmptyDocumentError,
    EncryptedDocumentError,
    NoTextError,
    UnsupportedDocumentError,
)
from luna_hub.errors import BadRequestError, PayloadTooLargeError, UnprocessableError, UnsupportedMediaError


@pytest.mark.parametrize(
    ("error", "status", "by_status"),
    [
        (CorruptDocumentError, 422, UnprocessableError),
        (EncryptedDocumentError, 422, UnprocessableError),
        (EmptyDocumentError, 422, UnprocessableError),
        (NoTextError, 422, UnprocessableError),
        (UnsupportedDocumentError, 415, UnsupportedMediaError),
        (DocumentTooLargeError, 413, PayloadTooLargeError),
    ],
)
def test_rejections_are_not_bad_requests_and_keep_their_status(
    error: type[DocumentRejectedError], status: int, by_status: type[Exception]
) -> None:
    rejection = error("file.bin: rejected")
    assert not isinstance(rejection, BadRequestError)
    assert isinstance(rejection, DocumentRejectedError)
    assert isinstance(rejection, by_status)
    assert rejection.status == status
    assert rejection.problem_extra() == {"reason": error.reason}
    assert rejection.problem_headers() == {}
