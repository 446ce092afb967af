"""The compose files are valid Compose (no engine runs here, so the schema is the check), with health and pins."""

from __future__ import annotations

import re
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


def _services(name: str) -> dict[str, dict[str, object]]:
    services: dict[str, dict[str, object]] = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))["services"]
    return services


def _one_shots(services: dict[str, dict[str, object]]) -> set[str]:
    """Init jobs: run once to completion (restart "no"), so others wait for success, not health."""
    return {name for name, service in services.items() if service.get("restart") == "no"}


@pytest.mark.parametrize("name", FILES)
def test_every_service_has_a_healthcheck_and_a_pinned_image(name: str) -> None:
    services = _services(name)
    one_shots = _one_shots(services)
    for service_name, service in services.items():
        image = service["image"]
        assert isinstance(image, str)
        assert ":" in image, image
        assert not image.endswith(":latest"), image
        if service_name not in one_shots:
            assert "healthcheck" in service, service_name
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict)
        for dependency_name, dependency in depends_on.items():
            expected = "service_completed_successfully" if dependency_name in one_shots else "service_healthy"
            assert dependency["condition"] == expected, f"{service_name} -> {dependency_name}"


def test_the_hub_stack_has_its_backing_services_on_separate_internal_networks() -> None:
    document = yaml.safe_load((ROOT / "compose.hub.yaml").read_text(encoding="utf-8"))
    services = document["services"]
    for backing, network in {"db": "db", "qdrant": "vector", "minio": "object", "ollama": "llm"}.items():
        assert network in services[backing]["networks"], backing
        assert set(services[backing]["networks"]) <= {network, "backup"}, backing
        assert network in services["hub"]["networks"]
        for other in ("db", "qdrant", "minio", "ollama"):
            assert other == backing or network not in services[other]["networks"], (other, network)
    for backing in ("qdrant", "minio"):  # reachable from the host for backups, but on loopback only
        assert all(port.startswith("127.0.0.1:") for port in services[backing]["ports"]), backing
    for network in ("db", "vector", "object"):
        assert document["networks"][network]["internal"] is True, network
    assert {"db", "logs", "vector", "cache", "data"} <= set(document["volumes"])


def test_env_example_documents_exactly_the_variables_the_compose_files_read() -> None:
    used: set[str] = set()
    for name in FILES:
        # $${X} and $$X are escapes for the container's shell, not compose variables
        text = re.sub(r"\$\$\{?\w+", "", (ROOT / name).read_text(encoding="utf-8"))
        used |= set(re.findall(r"\$\{(\w+)", text))
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    assert used == documented


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("build", "docker compose -f compose.hub.yaml --env-file .env build"),
        ("up", "docker compose -f compose.hub.yaml --env-file .env up -d --wait"),
        ("down STACK=edge", "docker compose -f compose.edge.yaml --env-file .env down"),
        ("reset CONFIRM=yes", "docker compose -f compose.hub.yaml --env-file .env down --volumes --remove-orphans"),
    ],
)
def test_make_targets_drive_compose(target: str, expected: str, tmp_path: Path) -> None:
    """A dry run (no engine here): the recipe make would run, with STACK selecting the file."""
    (tmp_path / ".env").write_text("", encoding="utf-8")
    result = subprocess.run(
        ["make", "-n", "-f", str(ROOT / "Makefile"), *target.split()],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert expected in result.stdout
