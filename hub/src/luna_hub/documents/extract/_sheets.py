"""Spreadsheets (XLSX, ODS) after parsing: each sheet a section, each row labelled with its header.

The format modules read cells into a :class:`Sheet`; :func:`add_sheet` does the rest the same way
for both: merged cells are filled with their value, header rows are found, and every data row
becomes a ``row`` segment ``Row N: column: value; ...`` carrying its own row number.

Header rows: a table is a run of rows without an empty row between them. Up to three rows of text
only (no numbers, at least two cells) at the top of a run, followed by a row with a number, are the
run's header; their texts join per column ("Price" merged over two columns above "net" and "gross"
gives "Price net" and "Price gross"). A run of text rows only takes its first row as the header,
as CSV does, when the sheet has no header yet. A row equal to the header in force (a header
repeated above each block of a long list) is not data. Later runs keep the header in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from luna_hub.documents.extract._builder import Builder, labelled

__all__ = ["Cell", "Sheet", "add_sheet"]

_MAX_HEADER_ROWS: Final = 3


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell's text as shown, and whether its value is a number, date or boolean rather than text."""

    text: str
    number: bool = False


@dataclass
class Sheet:
    """One sheet's non-empty rows by their 1-based number (cells by 0-based column) and its merged ranges."""

    name: str
    rows: dict[int, dict[int, Cell]] = field(default_factory=dict)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(first row, first column, last row, last column), 1-based and inclusive."""

    def put(self, row: int, column: int, cell: Cell) -> None:
        """Record a cell (1-based row, 0-based column); blank text is no cell."""
        text = " ".join(cell.text.split())
        if text:
            self.rows.setdefault(row, {})[column] = Cell(text, cell.number)


def add_sheet(builder: Builder, sheet: Sheet) -> None:
    """Add ``sheet`` to ``builder``: one ``row`` segment a data row, the section the sheet's name."""
    _fill_merges(sheet)
    header: list[str] = []
    for run in _runs(sheet.rows):
        header, first = _header(run, header)
        for number, cells in run[first:]:
            values = _values(cells)
            if values == header:
                continue  # the header again, above the next block
            text = labelled(header, values) if header else " | ".join(value for value in values if value)
            builder.add(f"Row {number}: {text}", "row", section=sheet.name, row=number)


def _fill_merges(sheet: Sheet) -> None:
    """Give every cell of a merged range its value (only in rows that hold something: no made-up rows)."""
    for first_row, first_column, last_row, last_column in sheet.merges:
        value = sheet.rows.get(first_row, {}).get(first_column - 1)
        if value is None:
            continue
        for number in range(first_row, last_row + 1):
            cells = sheet.rows.get(number)
            if cells is None:
                continue
            for column in range(first_column - 1, last_column):
                cells.setdefault(column, value)


def _runs(rows: dict[int, dict[int, Cell]]) -> Iterable[list[tuple[int, dict[int, Cell]]]]:
    """Yield runs of rows with consecutive numbers (an empty row ends a run)."""
    run: list[tuple[int, dict[int, Cell]]] = []
    for number in sorted(rows):
        if run and number != run[-1][0] + 1:
            yield run
            run = []
        run.append((number, rows[number]))
    if run:
        yield run


def _values(cells: dict[int, Cell]) -> list[str]:
    width = max(cells) + 1
    return [cells[column].text if column in cells else "" for column in range(width)]


def _is_texty(cells: dict[int, Cell]) -> bool:
    return len(cells) > 1 and not any(cell.number for cell in cells.values())


def _header(run: list[tuple[int, dict[int, Cell]]], current: list[str]) -> tuple[list[str], int]:
    """Return the header in force for ``run`` and the index of its first data row."""
    texty = 0
    while texty < len(run) and _is_texty(run[texty][1]):
        texty += 1
    if 0 < texty <= _MAX_HEADER_ROWS and texty < len(run):
        return _joined([_values(cells) for _, cells in run[:texty]]), texty
    if not current and texty and len(run) > 1:
        return _values(run[0][1]), 1
    return current, 0


def _joined(rows: list[list[str]]) -> list[str]:
    width = max(len(row) for row in rows)
    header = []
    for column in range(width):
        parts: list[str] = []
        for row in rows:
            text = row[column] if column < len(row) else ""
            if text and text not in parts:
                parts.append(text)
        header.append(" ".join(parts))
    return header
