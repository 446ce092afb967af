"""Collect benchmark results and write them to ``BENCHMARKS.md``."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Result:
    """One measurement next to its raw baseline from the same run."""

    group: str
    name: str
    value: float
    unit: str
    baseline: float
    note: str = ""

    @property
    def ratio(self) -> float:
        """Our throughput as a fraction of the raw baseline's."""
        return self.value / self.baseline


def _machine_line() -> str:
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    return f"Run {when} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}."


def _row(r: Result) -> str:
    return f"| {r.group} | {r.name} | {r.value:,.0f} {r.unit} | {r.baseline:,.0f} {r.unit} | {r.ratio:.2f} | {r.note} |"


def merge(path: Path, results: list[Result]) -> list[Result | str]:
    """Rows of the report at ``path`` with those of ``results`` replaced (same group and name) or appended."""
    fresh = {(r.group, r.name): r for r in results}
    rows: list[Result | str] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not line.startswith("| ") or len(cells) < 2 or cells[0] == "group":
                continue
            rows.append(fresh.pop((cells[0], cells[1]), line))
    return rows + list(fresh.values())


def write(results: list[Result] | list[Result | str], path: Path) -> None:
    """Rewrite the benchmark report; a row given as text is kept as it was (measured in an earlier run)."""
    partial = any(isinstance(r, str) for r in results)
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench`; every row is measured against its raw baseline in the same run",
        "(ratio = ours / raw; higher is better for throughput).",
        "",
        _machine_line() + (" Rows not re-measured in this run are kept from the previous one." if partial else ""),
        "",
        "| group | benchmark | ours | raw baseline | ratio | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    lines += [r if isinstance(r, str) else _row(r) for r in results]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
