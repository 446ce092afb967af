"""The compose files are valid Compose (no engine runs here, so the schema is the check), with health and pins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FILES = ["compose.hub.yaml", "compose.edge.yaml"]


@pytest.mark.parametrize("name", FILES)
def test_compose_file_matches_the_compose_spec(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(ROOT / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", FILES)
def test_every_service_has_a_healthcheck_and_a_pinned_image(name: str) -> None:
    services = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))["services"]
    for service_name, service in services.items():
        assert "healthcheck" in service, service_name
        image = service["image"]
        assert ":" in image, image
        assert not image.endswith(":latest"), image
        for dependency in service.get("depends_on", {}).values():
            assert dependency["condition"] == "service_healthy", service_name
