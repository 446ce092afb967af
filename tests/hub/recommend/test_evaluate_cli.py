"""``luna-hub recommend evaluate`` as a real process over a decision log made through the API."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from support.databases import fresh_database
from support.processes import BIN
from support.recommend import event, open_reco_hub


def evaluate(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUNA_DATABASE_URL": dsn}
    return subprocess.run(
        [str(BIN / "luna-hub"), "recommend", "evaluate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_help_names_the_estimators() -> None:
    result = subprocess.run(
        [str(BIN / "luna-hub"), "recommend", "evaluate", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "IPS, SNIPS" in " ".join(result.stdout.split())  # argparse wraps the description
    assert "--target" in result.stdout


async def test_evaluate_reads_the_decision_log(pg_admin_dsn: str, tmp_path: Path) -> None:
    async with fresh_database(pg_admin_dsn) as dsn:
        open_hub = open_reco_hub(dsn, tmp_path)
        async with open_hub(policy="thompson", epsilon=0.3) as hub:
            ids = await hub.items("a", "b", "c")
            user = await hub.caller()
            for _ in range(12):
                answer = await hub.recommend(user, k=2)
                first = answer["items"][0]["item_id"]
                await hub.send(user, event("click" if first == ids[1] else "view", first, answer["recommendation_id"]))
            await hub.recommend(user, k=2)  # a decision without a reward is left out
        result = evaluate(dsn, "--json", "--target", "uniform", "--resamples", "200")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["decisions"] == 12
        assert [e["name"] for e in report["estimates"]] == ["ips", "snips", "dr"]
        for estimate in report["estimates"]:
            assert 0 <= estimate["low"] <= estimate["value"] <= estimate["high"]
        text = evaluate(dsn, "--policy", "linucb")
        assert text.returncode == 0, text.stderr
        assert "target greedy: 0 logged decisions" in text.stdout
