"""Run the benchmarks (all, or the suites named on the command line) and rewrite ``BENCHMARKS.md``.

``python -m bench agent_sync`` runs one suite and replaces only its rows in the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench import agent_buffer, agent_footprint, agent_modbus, agent_sync, codec, hub_timeseries
from bench.report import merge, write

SUITES = {
    "codec": codec.run,
    "agent_buffer": agent_buffer.run,
    "agent_modbus": agent_modbus.run,
    "agent_footprint": agent_footprint.run,
    "agent_sync": agent_sync.run,
    "hub_timeseries": hub_timeseries.run,
}


def main(names: list[str]) -> None:
    """Run the suites one by one, printing progress, then write the report."""
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        sys.exit(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}")
    chosen = {name: suite for name, suite in SUITES.items() if not names or name in names}
    results = []
    for number, (name, suite) in enumerate(chosen.items(), start=1):
        print(f"[{number}/{len(chosen)}] {name} ...", flush=True)
        for result in suite():
            print(f"    {result.name}: {result.value:,.0f} {result.unit} (ratio {result.ratio:.2f})", flush=True)
            results.append(result)
    out = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
    write(merge(out, results) if names else results, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
