"""The Kubernetes manifests (deploy/k8s): rendered offline with ``kubectl kustomize``, then validated.

Kubernetes' own kinds go through ``kubernetes-validate --strict`` against named Kubernetes versions
(its schemas ship in the wheel; nothing is downloaded). It has no schema for the CloudNativePG
``Cluster`` (a custom resource), so that kind is set aside by name (``CUSTOM_KINDS``) and checked
structurally here instead: the fields the operator needs for TimescaleDB and the Secret the hub reads.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from luna_hub.settings import HubSettings
from luna_shared.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BIN = Path(sys.executable).parent
TARGETS = ["base", "overlays/small", "overlays/production"]
# the oldest Kubernetes release the manifests support, and the newest kubernetes-validate knows
KUBERNETES_VERSIONS = ["1.33.0", "1.37.0"]
CUSTOM_KINDS = {("postgresql.cnpg.io/v1", "Cluster")}
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
# backing services only the hub may reach (plus their own one-shot init jobs and, for the database,
# its own instances and the operator)
BACKING = {"luna-qdrant": 6333, "luna-objects": 9000, "luna-ollama": 11434}

Doc = dict[str, Any]


@functools.cache
def _render(target: str) -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the manifests (.ci/run installs it)"
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def _one(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    (found,) = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def _validate(docs: list[Doc], version: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"manifests-{version}.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--kubernetes-version", version, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_target_renders_and_passes_strict_validation(target: str, version: str, tmp_path: Path) -> None:
    docs = _render(target)
    builtin = [doc for doc in docs if (doc["apiVersion"], doc["kind"]) not in CUSTOM_KINDS]
    assert len(builtin) < len(docs), "the database Cluster is part of every target"
    result = _validate(builtin, version, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Couldn't find schema" not in output  # every built-in kind was checked, none skipped silently
    assert output.count("INFO") == len(builtin), output


def test_strict_validation_rejects_a_misspelt_field(tmp_path: Path) -> None:
    """The check above can fail: a typo in a probe's name is an unknown field under --strict."""
    deployment = copy.deepcopy(_one(_render("base"), "Deployment", "luna-hub"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    result = _validate([deployment], KUBERNETES_VERSIONS[0], tmp_path)
    assert result.returncode != 0
    assert "readinesProbe" in result.stdout + result.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_the_database_is_a_timescaledb_cluster_the_hub_reads_its_secret_from(target: str) -> None:
    """Structural check of the custom resource kubernetes-validate cannot check."""
    docs = _render(target)
    (cluster,) = [doc for doc in docs if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS]
    spec = cluster["spec"]
    known = {
        "instances", "imageName", "primaryUpdateStrategy", "postgresql", "bootstrap", "storage", "walStorage",
        "affinity", "resources", "backup", "monitoring",
    }  # fmt: skip
    assert set(spec) <= known, set(spec) - known
    assert isinstance(spec["instances"], int)
    assert spec["instances"] >= 1
    image = spec["imageName"]
    assert re.fullmatch(r"[\w./-]+:[\w.-]+(@sha256:[0-9a-f]{64})?", image), image
    assert not image.endswith(":latest")
    assert "-oss" not in image  # the Apache-only build lacks compression and continuous aggregates
    assert "timescaledb" in spec["postgresql"]["shared_preload_libraries"]
    assert spec["postgresql"]["parameters"]["timescaledb.license"] == "timescale"
    initdb = spec["bootstrap"]["initdb"]
    assert any("CREATE EXTENSION IF NOT EXISTS timescaledb" in sql for sql in initdb["postInitApplicationSQL"])
    for volume in ("storage", "walStorage"):
        assert re.fullmatch(r"\d+[MGT]i", spec[volume]["size"]), volume
    # CloudNativePG writes <cluster>-app with the application user's connection URI
    hub = _one(docs, "Deployment", "luna-hub")["spec"]["template"]["spec"]["containers"][0]
    database_url = next(entry for entry in hub["env"] if entry["name"] == "LUNA_DATABASE_URL")
    assert database_url["valueFrom"]["secretKeyRef"] == {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}
    assert initdb["database"] == "luna"


def _pod_specs(docs: tuple[Doc, ...]) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc["spec"]["template"]["spec"] for doc in docs if doc["kind"] in WORKLOADS}


@pytest.mark.parametrize("target", TARGETS)
def test_the_hub_runs_replicated_probed_bounded_and_read_only(target: str) -> None:
    docs = _render(target)
    deployment = _one(docs, "Deployment", "luna-hub")
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # where it writes: scratch volumes, not the image
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    for path in ("/tmp", "/var/lib/luna"):  # noqa: S108 - the container's own /tmp
        assert "emptyDir" in volumes[mounts[path]], path

    hpa = _one(docs, "HorizontalPodAutoscaler", "luna-hub")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "luna-hub"}
    assert 2 <= hpa["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["maxReplicas"]
    pdb = _one(docs, "PodDisruptionBudget", "luna-hub")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert 1 <= pdb["minAvailable"] < hpa["minReplicas"]  # a node can always be drained

    service = _one(docs, "Service", "luna-hub")["spec"]
    assert service["selector"].items() <= pod["metadata"]["labels"].items()
    ports = {port["name"] for port in container["ports"]}
    assert {port["targetPort"] for port in service["ports"]} <= ports
    ingress = _one(docs, "Ingress", "luna-hub")["spec"]
    (tls,) = ingress["tls"]
    assert tls["secretName"]
    assert [rule["host"] for rule in ingress["rules"]] == tls["hosts"]
    backends = {path["backend"]["service"]["name"] for rule in ingress["rules"] for path in rule["http"]["paths"]}
    assert backends == {"luna-hub"}


@pytest.mark.parametrize("target", TARGETS)
def test_every_workload_is_non_root_unprivileged_and_pinned(target: str) -> None:
    docs = _render(target)
    namespace = _one(docs, "Namespace", "luna")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, pod in _pod_specs(docs).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "resources" in container, name
            image = container["image"]
            assert re.search(r":[\w.-]+$", image), image
            assert not image.endswith(":latest"), image


@pytest.mark.parametrize("target", TARGETS)
def test_no_secret_is_committed_and_every_referenced_one_is_documented(target: str) -> None:
    docs = _render(target)
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    text = yaml.safe_dump_all(docs)
    referenced = set(re.findall(r"secretName: ([\w-]+)", text))
    for ref in re.findall(r"secretKeyRef:\s+key: ([\w-]+)\s+name: ([\w-]+)", text):
        referenced.add(ref[1])
    documented = (K8S / "README.md").read_text(encoding="utf-8")
    assert referenced, text
    for name in referenced:
        assert f"`{name}`" in documented, f"deploy/k8s/README.md does not say how to create the Secret {name}"


def _selects(policy: Doc, labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return bool(wanted.items() <= labels.items())


@pytest.mark.parametrize("target", TARGETS)
def test_only_the_hub_reaches_the_database_vectors_objects_and_llm(target: str) -> None:
    docs = _render(target)
    policies = [doc for doc in docs if doc["kind"] == "NetworkPolicy"]
    default_deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert default_deny, "a default-deny ingress policy for the namespace"
    assert default_deny[0]["spec"]["policyTypes"] == ["Ingress"]

    cluster_name = next(doc for doc in docs if doc["kind"] == "Cluster")["metadata"]["name"]
    pods = _pod_specs(docs)
    backing = {name: port for name, port in BACKING.items() if name in pods}
    backing["luna-db"] = 5432
    assert set(backing) >= {"luna-db", "luna-qdrant", "luna-objects"}
    for name, port in backing.items():
        labels = {"cnpg.io/cluster": cluster_name} if name == "luna-db" else {"app.kubernetes.io/name": name}
        selecting = [p for p in policies if p["spec"]["podSelector"] != {} and _selects(p, labels)]
        assert selecting, f"no policy lets anything reach {name}"
        for policy in selecting:
            for rule in policy["spec"]["ingress"]:
                rule_ports = {entry["port"] for entry in rule["ports"]}
                for peer in rule["from"]:
                    if "namespaceSelector" in peer:  # the operator, on its status port only
                        assert name == "luna-db", name
                        assert peer["namespaceSelector"]["matchLabels"] == {
                            "kubernetes.io/metadata.name": "cnpg-system"
                        }
                        assert port not in rule_ports
                        continue
                    source = peer["podSelector"]["matchLabels"]
                    allowed = [
                        {"app.kubernetes.io/name": "luna-hub"},
                        {"app.kubernetes.io/name": f"{name}-init"},
                        labels,  # its own instances (database replication)
                    ]
                    assert source in allowed, (name, source)
                    if source == {"app.kubernetes.io/name": "luna-hub"}:
                        assert rule_ports == {port}, (name, rule_ports)
    hub_rules = [
        p for p in policies if _selects(p, {"app.kubernetes.io/name": "luna-hub"}) and p["spec"]["podSelector"]
    ]
    (hub_policy,) = hub_rules
    (rule,) = hub_policy["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]


def _hub_environment(docs: tuple[Doc, ...]) -> dict[str, str]:
    """The hub container's environment, with a stand-in value for each Secret it references."""
    container = _one(docs, "Deployment", "luna-hub")["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        env.update(_one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in container["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            env[entry["name"]] = entry["value"]
        elif entry["name"] == "LUNA_DATABASE_URL":
            env[entry["name"]] = "postgresql://luna:secret@luna-db-rw.luna:5432/luna"
        else:
            env[entry["name"]] = f"secret-{ref['name']}-{ref['key']}"
    return env


def _service_port(docs: tuple[Doc, ...], url: str) -> None:
    host, _, port = url.removeprefix("http://").partition(":")
    service = _one(docs, "Service", host)
    assert int(port) in {entry["port"] for entry in service["spec"]["ports"]}, url


@pytest.mark.parametrize("target", TARGETS)
def test_the_hub_environment_is_valid_settings_naming_the_stacks_services(target: str) -> None:
    docs = _render(target)
    loaded = load_settings(HubSettings, env=_hub_environment(docs))
    assert loaded.ignored_env == ()
    settings = loaded.settings
    assert settings.auth.required is True
    assert settings.server.host == "0.0.0.0"  # noqa: S104 - in its pod, behind the Service
    assert settings.auth.jwt_secret_file is not None
    container = _one(docs, "Deployment", "luna-hub")["spec"]["template"]["spec"]["containers"][0]
    mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert str(Path(settings.auth.jwt_secret_file).parent) in mounted
    assert settings.rag.qdrant_url is not None
    _service_port(docs, settings.rag.qdrant_url)
    assert settings.documents.s3 is not None
    _service_port(docs, f"http://{settings.documents.s3.endpoint}")
    has_ollama = any(doc["kind"] == "Deployment" and doc["metadata"]["name"] == "luna-ollama" for doc in docs)
    assert (settings.rag.answerer == "ollama") is has_ollama
    if has_ollama:
        _service_port(docs, settings.rag.ollama.url)
        pull = " ".join(_one(docs, "Job", "luna-ollama-init")["spec"]["template"]["spec"]["containers"][0]["args"])
        assert settings.rag.ollama.chat_model in pull.split()
        assert settings.rag.ollama.embed_model in pull.split()


def test_ollama_runs_only_with_its_component_on_a_gpu_node() -> None:
    assert not [doc for doc in _render("overlays/small") if doc["metadata"]["name"].startswith("luna-ollama")]
    pod = _one(_render("overlays/production"), "Deployment", "luna-ollama")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_overlays_size_the_stack_differently() -> None:
    small, production = (_render(f"overlays/{name}") for name in ("small", "production"))
    instances = [next(d for d in docs if d["kind"] == "Cluster")["spec"]["instances"] for docs in (small, production)]
    assert instances == [1, 3]
    ceilings = [
        _one(docs, "HorizontalPodAutoscaler", "luna-hub")["spec"]["maxReplicas"] for docs in (small, production)
    ]
    assert ceilings[0] < ceilings[1]
