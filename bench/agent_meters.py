"""Serve N simulated SDM630 meters in one process (for the footprint benchmark): ``python -m bench.agent_meters N``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from luna_agent.simulators.modbus_meter import MeterSimulator


async def serve(count: int) -> None:
    simulators = [await MeterSimulator("sdm630").start(update_every_s=5.0) for _ in range(count)]
    print(json.dumps([sim.port for sim in simulators]), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for sim in simulators:
            await sim.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(int(sys.argv[1])))
