"""Settings come from defaults, a TOML file and ``LUNA_*`` variables; every mistake is named precisely."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from luna_shared.config import load_settings
from luna_shared.errors import ConfigError


class Server(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080


class Example(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    site_id: str = "site-1"
    database_url: str | None = None
    debug: bool = False
    tags: tuple[str, ...] = ()
    server: Server = msgspec.field(default_factory=Server)
    backends: tuple[Server, ...] = ()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "luna.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    loaded = load_settings(Example, env={})
    assert loaded.settings == Example()
    assert loaded.ignored_env == ()


def test_environment_overrides_file_and_converts_types(tmp_path: Path) -> None:
    path = write(tmp_path, 'site_id = "from-file"\n[server]\nport = 9000\nhost = "0.0.0.0"\n')
    env = {
        "LUNA_SERVER__PORT": "9100",
        "LUNA_DEBUG": "true",
        "LUNA_TAGS": '["a", "b"]',
        "LUNA_DATABASE_URL": "postgresql://u@db/luna",
        "HOME": "/root",
    }
    settings = load_settings(Example, path=path, env=env).settings
    assert settings.site_id == "from-file"
    assert settings.server == Server(host="0.0.0.0", port=9100)  # noqa: S104 - a value, not a bind
    assert settings.debug is True
    assert settings.tags == ("a", "b")
    assert settings.database_url == "postgresql://u@db/luna"


def test_settings_are_frozen() -> None:
    settings = load_settings(Example, env={}).settings
    with pytest.raises(AttributeError):
        settings.site_id = "other"  # type: ignore[misc]


def test_variables_for_other_processes_are_ignored_and_reported() -> None:
    loaded = load_settings(Example, env={"LUNA_STATUS_API__PORT": "1", "LUNA_CONFIG": "x"})
    assert loaded.ignored_env == ("LUNA_STATUS_API__PORT",)


def test_unknown_key_in_file_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '# site settings\nsite_id = "s"\n\n[server]\nhost = "h"\nprot = 80\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(Example, path=path, env={})
    assert str(caught.value) == f"{path}:6: key 'server.prot': Object contains unknown field `prot`"
    assert (caught.value.key, caught.value.line) == ("server.prot", 6)


def test_key_inside_an_array_of_tables_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[backends]]\nhost = "a"\n\n[[backends]]\nhost = "b"\nport = 70000\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(Example, path=path, env={})
    assert (caught.value.key, caught.value.line) == ("backends[1].port", 6)


def test_wrong_type_in_file_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = "eighty"\n')
    with pytest.raises(ConfigError, match=r":2: key 'server.port': Expected `int`, got `str`"):
        load_settings(Example, path=path, env={})


def test_out_of_range_value_in_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(Example, env={"LUNA_SERVER__PORT": "70000"})
    assert str(caught.value).startswith(
        "environment variable LUNA_SERVER__PORT: key 'server.port': Expected `int` <= 65535"
    )


def test_unknown_key_in_a_known_section_of_the_environment_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"LUNA_SERVER__PROT: key 'server\.prot'"):
        load_settings(Example, env={"LUNA_SERVER__PROT": "1"})


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'site_id = "s"\n[server\nport = 1\n')
    with pytest.raises(ConfigError, match=rf"{path}: not valid TOML: .*line 2"):
        load_settings(Example, path=path, env={})


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load_settings(Example, path=tmp_path / "nope.toml", env={})


def test_invalid_json_in_environment_is_named() -> None:
    with pytest.raises(ConfigError, match="LUNA_TAGS: not valid JSON"):
        load_settings(Example, env={"LUNA_TAGS": "[oops"})


def test_scalar_where_a_table_is_expected() -> None:
    with pytest.raises(ConfigError, match="LUNA_SERVER: key 'server'"):
        load_settings(Example, env={"LUNA_SERVER": "x"})


class Required(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent_id: str


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match=r"luna.toml: key 'agent_id': Object missing required field"):
        load_settings(Required, path=path, env={})
