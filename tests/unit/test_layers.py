"""The layout shows the architecture: imports point down the layers, never up, and no two
modules import each other, even through others or from inside a function.

    cli, __main__   entry: parse, load config, dispatch, the one error guard
    actions         what keepalived and systemd run
    admin           what a person runs
    config          the one TOML file
    store           what we keep on disk
    probes          acquire: Redis, Sentinel, host
    decision        pure: facts in, verdict out
    ground          errors, record, deadline, log, version, stopping

A module may import its own layer and any layer below. Every import counts, the lazy ones
inside functions too: they only move the moment the dependency is taken.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "sentinel_vip"
LAYERS = ("entry", "actions", "admin", "config", "store", "probes", "decision", "ground")
ENTRY = {"cli", "__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "ground"  # the package itself
    if parts[1] in LAYERS:
        return parts[1]
    return "entry" if parts[1] in ENTRY else "ground"


def imports_of(path: Path, modules: set) -> set:
    """Every sentinel_vip module ``path`` imports, at any depth of its code."""
    found = set()
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports a module; ``from mod import name`` the module
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]  # fmt: skip
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == "sentinel_vip")
    return {n for n in found if n in modules and n != this}


def graph() -> dict:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    modules = set(paths)
    return {name: imports_of(path, modules) for name, path in paths.items()}


GRAPH = graph()


def test_the_graph_is_the_real_one():
    assert len(GRAPH) > 40
    assert "sentinel_vip.probes.resp" in GRAPH["sentinel_vip.probes.local_redis"]
    assert "sentinel_vip.decision.decide" in GRAPH["sentinel_vip.actions.check"]
    assert "sentinel_vip.errors" in GRAPH["sentinel_vip.cli"]


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down_the_layers(module):
    mine = LAYERS.index(layer(module))
    upward = sorted(m for m in GRAPH[module] if LAYERS.index(layer(m)) < mine)
    assert upward == [], f"{module} ({layer(module)}) imports a layer above it"


def cycles(edges: dict) -> list:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on_stack: set = set()
    found = []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    # A package's __init__ is imported by its modules' import machinery, not by their code:
    # only edges written in the code count.
    assert cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
