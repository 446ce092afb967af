"""What ``POST /data/load`` and ``luna-hub load`` answer."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["Gap", "LoadReport", "RowIssue"]


class RowIssue(msgspec.Struct, frozen=True, kw_only=True):
    """A rejected or flagged row: its line in the file (item number in a JSON document) and why."""

    line: int
    reasons: list[str]


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    """Readings of a series stop at ``after`` and resume at ``before``."""

    series: str
    after: datetime
    before: datetime


class LoadReport(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of loading one file; the lists hold at most the first 100 entries, the counts everything."""

    file: str
    accepted: int
    """Rows that passed validation and were handed to the database (flagged ones included)."""
    stored: int
    """Rows new to the database."""
    duplicates: int
    """Accepted rows the database already had (a re-load), or that repeat a row of the same file."""
    rejected: int
    flagged: int
    series: list[str]
    rejections: list[RowIssue]
    flags: list[RowIssue]
    gaps: list[Gap]
