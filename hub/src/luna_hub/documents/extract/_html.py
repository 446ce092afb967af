"""HTML: block elements become paragraphs, h1-h6 the section path, table rows labelled; scripts and styles skipped."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Final

from luna_hub.documents.extract._builder import Builder, Headings, labelled
from luna_hub.documents.extract._types import Extraction


class _HTMLText(HTMLParser):
    _BLOCKS: Final = frozenset(
        {"p", "div", "li", "pre", "blockquote", "section", "article", "dd", "dt", "figcaption", "caption", "tr"}
    )
    _SKIP: Final = frozenset({"script", "style", "template", "noscript", "svg"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = Builder()
        self.headings = Headings()
        self.title: str | None = None
        self._buffer: list[str] = []
        self._cells: list[str] | None = None
        self._header: list[str] | None = None
        self._row_is_header = False
        self._skipping = 0
        self._in_title = False
        self._heading_level: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self._flush()
            self._heading_level = int(tag[1])
        elif tag == "tr":
            self._flush()
            self._cells, self._row_is_header = [], False
        elif tag in {"td", "th"} and self._cells is not None:
            self._cell_done()
            self._row_is_header = self._row_is_header or tag == "th"
        elif tag == "table":
            self._flush()
            self._header = None
        elif tag == "br":
            self._buffer.append("\n")
        elif tag in self._BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"} and self._heading_level is not None:
            name = " ".join("".join(self._buffer).split())
            self._buffer.clear()
            if name:
                self.builder.add(name, "heading", section=self.headings.enter(self._heading_level, name))
            self._heading_level = None
        elif tag == "tr":
            self._row_done()
        elif tag in {"td", "th"}:
            self._cell_done()
        elif tag in self._BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if self._in_title:
            self.title = ((self.title or "") + data).strip() or None
            return
        self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._row_done()
        self._flush()

    def _cell_done(self) -> None:
        if self._cells is not None and self._buffer:
            self._cells.append(" ".join("".join(self._buffer).split()))
            self._buffer.clear()

    def _row_done(self) -> None:
        if self._cells is None:
            return
        self._cell_done()
        cells, self._cells = self._cells, None
        if self._row_is_header or self._header is None:
            self._header = cells
            self.builder.add(" | ".join(c for c in cells if c), "row", section=self.headings.path)
        else:
            self.builder.add(labelled(self._header, cells), "row", section=self.headings.path)

    def _flush(self) -> None:
        if self._cells is not None:
            return  # text inside a table cell belongs to the cell
        text = "\n".join(" ".join(line.split()) for line in "".join(self._buffer).split("\n"))
        self._buffer.clear()
        self.builder.add(text, "paragraph", section=self.headings.path)


def extract_html(text: str) -> Extraction:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return parser.builder.build(title=parser.title)
