"""``luna-agent buffer stats|export`` as a real process, on a real buffer file held open by a writer."""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample
from luna_shared.vocabulary import Quality
from support.processes import BIN

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "luna-agent"), *args], capture_output=True, text=True, timeout=60, check=False)


def _samples(count: int, start: int = 0) -> list[Sample]:
    return [
        Sample(meter_id="m1", metric="power_w", ts=T0 + timedelta(seconds=i), value=float(i), unit="W")
        for i in range(start, start + count)
    ]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return path


@pytest.fixture
def buffer(tmp_path: Path) -> Iterator[ReadingBuffer]:
    """A buffer held open like a running agent's: 5 readings, the first 2 acknowledged, one flagged."""
    opened = ReadingBuffer(tmp_path / "data" / "buffer.sqlite3")
    opened.append(_samples(4))
    opened.append(
        [
            Sample(
                meter_id="m1",
                metric="power_w",
                ts=T0 + timedelta(seconds=4),
                value=None,
                unit="W",
                quality=Quality.SUSPECT,
                reasons=("spike", "out_of_range"),
            )
        ]
    )
    opened.ack(0, 1)
    yield opened
    opened.close()


def test_stats_of_the_settings_buffer_while_a_writer_holds_it(buffer: ReadingBuffer, config: Path) -> None:
    result = _agent("buffer", "stats", "-c", str(config))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["file"] == str(buffer.path)
    assert (lines["rows"], lines["unsynced"], lines["next_seq"], lines["events"]) == ("5", "3", "5", "0")
    assert lines["oldest_at"] == "2026-03-01T12:00:00.000Z"
    assert lines["newest_at"] == "2026-03-01T12:00:04.000Z"
    assert lines["oldest_unsynced_at"] == "2026-03-01T12:00:02.000Z"
    assert int(lines["bytes"]) > 0
    assert buffer.append(_samples(1, start=5)) == (5, 5)  # the writer was not blocked and goes on


def test_export_csv_since_a_time_to_stdout(buffer: ReadingBuffer, config: Path) -> None:
    result = _agent("buffer", "export", "-c", str(config), "--since", "2026-03-01T13:00:03+01:00")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [row["seq"] for row in rows] == ["3", "4"]
    assert rows[0] == {
        "seq": "3",
        "meter_id": "m1",
        "metric": "power_w",
        "ts": "2026-03-01T12:00:03.000Z",
        "value": "3.0",
        "unit": "W",
        "quality": "good",
        "reasons": "",
        "synced": "false",
    }
    assert (rows[1]["value"], rows[1]["quality"], rows[1]["reasons"]) == ("", "suspect", "spike,out_of_range")
    assert buffer.stats().depth == 3  # reading is not acknowledging


def test_export_jsonl_of_everything_to_a_file(buffer: ReadingBuffer, tmp_path: Path) -> None:
    out = tmp_path / "export.jsonl"
    result = _agent("buffer", "export", "--file", str(buffer.path), "--format", "jsonl", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "5 reading(s) written to" in result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["seq"] for row in rows] == [0, 1, 2, 3, 4]
    assert [row["synced"] for row in rows] == [True, True, False, False, False]
    assert rows[4] == {
        "seq": 4,
        "meter_id": "m1",
        "metric": "power_w",
        "ts": "2026-03-01T12:00:04.000Z",
        "value": None,
        "unit": "W",
        "quality": "suspect",
        "reasons": ["spike", "out_of_range"],
        "synced": False,
    }


def test_a_time_without_offset_is_utc(buffer: ReadingBuffer) -> None:
    result = _agent(
        "buffer", "export", "--file", str(buffer.path), "--since", "2026-03-01T12:00:04", "--format", "jsonl"
    )
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [4]


@pytest.mark.parametrize("args", [["buffer", "--help"], ["buffer", "stats", "--help"], ["buffer", "export", "--help"]])
def test_buffer_help(args: list[str]) -> None:
    result = _agent(*args)
    assert result.returncode == 0
    assert "usage: luna-agent buffer" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["export", "--since", "yesterday"], 2, "argument --since: not an ISO 8601 time: 'yesterday'"),
        (["export", "--format", "xml"], 2, "argument --format: invalid choice: 'xml'"),
        ([], 2, "name an action, stats or export"),
        (["export", "--output", "/nonexistent/dir/out.csv"], 1, "/nonexistent/dir/out.csv: cannot write the export"),
    ],
)
def test_bad_input_is_one_line_naming_it(buffer: ReadingBuffer, args: list[str], code: int, message: str) -> None:
    result = _agent("buffer", *args, *(["--file", str(buffer.path)] if args else []))
    assert result.returncode == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("content", [None, b"not a database, just text\n"])
def test_a_missing_or_foreign_file_is_one_line_naming_it(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "buffer.sqlite3"
    if content is not None:
        path.write_bytes(content)
    result = _agent("buffer", "stats", "--file", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"luna-agent: error: {path}: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
