"""Number fields of the file formats, in German or English notation (timestamps: ``luna_hub.timeparse``)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Final

from luna_hub.timeparse import FieldError

__all__ = ["MISSING", "minutes", "parse_number", "whole_minutes"]

MISSING: Final = frozenset({"", "-", "n/e", "N/A", "NaN", "nan", "null"})
"""Cell texts that mean "no value here" (SMARD writes ``-``, ENTSO-E ``-`` or an empty field)."""


def parse_number(text: str, *, decimal_comma: bool) -> float | None:
    """Parse ``1.022,27`` (decimal comma) or ``1022.27``; ``None`` for a missing-value marker."""
    text = text.strip()
    if text in MISSING:
        return None
    cleaned = text.replace(".", "").replace(",", ".") if decimal_comma else text
    try:
        value = float(cleaned)
    except ValueError:
        msg = f"not a number: {text!r}"
        raise FieldError(msg) from None
    if not math.isfinite(value):
        msg = f"not a finite number: {text!r}"
        raise FieldError(msg)
    return value


def whole_minutes(delta: timedelta) -> int:
    """Minutes in ``delta``, for resolutions."""
    return int(delta.total_seconds() // 60)


def minutes(count: object) -> timedelta:
    """Return ``count`` minutes (an int, or its text) as a resolution; a :class:`FieldError` for anything else."""
    try:
        if isinstance(count, bool) or not isinstance(count, int | str):
            raise TypeError  # noqa: TRY301 - one message for every kind of wrong value
        return timedelta(minutes=int(count))
    except (TypeError, ValueError, OverflowError):
        msg = f"resolution_minutes is not a whole number of minutes: {count!r}"
        raise FieldError(msg) from None
