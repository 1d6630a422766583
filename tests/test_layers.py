"""The import graph: utils <- envs, lot_sizing <- agents <- meta (<- scripts), no import upwards, no cycle.

Every module's imports are read from its syntax tree (imports inside functions included)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"utils": 0, "envs": 1, "lot_sizing": 1, "agents": 2, "meta": 3}


def import_graph() -> dict[str, set[str]]:
    modules = {}
    for path in ROOT.glob("*/**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in LAYER:
            modules[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_no_import_from_a_lower_layer_to_a_higher_one():
    graph = import_graph()
    assert len(graph) > 40
    upward = [f"{m} -> {d}" for m, deps in graph.items() for d in deps if LAYER[d.split(".")[0]] > LAYER[m.split(".")[0]]]
    assert upward == []
    sideways = [f"{m} -> {d}" for m, deps in graph.items() for d in deps if {m.split(".")[0], d.split(".")[0]} == {"envs", "lot_sizing"}]
    assert sideways == []


def test_no_import_cycle():
    graph = import_graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return path + [module, dep]
            if dep not in state and (cycle := visit(dep, path + [module])):
                return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            assert visit(module, []) is None
