r"""Request-level hardening shared by every route: inputs no handler can use are refused before routing reaches it.

:func:`hostile_input_middleware` answers 400 with problem JSON (through the app's one error mapping)
for a NUL byte in the path or query string, and for a JSON body that is not UTF-8, nests deeper than
:data:`MAX_JSON_DEPTH`, holds a ``\u0000`` escape or a number longer than :data:`MAX_JSON_DIGITS`
digits. :func:`check_json_body` is the body check on its own.
"""

from __future__ import annotations

from luna_hub.http._guard import (
    JSON_CHECK_LIMIT,
    MAX_JSON_DEPTH,
    MAX_JSON_DIGITS,
    check_json_body,
    check_target,
    hostile_input_middleware,
)

__all__ = [
    "JSON_CHECK_LIMIT",
    "MAX_JSON_DEPTH",
    "MAX_JSON_DIGITS",
    "check_json_body",
    "check_target",
    "hostile_input_middleware",
]
