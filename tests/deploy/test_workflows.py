"""The GitHub workflows: valid against GitHub's workflow schema (check-jsonschema's vendored copy),
clean under zizmor (offline, pedantic), pinned by commit SHA and with the least permissions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
NAMES = ["ci.yml", "images.yml"]
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def _load(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True
    document["on"] = document.pop(True)
    return document


def _zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona=pedantic", "--no-progress", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_workflows_match_githubs_workflow_schema() -> None:
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *(str(WORKFLOWS / n) for n in NAMES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    result = _zizmor(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_zizmor_would_catch_an_unpinned_action_and_persisted_credentials(tmp_path: Path) -> None:
    """The check above can fail: a tag instead of a SHA, and a checkout that keeps its token (the default)."""
    text = (WORKFLOWS / "ci.yml").read_text(encoding="utf-8")
    text = re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v5", text)
    text = text.replace("        with:\n          persist-credentials: false\n", "")
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text, encoding="utf-8")
    result = _zizmor(broken)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "unpinned-uses" in output
    assert "artipacked" in output


def _steps(document: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_and_permissions_are_granted_per_job(name: str) -> None:
    document = _load(name)
    assert document["permissions"] == {}
    for job_name, job in document["jobs"].items():
        assert "permissions" in job, job_name
        assert job["permissions"].get("contents") == "read", job_name
        assert set(job["permissions"].values()) <= {"read", "write"}
        assert "timeout-minutes" in job, job_name
    for step in _steps(document):
        if "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]
            if step["uses"].startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_ci_runs_the_one_entry_point_on_pushes_and_pull_requests() -> None:
    document = _load("ci.yml")
    assert {"push", "pull_request"} <= set(document["on"])
    runs = [step["run"] for step in _steps(document) if "run" in step]
    assert any(re.search(r"\bbash \.ci/run$", run.strip()) for run in runs), runs
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"contents": "read"}


def test_images_are_built_for_both_platforms_checked_and_pushed_with_attestations_on_tags() -> None:
    document = _load("images.yml")
    assert document["on"]["push"] == {"tags": ["v*"]}
    (job,) = document["jobs"].values()
    assert job["strategy"]["matrix"]["package"] == ["hub", "agent"]
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    steps = _steps(document)
    builds = [step for step in steps if step.get("uses", "").startswith("docker/build-push-action@")]
    assert all(step["with"]["build-args"] == "PACKAGE=${{ matrix.package }}" for step in builds)
    assert {step["with"]["platforms"] for step in builds} >= {"linux/amd64", "linux/arm64"}
    (push,) = [step for step in builds if step["with"].get("push")]
    assert push["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert push["with"]["sbom"] is True
    assert push["with"]["provenance"] == "mode=max"
    assert push["if"] == "startsWith(github.ref, 'refs/tags/v')"
    (login,) = [step for step in steps if step.get("uses", "").startswith("docker/login-action@")]
    assert login["if"] == push["if"]
    # every loaded platform is smoke-checked by the image's own probe before the push
    smoke = next(step for step in steps if "luna_probe.py smoke" in step.get("run", ""))
    loaded = [step["with"]["tags"].split(":")[1] for step in builds if step["with"].get("load")]
    assert sorted(loaded) == ["amd64", "arm64"]
    assert "for platform in amd64 arm64" in smoke["run"]
    assert steps.index(smoke) < steps.index(push)
