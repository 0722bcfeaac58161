"""No import circle anywhere in workbook/ (issue 9): imports go one way, model before view.

Every module's imports are read with ast (those inside functions too: a lazy import is still
a dependency), resolved to workbook's own modules, and the graph must have no cycle. Only the
`if TYPE_CHECKING:` blocks are left out: they never run. The detector is tested on small
graphs first, so that a pass means something.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workbook._paths import ROOT

PACKAGE = ROOT / "workbook"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runs(node: ast.AST) -> bool:
    """False for `if TYPE_CHECKING:` (and `typing.TYPE_CHECKING`): imports only a type
    checker reads."""
    if not isinstance(node, ast.If):
        return True
    test = node.test
    name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
    return name != "TYPE_CHECKING"


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        if isinstance(node, ast.If) and not _runs(node):
            todo.extend(node.orelse)  # the else branch runs
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def imports_of(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` imports, at load time or in a function."""
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = package
        for _ in range(max(node.level - 1, 0)):
            base = base.rpartition(".")[0]
        if node.level:
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module or ""
        for alias in node.names:  # `from . import run` imports the module run
            submodule = f"{base}.{alias.name}"
            targets.add(submodule if submodule in known else base)
    found = set()
    for target in targets:  # `import a.b.c` of a module we know, or the nearest package
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of `package` (a folder) and the modules of `package` it imports."""
    names = {path: module_name(path, package.parent) for path in sorted(package.rglob("*.py"))}
    known = set(names.values())
    return {
        name: imports_of(path.read_text(encoding="utf-8"), name, path.stem == "__init__", known)
        for path, name in names.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph as [a, b, ..., a], or [] when there is none (depth-first)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


# --- the detector itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, []),  # a diamond is no cycle
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
        ({"x": set(), "a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_the_detector_finds_a_cycle_exactly_when_there_is_one(graph, cycle) -> None:
    assert find_cycle(graph) == cycle


def test_imports_are_read_inside_functions_and_resolved_relative_to_the_module() -> None:
    known = {"pkg", "pkg.sub", "pkg.sub.a", "pkg.sub.b", "pkg.c"}
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
from . import b
from .. import c

if TYPE_CHECKING:
    from pkg.sub import a as never_run

def later():
    import pkg.sub.a
"""
    assert imports_of(source, "pkg.sub.x", False, known) == {"pkg.sub.b", "pkg.c", "pkg.sub.a"}
    assert imports_of("from .a import f\n", "pkg.sub", True, known) == {"pkg.sub.a"}
    assert imports_of("def f():\n    from .b import g\n", "pkg.sub.a", False, known) == {
        "pkg.sub.b"
    }


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text("def f():\n    from .view import g\n")
    (package / "view.py").write_text("from .model import f\n")
    (package / "other.py").write_text("import os\n")
    graph = import_graph(package)
    assert graph["pkg.other"] == set() and graph["pkg.view"] == {"pkg.model"}, graph
    assert find_cycle(graph) == ["pkg.model", "pkg.view", "pkg.model"]
    (package / "model.py").write_text("def f():\n    return 1\n")  # the way back removed
    assert find_cycle(import_graph(package)) == []


# --- the workbook ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_workbook_has_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert "workbook._exercises.model" in graph and graph["workbook._exercises.check"], graph
    cycle = find_cycle(graph)
    assert not cycle, "import cycle in workbook/: " + " -> ".join(cycle)


def test_the_exercise_model_imports_no_view_run_or_interface(graph: dict[str, set[str]]) -> None:
    engine = "workbook._exercises."
    below = {"model": {"files"}, "progress": {"files", "model"}, "judge": {"files", "model"}}
    for name, allowed in below.items():
        mine = {d.removeprefix(engine) for d in graph[engine + name] if d.startswith(engine)}
        if name == "judge":  # the run's record and the quick look: what it judges
            allowed = allowed | {"quick", "run"}
        assert mine <= allowed, f"{name} imports {sorted(mine - allowed)}"
