"""Run every benchmark and rewrite ``BENCHMARKS.md``."""

from __future__ import annotations

from pathlib import Path

from bench import agent_buffer, agent_footprint, agent_modbus, codec, hub_timeseries
from bench.report import write

SUITES = {
    "codec": codec.run,
    "agent_buffer": agent_buffer.run,
    "agent_modbus": agent_modbus.run,
    "agent_footprint": agent_footprint.run,
    "hub_timeseries": hub_timeseries.run,
}


def main() -> None:
    """Run the suites one by one, printing progress, then write the report."""
    results = []
    for number, (name, suite) in enumerate(SUITES.items(), start=1):
        print(f"[{number}/{len(SUITES)}] {name} ...", flush=True)
        for result in suite():
            print(f"    {result.name}: {result.value:,.0f} {result.unit} (ratio {result.ratio:.2f})", flush=True)
            results.append(result)
    out = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
    write(results, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
