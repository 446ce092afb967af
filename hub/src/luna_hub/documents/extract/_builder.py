"""What every format's extractor builds with: segments joined into one text, the open heading path, labelled rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from luna_hub.documents.errors import EmptyDocumentError
from luna_hub.documents.extract._types import SECTION_SEPARATOR, Extraction, Segment, SegmentKind


@dataclass
class Builder:
    """Joins segment texts with blank lines and records where each one landed."""

    parts: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    length: int = 0

    notes: list[str] = field(default_factory=list)

    def add(  # noqa: PLR0913 - where the text came from, each named
        self,
        text: str,
        kind: SegmentKind,
        *,
        page: int | None = None,
        section: str | None = None,
        row: int | None = None,
        confidence: float | None = None,
    ) -> None:
        text = text.strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        self.parts.append(text)
        self.segments.append(Segment(self.length, self.length + len(text), kind, page, section, row, confidence))
        self.length += len(text)

    def build(self, *, title: str | None = None, pages: int | None = None) -> Extraction:
        if not self.segments:
            msg = "the file contains no text"
            raise EmptyDocumentError(msg)
        return Extraction("".join(self.parts), tuple(self.segments), title, pages, tuple(self.notes))


class Headings:
    """The open heading path: setting a heading of level n closes those of level n and deeper."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> str:
        self._open = [(lvl, text) for lvl, text in self._open if lvl < level]
        self._open.append((level, title))
        return self.path or title

    @property
    def path(self) -> str | None:
        return SECTION_SEPARATOR.join(text for _, text in self._open) or None


def labelled(header: list[str], values: list[str]) -> str:
    pairs = []
    for index, value in enumerate(values):
        if not value:
            continue
        name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
        pairs.append(f"{name}: {value}")
    return "; ".join(pairs)
