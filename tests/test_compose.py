"""The compose files are valid Compose (no engine runs here, so the schema is the check), with health and pins."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from luna_agent.settings import AgentSettings
from luna_hub.settings import HubSettings
from luna_shared.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
FILES = ["compose.hub.yaml", "compose.edge.yaml"]


@pytest.mark.parametrize("name", [*FILES, "compose.swarm.yaml"])
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


def _with_defaults(value: str) -> str:
    """Substitute ``${VAR:-default}`` / ``${VAR:?message}`` as compose would with .env.example's values."""
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    return re.sub(r"\$\{(\w+)(?::[-?][^}]*)?\}", lambda m: example[m.group(1)], value)


@pytest.mark.parametrize(
    ("name", "service", "settings_type"),
    [("compose.hub.yaml", "hub", HubSettings), ("compose.edge.yaml", "agent", AgentSettings)],
)
def test_the_containers_environment_is_valid_settings(
    name: str, service: str, settings_type: type[HubSettings | AgentSettings]
) -> None:
    """Every LUNA_* variable the stack sets is a real setting of the process, with a valid value."""
    environment = _services(name)[service]["environment"]
    assert isinstance(environment, dict)
    env = {key: _with_defaults(str(value)) for key, value in environment.items()}
    path = _mounted_config(name, service)
    loaded = load_settings(settings_type, path=path, env=env)
    assert loaded.ignored_env == ()


def _mounted_config(name: str, service: str) -> Path | None:
    """The settings file a service mounts at the path its LUNA_CONFIG names, as a repository path."""
    spec = _services(name)[service]
    environment = spec["environment"]
    assert isinstance(environment, dict)
    if "LUNA_CONFIG" not in environment:
        return None
    volumes = spec["volumes"]
    assert isinstance(volumes, list)
    mounts = {target: source for source, target, *_ in (str(volume).split(":") for volume in volumes)}
    source = mounts[str(environment["LUNA_CONFIG"])]
    assert source.startswith("./"), source
    return ROOT / source


def test_the_hub_container_uses_the_stacks_services() -> None:
    environment = _services("compose.hub.yaml")["hub"]["environment"]
    assert isinstance(environment, dict)
    env = {key: _with_defaults(str(value)) for key, value in environment.items()}
    settings = load_settings(HubSettings, env=env).settings
    assert settings.documents.store == "s3"
    assert settings.documents.s3 is not None
    assert (settings.documents.s3.endpoint, settings.documents.s3.secure) == ("minio:9000", False)
    assert settings.rag.qdrant_url == "http://qdrant:6333"
    assert settings.rag.qdrant_api_key == "change-me"
    assert (settings.rag.embedder, settings.rag.answerer) == ("ollama", "ollama")
    assert settings.rag.ollama.url == "http://ollama:11434"
    assert settings.database_url is not None
    assert settings.database_url.endswith("@db:5432/luna")


@pytest.mark.parametrize(("name", "service", "package", "command"), [
    ("compose.hub.yaml", "hub", "hub", ["serve"]),
    ("compose.edge.yaml", "agent", "agent", ["run"]),
])  # fmt: skip
def test_hub_and_agent_images_come_from_the_one_dockerfile(
    name: str, service: str, package: str, command: list[str]
) -> None:
    spec = _services(name)[service]
    build = spec["build"]
    assert isinstance(build, dict)
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert build["args"] == {"PACKAGE": package}
    assert spec["command"] == command
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert '--package "luna-${PACKAGE}"' in dockerfile
    assert '"/opt/luna/bin/luna-${PACKAGE}" /usr/local/bin/luna' in dockerfile
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert [path for path in tracked if Path(path).name.startswith("Dockerfile")] == ["Dockerfile"]


def test_the_stacks_set_real_secrets_with_no_defaults() -> None:
    """Secrets come from files named in .env (``${X:?...}``, never a default), auth stays on, HTTPS is served."""
    text = "".join((ROOT / name).read_text(encoding="utf-8") for name in FILES)
    secret_like = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|CERT|_CA_")
    for variable, operator in re.findall(r"\$\{(\w+)(:[-?])?", text):
        if secret_like.search(variable):
            assert operator == ":?", f"{variable} must be required, without a default"
    hub = _services("compose.hub.yaml")["hub"]
    environment = hub["environment"]
    assert isinstance(environment, dict)
    assert environment["LUNA_AUTH__REQUIRED"] == "true"
    assert "LUNA_AUTH__JWT_SECRET" not in environment  # a file, not a variable docker inspect shows
    hub_secrets = hub["secrets"]
    assert isinstance(hub_secrets, list)
    mounted = {f"/run/secrets/{name}" for name in hub_secrets}
    for setting in ("LUNA_AUTH__JWT_SECRET_FILE", "LUNA_SERVER__TLS_CERT", "LUNA_SERVER__TLS_KEY"):
        assert environment[setting] in mounted, setting
    agent = _services("compose.edge.yaml")["agent"]
    agent_env = agent["environment"]
    assert isinstance(agent_env, dict)
    agent_secrets = agent["secrets"]
    assert isinstance(agent_secrets, list)
    agent_mounted = {f"/run/secrets/{name}" for name in agent_secrets}
    assert agent_env["LUNA_SYNC__CA_FILE"] in agent_mounted
    assert agent_env["LUNA_STATUS_API__TOKEN_FILE"] in agent_mounted


def test_the_agents_hub_url_matches_what_the_hub_serves() -> None:
    """The hub stack serves HTTPS on HUB_PORT, so the example HUB_URL is https on that port; healthchecks agree."""
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert example["HUB_URL"].startswith("https://")
    assert example["HUB_URL"].rsplit(":", 1)[1] == example["HUB_PORT"]
    healthcheck = " ".join(_services("compose.hub.yaml")["hub"]["healthcheck"]["test"])  # type: ignore[index]
    assert "https://127.0.0.1:8080/health/ready" in healthcheck


def _example() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )


def test_the_edge_agent_reads_the_mounted_example_with_an_sdm630_and_tasmota_plugs() -> None:
    environment = _services("compose.edge.yaml")["agent"]["environment"]
    assert isinstance(environment, dict)
    env = {key: _with_defaults(str(value)) for key, value in environment.items()}
    path = _mounted_config("compose.edge.yaml", "agent")
    assert path == ROOT / "deploy" / "edge" / "agent.toml"
    settings = load_settings(AgentSettings, path=path, env=env).settings
    (meter,) = settings.devices
    assert (meter.profile, meter.port) == ("sdm630", 502)  # Modbus TCP
    assert meter.host
    assert settings.mqtt is not None
    assert settings.mqtt.host == "mosquitto"
    assert "mosquitto" in _services("compose.edge.yaml")
    assert [s.format for s in settings.mqtt.subscriptions] == ["tasmota"]
    assert settings.mqtt.username
    assert settings.mqtt.password == _example()["MQTT_AGENT_PASSWORD"]  # from the environment, not the file
    assert settings.agent_id == _example()["AGENT_ID"]
    assert settings.data_dir == "/var/lib/luna"


def test_the_edge_broker_wants_a_password_and_listens_on_one_address() -> None:
    mosquitto = _services("compose.edge.yaml")["mosquitto"]
    command = mosquitto["command"]
    assert isinstance(command, list)
    volumes = mosquitto["volumes"]
    assert isinstance(volumes, list)
    mounts = {target: source for source, target, *_ in (_with_defaults(volume).split(":") for volume in volumes)}
    conf_file = ROOT / mounts[command[command.index("-c") + 1]]
    conf = dict(line.split(" ", 1) for line in conf_file.read_text(encoding="utf-8").splitlines() if line[:1].isalpha())
    assert conf["allow_anonymous"] == "false"
    assert conf["password_file"] in mounts
    assert mounts[conf["password_file"]] == _example()["MQTT_PASSWD_FILE"]
    ports = mosquitto["ports"]
    assert isinstance(ports, list)
    (port,) = ports
    assert port.startswith("${MQTT_BIND:?")
    assert _example()["MQTT_BIND"] not in {"0.0.0.0", "::", ""}  # noqa: S104 - what must not be
    healthcheck = " ".join(mosquitto["healthcheck"]["test"])  # type: ignore[index]
    assert "-u luna-agent" in healthcheck


def _yaml(path: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
    return document


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def test_every_qdrant_server_is_compatible_with_the_locked_client() -> None:
    """qdrant-client warns (and may fail) when the server is more than one minor version away."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (client,) = [package["version"] for package in lock["package"] if package["name"] == "qdrant-client"]
    texts = [(ROOT / name).read_text(encoding="utf-8") for name in ("compose.hub.yaml", "compose.swarm.yaml")]
    texts += [path.read_text(encoding="utf-8") for path in (ROOT / "deploy" / "k8s").rglob("*.yaml")]
    servers = re.findall(r"image: qdrant/qdrant:(v[\d.]+)", "".join(texts))
    assert len(servers) >= 3, servers
    for server in servers:
        (server_major, server_minor), (client_major, client_minor) = _minor(server), _minor(client)
        assert server_major == client_major, (server, client)
        assert abs(server_minor - client_minor) <= 1, (server, client)


def test_the_chat_and_embedding_models_are_the_same_everywhere() -> None:
    """One tag per model: the hub's default, compose, .env.example, the Ansible hub role and Kubernetes."""
    defaults = HubSettings().rag.ollama
    assert re.fullmatch(r"[a-z0-9.]+:\d+b-instruct-q\d_K_M", defaults.chat_model), defaults.chat_model
    example = _example()
    assert (example["OLLAMA_CHAT_MODEL"], example["OLLAMA_EMBED_MODEL"]) == (defaults.chat_model, defaults.embed_model)
    compose = (ROOT / "compose.hub.yaml").read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{OLLAMA_CHAT_MODEL:-([^}]+)\}", compose)) == {defaults.chat_model}
    assert set(re.findall(r"\$\{OLLAMA_EMBED_MODEL:-([^}]+)\}", compose)) == {defaults.embed_model}
    role = yaml.safe_load((ROOT / "ansible" / "roles" / "hub" / "defaults" / "main.yml").read_text(encoding="utf-8"))
    assert (role["hub_ollama_chat_model"], role["hub_ollama_embed_model"]) == (
        defaults.chat_model,
        defaults.embed_model,
    )
    k8s = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "deploy" / "k8s" / "components").rglob("*.yaml"))
    assert f"value: {defaults.chat_model}" in k8s
    assert f"ollama pull {defaults.embed_model} && ollama pull {defaults.chat_model}" in k8s


def test_the_backup_reaches_the_compose_database() -> None:
    """No port of the stack's database is published: the backup runs the client inside the db container,
    where backup_dsn's 127.0.0.1:5432 is that database, as user and database the stack creates."""
    inventory = _yaml("ansible/inventory/example.yml")
    (hub_host,) = inventory["all"]["children"]["hub"]["hosts"].values()
    hub_role = yaml.safe_load(
        (ROOT / "ansible" / "roles" / "hub" / "defaults" / "main.yml").read_text(encoding="utf-8")
    )
    stack_dir = hub_role["hub_dir"].replace("{{ hub_root }}", hub_role["hub_root"])
    assert hub_host["backup_exec"] == f"docker compose -f {stack_dir}/compose.hub.yaml exec -T db"
    backup = yaml.safe_load(
        (ROOT / "ansible" / "roles" / "backup" / "defaults" / "main.yml").read_text(encoding="utf-8")
    )
    dsn = urllib.parse.urlsplit(backup["backup_dsn"])
    db = _services("compose.hub.yaml")["db"]
    environment = db["environment"]
    assert isinstance(environment, dict)
    assert (dsn.hostname, dsn.port) == ("127.0.0.1", 5432)
    assert (dsn.username, dsn.path) == (environment["POSTGRES_USER"], f"/{environment['POSTGRES_DB']}")
    assert "hub_postgres_password" in backup["backup_dsn"]
    env_template = (ROOT / "ansible" / "roles" / "hub" / "templates" / "env.j2").read_text(encoding="utf-8")
    assert "POSTGRES_PASSWORD={{ hub_postgres_password }}" in env_template
    assert "ports" not in db


@pytest.mark.parametrize("target", ["build", "up", "down"])
def test_make_container_targets_say_when_docker_compose_is_missing(tmp_path: Path, target: str) -> None:
    # A copy of the Makefile beside a .env, with a PATH that holds make but no docker at all.
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=x\n")
    result = subprocess.run(
        ["make", "-s", target],
        cwd=tmp_path,
        env={"PATH": "/nonexistent", "HOME": str(tmp_path)},
        executable="/usr/bin/make",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f"make {target} needs Docker Compose v2" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_env_file_with_deployment_secrets_is_git_ignored() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False, timeout=30)
    example = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT, check=False, timeout=30)
    assert (ignored.returncode, example.returncode) == (0, 1)
