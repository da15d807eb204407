"""The import graph of the agents package, read from the source with ast (nothing is imported).

Imports at module level (class bodies and top-level `if`/`try` included: they run at import time)
and imports inside functions are counted apart. Among module-level imports there must be no
cycle: a cycle works only as long as nobody reorders a file, and a module in one cannot be
imported on its own. A function-level import may close a cycle (that is what such imports are
usually for), but the two circles issue #13 dissolved must not come back that way either.
`if TYPE_CHECKING:` imports never run and are left out.

Importing agents.a.b first imports the package agents.a, so an import names its parent packages
too, except the ones the importing module is itself inside (they are imported before it).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "agents"

# Issue #13: these modules each imported another for a path, and in a circle.
DISSOLVED_CIRCLES = (
    ("agents.bridges", "agents.logins", "agents.netlog", "agents.session", "agents.sessions"),
    ("agents.config", "agents.mcp"),
)


@dataclass
class Graph:
    modules: set[str]
    # (importer, imported) -> the lines of the importer that import it
    module_level: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    function_level: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def edges(self, with_function_level: bool = False) -> dict[tuple[str, str], list[int]]:
        if not with_function_level:
            return self.module_level
        merged = {edge: list(lines) for edge, lines in self.module_level.items()}
        for edge, lines in self.function_level.items():
            merged.setdefault(edge, []).extend(lines)
        return merged


def module_names(package: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of ours an import statement names (the module, or each submodule it takes)."""
    if isinstance(node, ast.Import):
        named = {alias.name for alias in node.names}
    else:
        if node.level:
            base = importer.split(".") if is_package else importer.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        named = {f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names}
    found = set()
    for name in named:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):  # the parent packages run first
            target = ".".join(parts[:end])
            inside = importer == target or importer.startswith(target + ".")
            if target in modules and target != importer and (end == len(parts) or not inside):
                found.add(target)
    return found


def build_graph(package: Path) -> Graph:
    names = module_names(package)
    graph = Graph(set(names))

    def visit(node: ast.AST, importer: str, is_package: bool, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for other in node.orelse:
                visit(other, importer, is_package, in_function)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            edges = graph.function_level if in_function else graph.module_level
            for target in _imported(node, importer, is_package, graph.modules):
                edges.setdefault((importer, target), []).append(node.lineno)
        in_function = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, importer, is_package, in_function)

    for name, path in names.items():
        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), name, path.name == "__init__.py", False)
    return graph


def cycles(edges: dict[tuple[str, str], list[int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted; sorted."""
    following: dict[str, set[str]] = {}
    for source, target in edges:
        following.setdefault(source, set()).add(target)
        following.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(following[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(following):
        if node not in index:
            connect(node)
    return sorted(found)


def describe(group: list[str], edges: dict[tuple[str, str], list[int]]) -> str:
    """One way round the group, with the importing lines: a -> b (line 3) -> a (line 9)."""
    members = set(group)
    start = group[0]
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth first: the shortest way back to the start
        node = queue.pop(0)
        for source, target in sorted(edges):
            if source != node or target not in members:
                continue
            if target == start:
                way = [*paths[node], start]
                steps = [way[0]] + [f"{b} (line {edges[(a, b)][0]} of {a})" for a, b in zip(way, way[1:], strict=False)]
                return " -> ".join(steps)
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return ", ".join(group)


def report(groups: list[list[str]], edges: dict[tuple[str, str], list[int]]) -> str:
    return "\n".join(f"cycle among {', '.join(group)}:\n  {describe(group, edges)}" for group in groups)


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(PACKAGE)


# --- the agents package ----------------------------------------------------------------------


def test_no_cycle_among_module_level_imports(graph):
    found = cycles(graph.edges())

    assert not found, "module-level imports in a cycle:\n" + report(found, graph.edges())


@pytest.mark.parametrize("circle", DISSOLVED_CIRCLES, ids=lambda circle: " ".join(circle))
def test_the_circles_issue_13_dissolved_stay_dissolved_counting_function_level_imports(graph, circle):
    edges = graph.edges(with_function_level=True)
    back = [group for group in cycles(edges)
            if sum(any(_matches(module, prefix) for module in group) for prefix in circle) > 1]

    assert not back, report(back, edges)


def test_paths_is_the_bottom_module(graph):
    assert "agents.paths" in graph.modules
    assert [target for source, target in graph.edges(with_function_level=True) if source == "agents.paths"] == []


def test_the_graph_sees_both_kinds_of_imports(graph):
    assert ("agents.bridges", "agents.paths") in graph.module_level
    assert graph.function_level  # the check above would pass vacuously on a graph that missed them


# --- the reader itself, on a made-up package ---------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_module_level_cycle_is_reported_by_name_with_its_lines(tmp_path):
    package = write(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg import b\n",
        "b.py": "import os\n\nfrom pkg.c import thing\n",
        "c.py": "from __future__ import annotations\n\nfrom . import a\n\nthing = 1\n",
        "d.py": "from pkg import a\n",
    })
    found = build_graph(package)

    assert cycles(found.edges()) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert report(cycles(found.edges()), found.edges()) == (
        "cycle among pkg.a, pkg.b, pkg.c:\n"
        "  pkg.a -> pkg.b (line 1 of pkg.a) -> pkg.c (line 3 of pkg.b) -> pkg.a (line 3 of pkg.c)")


def test_function_level_and_type_checking_imports_are_not_module_level(tmp_path):
    package = write(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg import b\n",
        "b.py": ("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg import a\nelse:\n    import pkg.c\n\n"
                 "def late():\n    from pkg import a\n\n    return a\n"),
        "c.py": "class Thing:\n    from pkg import a\n",
    })
    found = build_graph(package)

    assert set(found.module_level) == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")}
    assert set(found.function_level) == {("pkg.b", "pkg.a")}
    assert cycles(found.edges()) == [["pkg.a", "pkg.b", "pkg.c"]]  # through the class body


def test_importing_a_submodule_runs_its_package_first(tmp_path):
    package = write(tmp_path, {
        "__init__.py": "",
        "low.py": "from pkg.sub import leaf\n",
        "sub/__init__.py": "from pkg.sub import leaf, top\n",
        "sub/leaf.py": "from pkg.sub import top\n",
        "sub/top.py": "from pkg import low\n",
    })
    found = build_graph(package)

    assert ("pkg.low", "pkg.sub") in found.module_level
    assert ("pkg.sub.leaf", "pkg.sub") not in found.module_level  # already being imported when leaf runs
    assert cycles(found.edges()) == [["pkg.low", "pkg.sub", "pkg.sub.leaf", "pkg.sub.top"]]
