"""The README's ``/energy/windows`` example answers as the README says, on the prices ``make run`` loads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.demo import DEMO_FILES

ROOT = Path(__file__).resolve().parents[3]
DEMO_PRICES = ROOT.parent / "shared" / "data" / DEMO_FILES[0][0]


async def test_the_readme_windows_example(hub: AsyncTestClient[Litestar]) -> None:
    if not DEMO_PRICES.is_file():
        pytest.skip(f"demo prices missing: {DEMO_PRICES}")
    loaded = await hub.post("/data/load", content=DEMO_PRICES.read_bytes())  # as the demo: market DE-LU
    assert loaded.status_code == 200, loaded.text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    path = re.search(r'"http://127\.0\.0\.1:8080(/energy/windows\?[^"]+)"', readme)
    told = re.search(r'^# (\{"market":"DE-LU".*\]),\n#  (.*)$', readme, re.MULTILINE)
    assert path is not None
    assert told is not None
    answer = (await hub.get(path.group(1))).json()
    first = told.group(1).split('"windows":[', 1)[1].split("}", 1)[0] + "}"
    assert answer["windows"][0] == json.loads(first)
    tail = json.loads("{" + told.group(2))
    assert answer["baseline"] == tail["baseline"]
    assert answer["saving_eur"] == tail["saving_eur"]


async def test_the_readme_site_tariff_example(hub: AsyncTestClient[Litestar]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    told = re.search(r"curl -s -X PUT .* -d '(\{[^']+\})' http://127\.0\.0\.1:8080(/sites/[^/]+/energy)", readme)
    assert told is not None
    body, path = json.loads(told.group(1)), told.group(2)
    saved = await hub.put(path, json=body)
    assert saved.status_code == 200, saved.text
    assert (await hub.get(path)).json()["energy"] == {
        "pv_meter_id": None,
        "load_meter_id": None,
        "pv_history_days": 7,
    } | body
