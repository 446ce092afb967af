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
    figure: str = ""
    """A picture of the measurement (a path from the repository root), linked below the table."""

    @property
    def ratio(self) -> float:
        """Our throughput as a fraction of the raw baseline's."""
        return self.value / self.baseline


def _machine_line() -> str:
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    return f"Run {when} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}."


def _kept_rows(path: Path, groups: set[str]) -> list[str]:
    """Table rows of an existing report whose group is not among ``groups`` (suites not run this time)."""
    if not path.is_file():
        return []
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    return [row for row in rows[1:] if row.split("|")[1].strip() not in groups]


def _figure_lines(path: Path, results: list[Result]) -> list[str]:
    """Links to the figures of earlier runs (kept) and of ``results`` (added), each once."""
    old = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    lines = [line for line in old if line.startswith("![")]
    for result in results:
        line = f"![{result.group}]({result.figure})"
        if result.figure and line not in lines:
            lines.append(line)
    return lines


def write(results: list[Result], path: Path, *, keep_others: bool = False) -> None:
    """Rewrite the benchmark report; with ``keep_others``, rows of groups not measured now stay as they were."""
    kept = _kept_rows(path, {r.group for r in results}) if keep_others else []
    figures = _figure_lines(path, results)
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench`; every row is measured against its raw baseline in the same run",
        "(ratio = ours / raw; higher is better for throughput).",
        "",
        _machine_line()
        + (" Rows of suites not re-run (`python -m bench SUITE`) are from earlier runs." if kept else ""),
        "",
        "| group | benchmark | ours | raw baseline | ratio | note |",
        "|---|---|---:|---:|---:|---|",
        *kept,
    ]
    lines += [
        f"| {r.group} | {r.name} | {r.value:,.0f} {r.unit} | {r.baseline:,.0f} {r.unit} | {r.ratio:.2f} | {r.note} |"
        for r in results
    ]
    if figures:
        lines += ["", "## Figures", "", *figures]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
