"""Hosts on one machine: network namespaces on a bridge, each with a veth and an address (``ip netns``).

The bridge lives in a namespace of its own (the "switch"); the test process joins it through a veth
from the root namespace (the "ops" host, ``.1``), so it can reach every host and serve the hosts
what they call (a webhook receiver, a price server). Everything made is removed by :meth:`Lab.close`,
also after a failure half way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from support.processes import ManagedProcess

__all__ = ["Lab", "netns_unavailable"]


def netns_unavailable() -> str | None:
    """Why namespaces cannot be made here (not root, no ``ip``/``tc``), or None."""
    if os.geteuid() != 0:
        return "building network namespaces needs root"
    for program in ("ip", "tc", "nft", "haproxy", "runuser"):
        if shutil.which(program) is None:
            return f"{program} is not installed (.ci/run installs iproute2, nftables and haproxy)"
    probe = f"luna-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        msg = f"ip {' '.join(args)}: {result.stderr.strip()}"
        raise RuntimeError(msg)


@dataclass
class Lab:
    """A /24 of hosts named ``<tag>-<host>``; ``hosts`` maps host name to address."""

    tag: str
    subnet: int
    hosts: dict[str, str] = field(default_factory=dict)
    processes: list[ManagedProcess] = field(default_factory=list)
    _links: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, tag: str) -> Lab:
        """The switch and the ops host (the test process, address ``.1``)."""
        lab = cls(tag=tag, subnet=100 + os.getpid() % 150)
        _ip("netns", "add", lab.ns("switch"))
        lab._switch("ip", "link", "add", "br0", "type", "bridge")
        lab._switch("ip", "link", "set", "br0", "up")
        ops = f"{tag}o"
        _ip("link", "add", ops, "type", "veth", "peer", "name", f"{tag}op")
        _ip("link", "set", f"{tag}op", "netns", lab.ns("switch"))
        lab._switch("ip", "link", "set", f"{tag}op", "master", "br0", "up")
        _ip("addr", "add", f"{lab.address(1)}/24", "dev", ops)
        _ip("link", "set", ops, "up")
        lab.hosts["ops"] = lab.address(1)
        return lab

    def ns(self, host: str) -> str:
        """The namespace of ``host``."""
        return f"{self.tag}-{host}"

    def address(self, last: int) -> str:
        """The address ``.last`` of the lab's /24."""
        return f"10.231.{self.subnet}.{last}"

    def _switch(self, *argv: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns("switch"), *argv], check=True, capture_output=True, timeout=30)

    def add_host(self, host: str, last: int) -> str:
        """A namespace with loopback up and a veth to the switch at ``.last``; return its address."""
        ns = self.ns(host)
        _ip("netns", "add", ns)
        inner, outer = f"{self.tag}{last}i", f"{self.tag}{last}s"
        _ip("link", "add", inner, "type", "veth", "peer", "name", outer)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "netns", self.ns("switch"))
        self._switch("ip", "link", "set", outer, "master", "br0", "up")
        self.run(host, "ip", "link", "set", "lo", "up")
        self.run(host, "ip", "addr", "add", f"{self.address(last)}/24", "dev", inner)
        self.run(host, "ip", "link", "set", inner, "up")
        self.hosts[host] = self.address(last)
        self._links[host] = inner
        return self.address(last)

    def link(self, host: str) -> str:
        """The host's interface toward the switch (for ``tc``)."""
        return self._links[host]

    def run(self, host: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside ``host`` and wait for it; fail with its output."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.ns(host), *argv], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            msg = f"{host}: {' '.join(argv)} failed: {result.stdout}{result.stderr}"
            raise RuntimeError(msg)
        return result

    def start(self, host: str, argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> ManagedProcess:
        """A long-running process inside ``host`` (killed by :meth:`close` at the latest)."""
        process = ManagedProcess(["ip", "netns", "exec", self.ns(host), *argv], log=log, env=env)
        self.processes.append(process)
        return process

    def close(self) -> None:
        """Kill every process started, delete every namespace and the ops veth."""
        for process in self.processes:
            process.close()
        for host in [*self.hosts, "switch"]:
            if host != "ops":
                subprocess.run(["ip", "netns", "del", self.ns(host)], capture_output=True, check=False)
        with contextlib.suppress(Exception):
            subprocess.run(["ip", "link", "del", f"{self.tag}o"], capture_output=True, check=False)
