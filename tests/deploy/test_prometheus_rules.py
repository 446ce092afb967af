"""The Prometheus files in ``deploy/prometheus``: rules pass ``promtool check rules`` and their unit tests,
the example configuration is valid, and every metric the rules use is one the hub exposes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from luna_hub.metrics import HubMetrics, Snapshot
from support.prometheus import run_promtool

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "prometheus"


def test_the_rules_pass_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", str(FOLDER / "luna-rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rules_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", "luna-rules.test.yml", cwd=FOLDER)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_configuration_is_valid(tmp_path: Path) -> None:
    """``promtool check config`` wants the files it names to exist: the token and CA file are stand-ins here."""
    config = yaml.safe_load((FOLDER / "prometheus.yml").read_text(encoding="utf-8"))
    job = config["scrape_configs"][0]
    assert job["authorization"]["type"] == "Bearer"
    assert job["metrics_path"] == "/metrics"
    (tmp_path / "token").write_text("t" * 64)
    (tmp_path / "ca.pem").write_text("")
    job["authorization"]["credentials_file"] = str(tmp_path / "token")
    job["tls_config"]["ca_file"] = str(tmp_path / "ca.pem")
    shutil.copy(FOLDER / "luna-rules.yml", tmp_path / "luna-rules.yml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = run_promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_use_only_metrics_the_hub_exposes() -> None:
    snapshot = Snapshot(agents=[], document_jobs={}, alerts_firing=0, pool={})
    exposed = set(re.findall(r"^# TYPE (\w+) ", HubMetrics().expose(snapshot).decode(), flags=re.MULTILINE))
    names = {f"{name}{suffix}" for name in exposed for suffix in ("", "_total", "_count", "_bucket", "_sum")}
    names.add("up")
    rules = yaml.safe_load((FOLDER / "luna-rules.yml").read_text(encoding="utf-8"))
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= set(re.findall(r"\b((?:luna_)\w+|up)\{", rule["expr"]))
    assert used
    assert used <= names, used - names
