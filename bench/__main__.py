"""Run the benchmarks (all, or the suites named: ``python -m bench hub_ingest``) and update ``BENCHMARKS.md``."""

from __future__ import annotations

import sys
from pathlib import Path

from bench import (
    agent_buffer,
    agent_buffer_insert,
    agent_footprint,
    agent_modbus,
    agent_sync,
    api_during_indexing,
    codec,
    energy_windows,
    hub_agents_load,
    hub_cache,
    hub_cli,
    hub_ingest,
    hub_timeseries,
    rag_quality,
    rag_retrieval,
    recommend,
)
from bench.report import write

SUITES = {
    "codec": codec.run,
    "agent_buffer": agent_buffer.run,
    "agent_buffer_insert": agent_buffer_insert.run,
    "agent_modbus": agent_modbus.run,
    "agent_footprint": agent_footprint.run,
    "agent_sync": agent_sync.run,
    "hub_timeseries": hub_timeseries.run,
    "hub_cli": hub_cli.run,
    "hub_ingest": hub_ingest.run,
    "hub_agents_load": hub_agents_load.run,
    "hub_cache": hub_cache.run,
    "api_during_indexing": api_during_indexing.run,
    "rag_retrieval": rag_retrieval.run,
    "rag_quality": rag_quality.run,
    "energy_windows": energy_windows.run,
    "recommend": recommend.run,
}


def main() -> None:
    """Run the suites one by one, printing progress, then write the report (rows of suites not run are kept)."""
    names = sys.argv[1:] or list(SUITES)
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        sys.exit(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    results = []
    for number, name in enumerate(names, start=1):
        print(f"[{number}/{len(names)}] {name} ...", flush=True)
        for result in SUITES[name]():
            print(f"    {result.name}: {result.value:,.0f} {result.unit} (ratio {result.ratio:.2f})", flush=True)
            results.append(result)
    out = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
    write(results, out, keep_others=len(names) < len(SUITES))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
