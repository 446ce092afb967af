"""Build a process's frozen settings object from a TOML file plus ``LUNA_*`` environment variables.

Precedence: built-in defaults < TOML file < environment. A nested key is addressed in the
environment with double underscores: ``[server] port`` is ``LUNA_SERVER__PORT``. Values from
the environment are converted to the field's type (``"8080"`` to ``8080``, ``"true"`` to
``True``); a value starting with ``[`` or ``{`` is read as JSON.

Settings types are msgspec structs declared with ``forbid_unknown_fields=True`` so that a
typo in a file fails at start-up with its name. Environment variables whose first segment
is not a field of the settings type belong to another process (agent and hub share the
prefix) and are returned as ignored rather than rejected.

Every problem is raised as :class:`~luna_shared.errors.ConfigError` naming the file (with
line where it can be found, also inside an array of tables such as ``[[devices]]``) or the
variable, the key and the problem.

``Port`` and ``Seconds`` are the constrained field types every process's settings share.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Generic, NamedTuple, TypeVar

import msgspec

from luna_shared.errors import ConfigError

__all__ = ["CONFIG_ENV", "ENV_PREFIX", "LoadedSettings", "Port", "Seconds", "load_settings"]

ENV_PREFIX: Final = "LUNA_"
CONFIG_ENV: Final = "LUNA_CONFIG"
"""Names the settings file when a CLI gets no ``--config``; never read as a setting."""

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
"""A TCP port; 0 lets the system choose."""
Seconds = Annotated[float, msgspec.Meta(gt=0)]
"""A positive duration in seconds."""

S = TypeVar("S", bound=msgspec.Struct)

_ERROR_PATH = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD_IN_PROBLEM = re.compile(r"field `(?P<field>[^`]+)`")
_TABLE_LINE = re.compile(r"^\s*\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^\s*(?P<key>[A-Za-z0-9_.\"'-]+?)\s*=")
_ARRAY_KEY = re.compile(r"^(?P<table>[a-z_]+)\[(?P<index>\d+)\](?:\.(?P<rest>[A-Za-z0-9_.]+))?")


class LoadedSettings(NamedTuple, Generic[S]):
    """The settings and the ``LUNA_*`` variables that were not meant for this process."""

    settings: S
    ignored_env: tuple[str, ...]


def load_settings(
    settings_type: type[S],
    *,
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadedSettings[S]:
    """Load ``settings_type`` from ``path`` (optional) and ``env`` (default: ``os.environ``).

    ``LUNA_CONFIG`` names the file for the CLIs and is never read as a setting.
    """
    environ = os.environ if env is None else env
    data: dict[str, Any] = {}
    text = ""
    if path is not None:
        text = _read_file(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), None, f"not valid TOML: {exc}") from exc

    env_origins: dict[tuple[str, ...], str] = {}
    ignored: list[str] = []
    known = {f.encode_name for f in msgspec.structs.fields(settings_type)}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key_path = tuple(part.lower() for part in name.removeprefix(ENV_PREFIX).split("__"))
        if key_path[0] not in known or not all(key_path):
            ignored.append(name)
            continue
        _set_path(data, key_path, _parse_env_value(name, raw), name)
        env_origins[key_path] = name

    try:
        settings = msgspec.convert(data, settings_type, strict=False)
    except msgspec.ValidationError as exc:
        raise _config_error(exc, path, text, env_origins) from exc
    return LoadedSettings(settings, tuple(ignored))


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), None, "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot be read: {exc}") from exc


def _parse_env_value(name: str, raw: str) -> object:
    if raw.lstrip().startswith(("[", "{")):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"environment variable {name}", None, f"not valid JSON: {exc}") from exc
    return raw


def _set_path(data: dict[str, Any], key_path: tuple[str, ...], value: object, name: str) -> None:
    node = data
    for part in key_path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            dotted = ".".join(key_path)
            raise ConfigError(f"environment variable {name}", dotted, f"'{part}' is not a table")
        node = child
    node[key_path[-1]] = value


def _config_error(
    exc: msgspec.ValidationError, path: Path | None, text: str, env_origins: Mapping[tuple[str, ...], str]
) -> ConfigError:
    """Turn msgspec's ``"<problem> - at `$.a.b`"`` into file/variable, key and problem."""
    match = _ERROR_PATH.match(str(exc))
    problem = match["problem"] if match else str(exc)
    at = match["path"] if match and match["path"] else ""
    key_path = [part for part in at.split(".") if part]
    field = _FIELD_IN_PROBLEM.search(problem)
    if field and ("unknown field" in problem or "missing required field" in problem):
        key_path.append(field["field"])
    key = ".".join(key_path) or None
    for depth in range(len(key_path), 0, -1):
        variable = env_origins.get(tuple(key_path[:depth]))
        if variable is not None:
            return ConfigError(f"environment variable {variable}", key, problem)
    if path is None:
        return ConfigError("settings (defaults and environment)", key, problem)
    line = _locate(text, key_path)
    if line is None and key is not None:
        line = _locate_in_array(text, key)
    return ConfigError(str(path), key, problem, line=line)


def _locate(text: str, key_path: list[str]) -> int | None:
    """Best-effort line number of a key in TOML text (tables and dotted keys; not inline tables)."""
    if not key_path:
        return None
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _TABLE_LINE.match(line):
            table = [part.strip().strip("\"'") for part in header["name"].split(".")]
            if table == key_path:
                return number
            continue
        if key := _KEY_LINE.match(line):
            full = table + [part.strip().strip("\"'") for part in key["key"].split(".")]
            if full == key_path:
                return number
    if len(key_path) > 1:
        return _locate(text, key_path[:-1])
    return None


def _locate_in_array(text: str, key: str) -> int | None:
    """Best-effort line of a key inside an array of tables (``devices[1].port``), else of that table's header."""
    match = _ARRAY_KEY.match(key)
    if match is None:
        return None
    header = f"[[{match['table']}]]"
    wanted = int(match["index"])
    seen = -1
    start = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped == header:
            seen += 1
            if seen == wanted:
                start = number
        elif start is not None and stripped.startswith("["):
            break
        elif start is not None and match["rest"] and stripped.split("=")[0].strip() == match["rest"].split(".")[0]:
            return number
    return start
