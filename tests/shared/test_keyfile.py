"""Agent key files: the hub writes them, the agent reads them, one rule for a missing or unusable file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from luna_shared.errors import KeyFileError, LunaError
from luna_shared.keyfile import read_key, write_key


def test_written_key_reads_back_and_only_its_owner_may_read_it(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "agent.key"
    write_key(path, "lak_abc123")
    assert read_key(path) == "lak_abc123"
    assert path.read_text(encoding="utf-8") == "lak_abc123\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rewriting_an_existing_readable_file_makes_it_private(tmp_path: Path) -> None:
    path = tmp_path / "agent.key"
    path.write_text("lak_old\n", encoding="utf-8")
    path.chmod(0o644)
    write_key(path, "lak_new")
    assert read_key(path) == "lak_new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_file_means_not_provisioned_yet(tmp_path: Path) -> None:
    assert read_key(tmp_path / "agent.key") is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the agent key file is empty"),
        (b"  \n\n", "the agent key file is empty"),
        (b"lak_one lak_two\n", "the agent key file holds more than one word"),
        (b"\xff\xfe", "cannot read the agent key"),
    ],
)
def test_an_unusable_file_is_an_error_naming_it(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "agent.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError) as caught:
        read_key(path)
    assert str(caught.value).startswith(f"{path}: {problem}")
    assert caught.value.path == path
    assert isinstance(caught.value, LunaError)


def test_a_directory_is_an_unreadable_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read the agent key"):
        read_key(tmp_path)
