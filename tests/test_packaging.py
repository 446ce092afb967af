"""An edge node installs only the agent and the shared package: no hub dependencies."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import luna_probe  # the image's own checks (deploy/docker, on pytest's pythonpath)
import pytest

ROOT = Path(__file__).resolve().parents[1]
HUB_ONLY = set(luna_probe.HUB_ONLY)


def uv(*args: str, venv: Path) -> str:
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    result = subprocess.run(
        [sys.executable, "-m", "uv", *args], capture_output=True, text=True, timeout=600, env=env, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_agent_installs_into_an_empty_venv_without_hub_dependencies(tmp_path: Path) -> None:
    venv = tmp_path / "edge"
    uv("venv", "--quiet", "--python", sys.executable, str(venv), venv=venv)
    python = str(venv / "bin" / "python")
    uv("pip", "install", "--quiet", "--python", python, "./agent", venv=venv)
    listing = uv("pip", "list", "--format", "json", "--python", python, venv=venv)
    installed = {entry["name"] for entry in json.loads(listing)}
    assert {"luna-agent", "luna-shared", "pymodbus", "paho-mqtt"} <= installed
    assert installed.isdisjoint(HUB_ONLY), installed & HUB_ONLY
    help_text = subprocess.run([venv / "bin" / "luna-agent", "--help"], capture_output=True, text=True, check=True)
    assert "usage: luna-agent" in help_text.stdout
    # the agent image's smoke check passes on exactly this installation ...
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "LUNA_PACKAGE": "agent"}
    probe = [str(venv / "bin" / "python"), str(ROOT / "deploy" / "docker" / "luna_probe.py"), "smoke"]
    smoke = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert smoke.returncode == 0, smoke.stderr
    # ... and fails where the hub is installed too (the development environment)
    probe[0] = sys.executable
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    mixed = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert mixed.returncode == 1
    assert "holds hub packages" in mixed.stderr


@pytest.mark.slow
def test_the_readme_wheel_commands_build_the_agent_wheels_as_written(tmp_path: Path) -> None:
    # the commands the README gives for the Ansible deployment, run with the uv the project installs
    commands = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("uv build ")]
    assert commands, "the README lost its wheel-building commands"
    for command in commands:
        args = command.split()[1:]
        assert args[-2:] == ["-o", "dist"], command
        uv(*args[:-1], str(tmp_path), venv=ROOT / ".venv")
    assert sorted(path.name.split("-")[0] for path in tmp_path.glob("*.whl")) == ["luna_agent", "luna_shared"]


def test_top_level_layout_is_exactly_the_documented_one() -> None:
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    top = {path.split("/", 1)[0] for path in tracked} - {".gitignore", ".python-version", ".ci", ".github"}
    assert top <= {
        "agent", "hub", "shared", "compose.edge.yaml", "compose.hub.yaml", "compose.swarm.yaml", "ansible", "deploy",
        "docs", "tests", "bench", "pyproject.toml", "README.md", "Makefile", "uv.lock", "BENCHMARKS.md", ".env.example",
        "Dockerfile", ".dockerignore",
    }  # fmt: skip


PACKAGES = {"agent": "luna_agent", "hub": "luna_hub", "shared": "luna_shared"}
# Declared packages that no module imports by name, and why each is still needed.
USED_WITHOUT_IMPORT = {
    "hub": {"python-multipart": "Litestar parses the documents upload form with it"},
    "agent": {"pyserial": "pymodbus opens serial ports (Modbus RTU) through it"},
    "shared": {},
}


def _requirement_names(specs: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0].lower().replace("_", "-") for spec in specs}


def _declared(folder: str) -> set[str]:
    project = tomllib.loads((ROOT / folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    return _requirement_names(specs) - {"luna-shared"}


def _imported_distributions(folder: str) -> set[str]:
    owners = importlib.metadata.packages_distributions()
    top_levels: set[str] = set()
    for path in (ROOT / folder / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                top_levels.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top_levels.add(node.module.partition(".")[0])
    third_party = top_levels - set(sys.stdlib_module_names) - set(PACKAGES.values()) - {"__future__"}
    missing = sorted(name for name in third_party if name not in owners)
    assert not missing, f"{folder} imports modules no installed distribution provides: {missing}"
    return {owners[name][0].lower().replace("_", "-") for name in third_party}


@pytest.mark.parametrize("folder", sorted(PACKAGES))
def test_every_imported_package_is_declared_and_every_declared_one_is_used(folder: str) -> None:
    declared = _declared(folder)
    imported = _imported_distributions(folder)
    # luna-shared's extras (uvicorn, zstandard) count as declared for the packages that ask for them
    declared_with_extras = declared | (_declared("shared") if folder != "shared" else set())
    assert imported <= declared_with_extras, f"{folder} imports undeclared packages: {imported - declared_with_extras}"
    unused = declared - imported - set(USED_WITHOUT_IMPORT[folder])
    assert not unused, f"{folder} declares packages it never imports: {unused}"


@pytest.mark.parametrize("folder", ["hub/src/luna_hub", "agent/src/luna_agent"])
def test_the_readme_parts_table_names_every_package_folder(folder: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| ") and f"`{folder}/`" in line)
    packages = sorted(path.parent.name for path in (ROOT / folder).glob("*/__init__.py"))
    missing = [name for name in packages if f"`{name}`" not in row and f"`{name}/" not in row]
    assert not missing, f"README's parts table does not name {missing} in the {folder} row"


DOCKERFILE = ROOT / "Dockerfile"


def test_the_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""  # not even info-level remarks


def test_the_dockerfile_is_multi_stage_pinned_by_digest_non_root_and_health_checked() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base), base
    stages = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert stages == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]  # build, then a runtime without uv or sources
    final = text.rsplit("\nFROM ", 1)[1]
    assert "COPY --from=build /opt/luna /opt/luna" in final
    (user,) = re.findall(r"^USER (\S+)$", final, flags=re.MULTILINE)
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) >= 1000
    assert f"--uid {uid}" in final
    assert re.search(
        r'^HEALTHCHECK .*\n?.*CMD \["python", "/opt/luna-probe/luna_probe.py", "health"\]', final, re.MULTILINE
    )
    assert "COPY deploy/docker/luna_probe.py /opt/luna-probe/luna_probe.py" in final
    # the build context holds what the COPY lines need, and not the local environment
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("*") :][:1] == ["*"]
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert f"!{path}" in ignore or f"!{path}/" in ignore, path


def _locked_requirements(package: str) -> set[str]:
    """The distributions ``uv sync --package PACKAGE --no-dev`` installs, read from the lock file."""
    result = subprocess.run(
        [sys.executable, "-m", "uv", "export", "--frozen", "--no-dev", "--no-hashes", "--package", package],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    return {
        re.split(r"[=<>\s;@]", line, maxsplit=1)[0].lower()
        for line in result.stdout.splitlines()
        if line and not line.startswith(("#", " "))
    }


def test_the_agent_image_resolves_no_hub_dependency() -> None:
    """What ``uv sync --package luna-agent`` in the Dockerfile installs holds nothing of the hub's."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert 'uv sync --locked --no-dev --no-editable --package "luna-${PACKAGE}"' in text
    names = _locked_requirements("luna-agent")
    assert {"pymodbus", "paho-mqtt"} <= names, names
    assert names.isdisjoint(HUB_ONLY), names & HUB_ONLY
    assert "asyncpg" in _locked_requirements("luna-hub")  # the same export does list them for the hub


def test_the_size_budgets_in_the_docs_are_the_ones_ci_enforces() -> None:
    docs = (ROOT / "docs" / "images.md").read_text(encoding="utf-8")
    workflow = (ROOT / ".github" / "workflows" / "images.yml").read_text(encoding="utf-8")
    (hub, agent) = re.findall(r"echo (\d+) \|\| echo (\d+)", workflow)[0]
    for package, budget in (("hub", hub), ("agent", agent)):
        megabytes = int(budget) // 1_000_000
        assert re.search(rf"\| `luna-iems-{package}` \| {megabytes} MB \|", docs), (package, megabytes)
