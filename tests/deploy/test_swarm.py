"""The Swarm stack (compose.swarm.yaml), validated by the Docker CLI itself: ``docker stack config``.

``docker stack config`` parses, checks and interpolates the file the way ``docker stack deploy``
does, without an engine (none runs here). The hub's secret-to-setting start-up line is run for real
with /bin/sh against a scratch secrets folder.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import luna_probe
import pytest
import yaml

from luna_hub.settings import HubSettings
from luna_shared.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
SWARM = ROOT / "compose.swarm.yaml"
BACKING = {"db": "db", "qdrant": "vector", "objects": "object"}


@functools.cache
def _config() -> dict[str, Any]:
    docker = shutil.which("docker")
    assert docker, "the docker CLI is needed (.ci/run installs it; no engine is used)"
    result = subprocess.run(
        [docker, "stack", "config", "--compose-file", str(SWARM)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_docker_stack_config_accepts_the_stack() -> None:
    services = _config()["services"]
    assert set(services) == {"hub", *BACKING}


def test_docker_stack_config_rejects_a_broken_stack(tmp_path: Path) -> None:
    """The check above can fail: an unknown deploy key is refused."""
    document = yaml.safe_load(SWARM.read_text(encoding="utf-8"))
    document["services"]["hub"]["deploy"]["update_config"]["paralelism"] = 1
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    docker = shutil.which("docker")
    assert docker
    result = subprocess.run(
        [docker, "stack", "config", "-c", str(broken)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "paralelism" in result.stderr


def test_the_hub_is_replicated_with_rolling_updates_that_roll_back() -> None:
    deploy = _config()["services"]["hub"]["deploy"]
    assert deploy["replicas"] >= 2
    update = deploy["update_config"]
    assert (update["parallelism"], update["order"], update["failure_action"]) == (1, "start-first", "rollback")
    assert update["monitor"]
    rollback = deploy["rollback_config"]
    assert (rollback["parallelism"], rollback["order"]) == (1, "start-first")
    assert {"limits", "reservations"} <= set(deploy["resources"])


def test_every_service_has_a_healthcheck_and_the_hubs_asks_ready_over_https() -> None:
    services = _config()["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        assert service["deploy"]["restart_policy"]["condition"] == "any", name
    hub = services["hub"]
    assert hub["healthcheck"]["test"] == ["CMD", "python", "/opt/luna-probe/luna_probe.py", "health"]
    env = {**hub["environment"], "LUNA_PACKAGE": "hub"}  # LUNA_PACKAGE comes from the image
    assert luna_probe.health_url(env) == "https://127.0.0.1:8080/health/ready"


def test_secrets_are_external_and_become_real_settings() -> None:
    config = _config()
    assert config["secrets"]
    for name, secret in config["secrets"].items():
        assert secret.get("external") is True, name
        assert "file" not in secret, name
    hub = config["services"]["hub"]
    targets = {entry.get("target", entry["source"]) for entry in hub["secrets"]}
    assert {"LUNA_DATABASE_URL", "LUNA_RAG__QDRANT_API_KEY", "LUNA_DOCUMENTS__S3__SECRET_KEY"} <= targets
    env = dict(hub["environment"])
    assert not [
        key for key in env if any(word in key for word in ("PASSWORD", "API_KEY", "SECRET_KEY", "DATABASE_URL"))
    ]
    for target in targets:
        if target.startswith("LUNA_"):
            env[target] = "postgresql://luna:x@db:5432/luna" if target == "LUNA_DATABASE_URL" else "stand-in-value"
    loaded = load_settings(HubSettings, env=env)
    assert loaded.ignored_env == ()
    mounted = {f"/run/secrets/{target}" for target in targets}
    settings = loaded.settings
    assert settings.auth.jwt_secret_file in mounted
    assert {settings.server.tls_cert, settings.server.tls_key} <= mounted


def test_the_hub_start_line_exports_each_luna_secret_and_nothing_else(tmp_path: Path) -> None:
    hub = _config()["services"]["hub"]
    assert hub["entrypoint"] == ["/bin/sh", "-c"]
    (line,) = hub["command"]
    assert line.endswith("exec luna serve")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "LUNA_DATABASE_URL").write_text("postgresql://luna:p4ss@db:5432/luna", encoding="utf-8")
    (secrets / "LUNA_RAG__QDRANT_API_KEY").write_text("k3y with spaces", encoding="utf-8")
    (secrets / "jwt_secret").write_text("not-an-env-var", encoding="utf-8")
    script = line.replace("/run/secrets/", f"{secrets}/").replace(
        "exec luna serve", f"exec {sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    )
    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30, check=True, env={})
    env = yaml.safe_load(result.stdout)
    assert env["LUNA_DATABASE_URL"] == "postgresql://luna:p4ss@db:5432/luna"
    assert env["LUNA_RAG__QDRANT_API_KEY"] == "k3y with spaces"
    assert "jwt_secret" not in env


@pytest.mark.parametrize(("service", "network"), sorted(BACKING.items()))
def test_backing_services_sit_alone_on_internal_networks_and_on_labelled_nodes(service: str, network: str) -> None:
    config = _config()
    services = config["services"]
    assert set(services[service]["networks"]) == {network}
    assert config["networks"][network]["internal"] is True
    joined = {name for name, spec in services.items() if network in spec["networks"]}
    assert joined == {service, "hub"}
    constraints = services[service]["deploy"]["placement"]["constraints"]
    assert any(c.startswith("node.labels.luna.") for c in constraints), constraints
    assert "ports" not in services[service]
