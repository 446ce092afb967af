"""Markdown: ATX headings make the section path, blank lines end paragraphs, fenced code stays whole."""

from __future__ import annotations

import re
from typing import Final

from luna_hub.documents.extract._builder import Builder, Headings
from luna_hub.documents.extract._types import Extraction

_HEADING: Final = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE: Final = re.compile(r"^(```|~~~)")


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """Return the ``title`` of a YAML front matter block (if any) and the index of the first body line."""
    if not lines or lines[0].strip() != "---":
        return None, 0
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            title: list[str] = []
            for line in lines[1:end]:
                if title and line.startswith((" ", "\t")):
                    title.append(line.strip())
                elif title:
                    break
                elif line.lower().startswith("title:"):
                    title.append(line.partition(":")[2].strip().strip("\"'"))
            return (" ".join(title) or None), end + 1
    return None, 0


def extract_markdown(text: str) -> Extraction:
    lines = text.split("\n")
    title, first = _front_matter(lines)
    body = lines[first:]
    top_level = [line for line in body if line.startswith("# ")]
    # A single level-1 heading is the document's title, not a section of it.
    title_line = top_level[0] if len(top_level) == 1 else None
    headings = Headings()
    builder = Builder()
    paragraph: list[str] = []
    fenced = False

    def flush() -> None:
        builder.add("\n".join(paragraph), "paragraph", section=headings.path)
        paragraph.clear()

    for line in body:
        if _FENCE.match(line):
            fenced = not fenced
            paragraph.append(line)
            continue
        heading = None if fenced else _HEADING.match(line)
        if heading:
            flush()
            name = heading.group(2).strip()
            if line == title_line:
                title = title or name
                builder.add(name, "heading")
                continue
            builder.add(name, "heading", section=headings.enter(len(heading.group(1)), name))
        elif not line.strip() and not fenced:
            flush()
        else:
            paragraph.append(line.rstrip())
    flush()
    return builder.build(title=title)
