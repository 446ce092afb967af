"""Run the benchmarks (all, or the suites named: ``python -m bench rag_retrieval``) and update ``BENCHMARKS.md``."""

from __future__ import annotations

import sys
from pathlib import Path

from bench import agent_buffer, agent_footprint, agent_modbus, codec, hub_timeseries, rag_retrieval
from bench.report import write

SUITES = {
    "codec": codec.run,
    "agent_buffer": agent_buffer.run,
    "agent_modbus": agent_modbus.run,
    "agent_footprint": agent_footprint.run,
    "hub_timeseries": hub_timeseries.run,
    "rag_retrieval": rag_retrieval.run,
}


def main() -> None:
    """Run the suites one by one, printing progress, then write the report (other suites' rows are kept)."""
    chosen = sys.argv[1:] or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        sys.exit(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    results = []
    for number, name in enumerate(chosen, start=1):
        suite = SUITES[name]
        print(f"[{number}/{len(chosen)}] {name} ...", flush=True)
        for result in suite():
            print(f"    {result.name}: {result.value:,.0f} {result.unit} (ratio {result.ratio:.2f})", flush=True)
            results.append(result)
    out = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
    write(results, out, keep_others=len(chosen) < len(SUITES))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
