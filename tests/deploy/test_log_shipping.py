"""Fluent Bit and Loki configuration (``deploy/``) and their compose services, parsed and checked against the hub.

No Fluent Bit binary is packaged for Debian, so the check is structural: Fluent Bit tails the files
the hub writes, parses the timestamp the hub writes, and sends only the labels ``service`` and
``level`` (``request_id`` and ``agent_id`` stay fields of the line: unbounded values make
unbounded streams in Loki).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from luna_hub.observability.logfiles import LogFileHandler
from luna_hub.settings import HubSettings
from luna_shared.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _yaml(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def _fluent_bit() -> dict[str, Any]:
    config: dict[str, Any] = _yaml("deploy/fluent-bit/fluent-bit.yaml")
    return config


def _labels(output: dict[str, Any]) -> dict[str, str]:
    pairs = [pair.strip().split("=", 1) for pair in str(output["labels"]).split(",")]
    return dict(pairs)


def test_loki_gets_only_the_service_and_level_labels() -> None:
    outputs = _fluent_bit()["pipeline"]["outputs"]
    lokis = [output for output in outputs if output["name"] == "loki"]
    assert len(lokis) == 1
    loki = lokis[0]
    assert _labels(loki) == {"service": "$service", "level": "$level"}
    assert loki["auto_kubernetes_labels"] is False or loki["auto_kubernetes_labels"] == "off"
    assert not {"label_keys", "structured_metadata", "label_map_path"} & set(loki)
    assert (loki["host"], loki["port"]) == ("loki", 3100)


def test_the_labels_exist_in_every_shipped_record(tmp_path: Path) -> None:
    """``level`` comes from the hub's line, ``service`` from the modify filter on the tailed tag."""
    config = _fluent_bit()
    (tail,) = config["pipeline"]["inputs"]
    adds = [f["add"] for f in config["pipeline"]["filters"] if f["name"] == "modify" and f["match"] == tail["tag"]]
    assert adds == ["service hub"]
    handler = LogFileHandler(tmp_path, max_bytes=1 << 20, rotate_every_s=3600)
    handler.handle(logging.makeLogRecord({"msg": "hello", "levelno": 30, "levelname": "WARNING"}))
    handler.close()
    (written,) = tmp_path.glob("current-*.jsonl")
    line = json.loads(written.read_text())
    assert line["level"] == "warning"
    assert {"request_id", "agent_id"} <= set(line)


def test_fluent_bit_tails_the_files_the_hub_writes_and_parses_their_time(tmp_path: Path) -> None:
    config = _fluent_bit()
    (tail,) = config["pipeline"]["inputs"]
    assert tail["name"] == "tail"
    (parser,) = [p for p in config["parsers"] if p["name"] == tail["parser"]]
    assert parser["format"] == "json"
    handler = LogFileHandler(tmp_path, max_bytes=1 << 20, rotate_every_s=3600)
    handler.handle(logging.makeLogRecord({"msg": "hello", "levelno": 20, "levelname": "INFO"}))
    current = handler.path
    handler.close()
    # the hub's files, in the folder the compose file gives both containers
    hub = _yaml("compose.hub.yaml")["services"]
    env = load_settings(HubSettings, env={"LUNA_LOG_FILES__DIR": hub["hub"]["environment"]["LUNA_LOG_FILES__DIR"]})
    folder = env.settings.log_files.dir
    assert fnmatch.fnmatch(f"{folder}/{current.name}", tail["path"])
    assert not fnmatch.fnmatch(f"{folder}/rotated/{current.name.removeprefix('current-')}", tail["path"])
    assert f"logs:{folder}" in hub["hub"]["volumes"]
    assert f"logs:{folder}:ro" in hub["fluent-bit"]["volumes"]
    # Fluent Bit's %L is the fraction of a second: strptime's %f
    stamp = json.loads(current.read_text())[parser["time_key"]]
    assert datetime.strptime(stamp, parser["time_format"].replace("%L", "%f")).year >= 2024  # noqa: DTZ007


def test_the_compose_services_mount_the_configs_in_the_repository() -> None:
    services = _yaml("compose.hub.yaml")["services"]
    mounts = {
        "fluent-bit": ("deploy/fluent-bit/fluent-bit.yaml", " ".join(services["fluent-bit"]["command"])),
        "loki": ("deploy/loki/loki.yaml", " ".join(services["loki"]["command"])),
    }
    for service, (source, command) in mounts.items():
        (inside,) = [v.split(":")[1] for v in services[service]["volumes"] if v.startswith(f"./{source}:")]
        assert inside in command, service
        assert (ROOT / source).is_file()
    assert services["fluent-bit"]["depends_on"]["loki"]["condition"] == "service_healthy"
    loki = _yaml("deploy/loki/loki.yaml")
    assert loki["compactor"]["retention_enabled"] is True
    assert re.fullmatch(r"\d+h", loki["limits_config"]["retention_period"])
