"""CSV: one segment a row, each value labelled with its column's header (where it has one)."""

from __future__ import annotations

import csv
import io

from luna_hub.documents.errors import CorruptDocumentError
from luna_hub.documents.extract._builder import Builder, labelled
from luna_hub.documents.extract._sniff import SNIFF_BYTES
from luna_hub.documents.extract._types import Extraction


def extract_csv(text: str, filename: str) -> Extraction:
    sample = text[:SNIFF_BYTES]
    try:
        dialect: type[csv.Dialect] = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        has_header = csv.Sniffer().has_header(sample)
    except csv.Error:
        has_header = False
    builder = Builder()
    header: list[str] = []
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
            if not any(cell.strip() for cell in row):
                continue
            if has_header and not header:
                header = [" ".join(cell.split()) for cell in row]
                continue
            values = labelled(header, [" ".join(cell.split()) for cell in row])
            builder.add(f"Row {number}: {values}", "row")
    except csv.Error as exc:
        msg = f"{filename} is not readable CSV: {exc}"
        raise CorruptDocumentError(msg) from exc
    return builder.build()
