"""relay's import graph, read with ast: every import, inside functions and under
TYPE_CHECKING too, because a deferred import hides a cycle instead of removing it."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

Graph = dict[str, set[str]]


def module_names(root: Path) -> dict[str, Path]:
    """'relay.pipeline.dispatch' -> its file, for every module of the package at ``root``."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imported(
    module: str, path: Path, node: ast.Import | ast.ImportFrom, known: Mapping[str, Path]
) -> list[str]:
    if isinstance(node, ast.Import):
        wanted = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join([*base, *([node.module] if node.module else [])])
        else:
            prefix = node.module or ""
        # `from relay.core import alerts` imports the module relay.core.alerts.
        wanted = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]
    found = []
    for name in wanted:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.append(name)
    return found


def import_graph(root: Path) -> Graph:
    """module -> the package's modules it imports, each with the packages Python runs
    first to import it (importing relay.a.b runs relay/a/__init__.py)."""
    known = module_names(root)
    graph: Graph = {}
    for module, path in known.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported(module, path, node, known):
                    edges.add(target)
                    parent = target.rpartition(".")[0]
                    while parent:
                        edges.add(parent)
                        parent = parent.rpartition(".")[0]
        # A module's own packages run before it: they are not something it imports.
        graph[module] = {t for t in edges if t != module and not module.startswith(t + ".")}
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as a chain (a -> b -> ... -> a), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def layer_of(module: str, layers: Sequence[tuple[str, ...]]) -> tuple[int, str]:
    """(rank, unit) of a module: the unit is its first-level package (relay.pipeline)."""
    parts = module.split(".")
    unit = parts[1] if len(parts) > 1 else ""
    for rank, names in enumerate(layers):
        if unit in names:
            return rank, unit
    raise LookupError(f"{module}: its package {unit!r} is in no layer")


def upward_imports(graph: Graph, layers: Sequence[tuple[str, ...]]) -> list[str]:
    """Each import that goes up a layer or sideways into another unit of the same layer."""
    wrong = []
    for module in sorted(graph):
        rank, unit = layer_of(module, layers)
        for target in sorted(graph[module]):
            if target == module.split(".")[0]:
                continue  # the root package: its __init__ holds only the version
            target_rank, target_unit = layer_of(target, layers)
            if target_unit != unit and target_rank >= rank:
                wrong.append(
                    f"{module} (layer {rank}: {unit}) imports {target} (layer {target_rank}: {target_unit})"
                )
    return wrong
