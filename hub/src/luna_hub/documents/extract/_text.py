"""Plain text, and the decoding every text format starts with."""

from __future__ import annotations

import re
from typing import Final

from luna_hub.documents.errors import UnsupportedDocumentError
from luna_hub.documents.extract._builder import Builder
from luna_hub.documents.extract._types import Extraction

BLANK_LINES: Final = re.compile(r"\n[ \t\r\f\v]*\n")


def decode(data: bytes, filename: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            msg = f"{filename} is neither UTF-8 nor Windows-1252 text"
            raise UnsupportedDocumentError(msg) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def extract_text(text: str) -> Extraction:
    builder = Builder()
    for paragraph in BLANK_LINES.split(text):
        builder.add("\n".join(line.rstrip() for line in paragraph.split("\n")), "paragraph")
    return builder.build()
