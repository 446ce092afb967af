"""Keep secrets out of log lines: credentials in text and secret-named fields become ``[redacted]``.

Applied by :func:`luna_shared.logs.configure_logging` to every event (ours and the standard
library's) and to every formatted traceback, which never shows local variables: a traceback
with locals once printed an agent's bearer key three times and the whole settings object.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, TextIO

__all__ = ["REDACTED", "is_secret_name", "redact_event", "redact_text", "redacted_traceback"]

REDACTED: Final = "[redacted]"

_SECRET_NAME: Final = re.compile(
    r"(?:^|[_-])(?:authorization|cookie|set-cookie|password|passwd|secret|token|api[_-]?key|credential|key)s?(?:$|[_-])",
    re.IGNORECASE,
)
_NOT_SECRET_SUFFIXES: Final = ("_file", "_path", "_id", "_prefix", "_type", "_name", "_at", "_days", "_minutes")
"""Fields about a secret, not the secret: ``key_file``, ``key_id``, ``token_type``, ``expires_at``."""

_SECRETS_IN_TEXT: Final = (
    # an Authorization header's value, whatever the credential
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\",;]+"), r"\1 " + REDACTED),
    # the hub's credentials: user API keys (their prefix names them), agent keys, refresh tokens
    (re.compile(r"\b(luna_[0-9a-f]{8})_[A-Za-z0-9_-]{16,}"), r"\1_" + REDACTED),
    (re.compile(r"\b(lak_|lrt_)[A-Za-z0-9_-]{16,}"), r"\1" + REDACTED),
    # the password in a URL (a database URL, a proxy)
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
    # JSON Web Tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # name=value or 'name': value pairs of a secret-named field, as reprs of settings and dicts show them
    (
        re.compile(
            r"(?i)(\b[\w-]*(?:password|passwd|secret|token|api[_-]key|authorization|cookie)[\w-]*['\"]?\s*[=:]\s*)"
            r"(?:'[^']*'|\"[^\"]*\"|b'[^']*'|[^\s,)}\]]+)"
        ),
        r"\1" + repr(REDACTED),
    ),
)


def is_secret_name(name: str) -> bool:
    """Whether a field or header called ``name`` holds a secret (``jwt_secret``, ``Authorization``, ``api_key``)."""
    return not name.lower().endswith(_NOT_SECRET_SUFFIXES) and _SECRET_NAME.search(name) is not None


def redact_text(text: str) -> str:
    """Return ``text`` with credentials and secret-named values replaced by ``[redacted]``."""
    for pattern, replacement in _SECRETS_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {key: REDACTED if is_secret_name(str(key)) else _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        pairs = all(isinstance(item, tuple | list) and len(item) == 2 for item in value)  # noqa: PLR2004 - headers
        if value and pairs:
            return [
                (name, REDACTED) if is_secret_name(_text(name)) else (name, _redact_value(item)) for name, item in value
            ]
        return [_redact_value(item) for item in value]
    return value


def _text(name: object) -> str:
    return name.decode("latin-1") if isinstance(name, bytes) else str(name)


def redact_event(_logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Redact secret-named fields and credentials in every value and a formatted traceback (a structlog processor)."""
    for name, value in list(event_dict.items()):
        if name == "exc_info":
            continue
        if is_secret_name(name):
            event_dict[name] = REDACTED
        elif name == "event" and not isinstance(value, str):
            event_dict[name] = redact_text(str(value))
        else:
            event_dict[name] = _redact_value(value)
    return event_dict


def redacted_traceback(sio: TextIO, exc_info: Any) -> None:  # noqa: ANN401 - structlog's ExcInfo
    """Write ``exc_info`` as a plain traceback: no local variables, credentials redacted (for ConsoleRenderer)."""
    sio.write("\n" + redact_text("".join(traceback.format_exception(*exc_info))).rstrip("\n"))
