"""The hostile-input guard: one ASGI middleware in front of every routed request."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec

from luna_hub.errors import BadRequestError
from luna_hub.problems import PROBLEM_JSON, problem_body

MAX_JSON_DEPTH: Final = 64
"""Deepest nesting of arrays and objects a JSON body may have (the hub's own bodies nest 4 deep)."""
MAX_JSON_DIGITS: Final = 40
"""Longest run of digits in a JSON number (int64 has 19, a double's shortest repr 17)."""
JSON_CHECK_LIMIT: Final = 16 * 1024 * 1024
"""JSON bodies up to this size are checked; larger ones pass to their route, whose own size limit refuses them."""

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# \u0000 after an even number of backslashes: the escape itself, not an escaped backslash followed by "u0000".
_NUL_ESCAPE: Final = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_DIGITS: Final = bytes(ord("0") if b in b"0123456789" else b if b == ord('"') else ord("x") for b in range(256))
_LONG_NUMBER: Final = b"0" * (MAX_JSON_DIGITS + 1)
_BRACKETS: Final = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'"[]{}')
_JSON_TYPE: Final = re.compile(rb"^\s*application/(?:[\w.+-]+\+)?json\s*(?:;|$)", re.IGNORECASE)


def check_target(path: str, query_string: bytes) -> str | None:
    """Return why a request's path or query cannot be served (a NUL byte), or None."""
    if "\x00" in path:
        return "the path holds a NUL byte (%00), which no identifier may contain"
    if b"\x00" in query_string or b"%00" in query_string:
        return "the query string holds a NUL byte (%00), which no parameter may contain"
    return None


def check_json_body(body: bytes) -> str | None:
    """Return why a JSON body cannot be decoded safely, or None; malformed JSON is left to the decoder to name.

    Every step is a bytes method or one short regex: a 10 MB body takes milliseconds, not a Python loop per byte.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the JSON body is not valid UTF-8 (byte {exc.start}: {exc.reason})"
    if b"\\u0000" in body and _NUL_ESCAPE.search(body):
        return "a JSON string holds \\u0000 (NUL), which no text field accepts"
    if b"\\" in body:  # drop escaped backslashes, then escaped quotes: every quote left delimits a string
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    digits = body.translate(_DIGITS)  # digits as "0", quotes kept, all else "x"
    if _LONG_NUMBER in digits and _LONG_NUMBER in b"x".join(_outside_strings(digits)):
        return f"a JSON number has more than {MAX_JSON_DIGITS} digits"
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        quoted = body.translate(_BRACKETS, _NOT_STRUCTURE)  # quotes and brackets only
        structure = quoted.replace(b'""', b"")  # strings without brackets, as most are
        if b'"' in structure:
            structure = b"".join(_outside_strings(quoted))
        if _depth(structure) > MAX_JSON_DEPTH:
            return f"the JSON body nests deeper than {MAX_JSON_DEPTH} arrays or objects"
    return None


def _outside_strings(body: bytes) -> list[bytes]:
    """Return the pieces of ``body`` (without escaped quotes) between its strings."""
    return body.split(b'"')[::2]


def _depth(brackets: bytes) -> int:
    """Nesting depth of a string of ``[`` and ``]``: each pass removes the innermost pairs, at C speed.

    Unbalanced leftovers (``]][[``, malformed JSON) count as open levels, as a decoder would descend into them.
    """
    passes = 0
    while brackets:
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        passes += 1
        if passes > MAX_JSON_DEPTH:
            return passes
        brackets = shorter
    return passes + brackets.count(b"[")


class _HostileInputGuard:
    """Answer 400 for a NUL byte in the path or query, or a JSON body the decoders would crash on."""

    def __init__(self, app: Any) -> None:  # noqa: ANN401 - any ASGI application
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        problem = check_target(scope.get("path", ""), scope.get("query_string", b""))
        if problem is None and _is_plain_json(scope):
            messages, complete = await _buffer(receive, JSON_CHECK_LIMIT)
            if complete:
                problem = check_json_body(b"".join(m.get("body", b"") for m in messages))
            receive = _replay(messages, receive)
        if problem is not None:
            await _send_problem(scope, send, problem)
            return
        await self._app(scope, receive, send)


def _is_plain_json(scope: Scope) -> bool:
    """Tell whether the body is JSON as sent (a compressed one is its route's to inflate and check)."""
    content_type = b""
    encoding = b""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            content_type = value
        elif name == b"content-encoding":
            encoding = value.strip().lower()
    return bool(_JSON_TYPE.match(content_type)) and encoding in {b"", b"identity"}


async def _buffer(receive: Receive, limit: int) -> tuple[list[Message], bool]:
    """Receive the body up to ``limit`` bytes: the messages read, and whether they are the whole body."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, True
        if size > limit:
            return messages, False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Return a ``receive`` that hands out ``messages`` again, then whatever else the client sends."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _send_problem(scope: Scope, send: Send, detail: str) -> None:
    body = msgspec.json.encode(problem_body(BadRequestError(detail), instance=scope.get("path", "")))
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": BadRequestError.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def hostile_input_middleware(app: Any) -> Any:  # noqa: ANN401 - Litestar's middleware factory signature
    """Wrap ``app`` so requests with inputs no route can use are refused with 400 before reaching it."""
    return _HostileInputGuard(app)
