"""No import cycles between the modules of luna_agent, luna_hub and luna_shared.

Every module file is parsed (nothing is imported) and every import statement counts, those under
``if TYPE_CHECKING:`` and inside functions too: a cycle hidden there is still a cycle of the design.
``import a.b.c`` is an edge to module ``a.b.c``; ``from a.b import c`` to module ``a.b.c`` when there
is one, else to ``a.b``; an edge to a package is an edge to its ``__init__``. Relative imports are
resolved; imports of anything outside our packages are ignored.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "luna_agent": ROOT / "agent" / "src",
    "luna_hub": ROOT / "hub" / "src",
    "luna_shared": ROOT / "shared" / "src",
}

Graph = dict[str, set[str]]


def module_files(packages: Mapping[str, Path]) -> dict[str, Path]:
    """Map each module's dotted name to its file (a package's name to its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for package, src in packages.items():
        for path in sorted((src / package).rglob("*.py")):
            parts = path.relative_to(src).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _imported(module: str, path: Path, modules: Mapping[str, Path]) -> Iterator[str]:
    """Yield the modules of ``modules`` that ``module`` (in ``path``) imports, anywhere in its body."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _known(alias.name, modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    yield f"{base}.{alias.name}"
                else:
                    yield from _known(base, modules)


def _known(name: str, modules: Mapping[str, Path]) -> Iterator[str]:
    """Yield ``name`` or its longest prefix that is one of ``modules`` (nothing for other packages)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            yield candidate
            return


def import_graph(packages: Mapping[str, Path]) -> Graph:
    """Return, for every module of ``packages``, the modules of ``packages`` it imports."""
    modules = module_files(packages)
    return {name: set(_imported(name, path, modules)) - {name} for name, path in modules.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """Return one cycle (``[a, b, ..., a]``) per strongly connected component with more than one module."""
    components = _Components(graph)
    for node in sorted(graph):
        if node not in components.index:
            components.connect(node)
    return [_cycle_through(min(component), component, graph) for component in components.found]


class _Components:
    """Tarjan's strongly connected components (recursive: the graph is small)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.found: list[set[str]] = []

    def connect(self, node: str) -> None:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        for target in sorted(self.graph[node]):
            if target not in self.index:
                self.connect(target)
                self.low[node] = min(self.low[node], self.low[target])
            elif target in self.stack:
                self.low[node] = min(self.low[node], self.index[target])
        if self.low[node] == self.index[node]:
            component = set(self.stack[self.stack.index(node) :])
            del self.stack[self.stack.index(node) :]
            if len(component) > 1:
                self.found.append(component)


def _cycle_through(start: str, component: set[str], graph: Graph) -> list[str]:
    """Return a shortest path from ``start`` back to itself inside ``component``."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    msg = f"{start} is in a strongly connected component but on no cycle"
    raise AssertionError(msg)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycles(package: str) -> None:
    found = [cycle for cycle in cycles(import_graph(PACKAGES)) if any(m.split(".")[0] == package for m in cycle)]
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def domain_graph(graph: Graph, package: str) -> Graph:
    """Collapse ``package``'s modules into its domains (``luna_hub.sync.services`` into ``luna_hub.sync``)."""
    domains: Graph = {}
    for module, targets in graph.items():
        if module.split(".")[0] == package:
            domain = ".".join(module.split(".")[:2])
            found = {".".join(t.split(".")[:2]) for t in targets if t.split(".")[0] == package}
            domains.setdefault(domain, set()).update(found - {domain})
    return domains


def test_hub_domains_depend_one_way() -> None:
    """Two hub domains never import each other, not even through different modules (ingest <-> timeseries)."""
    found = cycles(domain_graph(import_graph(PACKAGES), "luna_hub"))
    assert not found, "domains that import each other:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_the_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "from pkg.a import thing\n",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import b\nthing = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def late():\n    from . import c\n",
        "pkg/sub/c.py": "from .. import a\nimport pkg.d.e\n",
        "pkg/d/__init__.py": "",
        "pkg/d/e.py": "import os\nfrom pkg import sub\n",
        "pkg/lone.py": "from pkg.a import thing\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph({"pkg": tmp_path})
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.sub.b"},
        "pkg.sub": set(),
        "pkg.sub.b": {"pkg.sub.c"},
        "pkg.sub.c": {"pkg.a", "pkg.d.e"},
        "pkg.d": set(),
        "pkg.d.e": {"pkg.sub"},
        "pkg.lone": {"pkg.a"},
    }
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.sub.c", "pkg.a"]]
