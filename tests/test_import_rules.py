"""The layering, checked from the source: who may import whom, and no import cycles.

Every .py file under bot/ and commands/ is parsed with `ast`; every import counts, including
those inside functions and under `if TYPE_CHECKING:`, and relative imports are resolved. The rules:

- `commands` (Slack listeners) reach journeys, renderers, errors and the services container only;
- journeys (`bot.flows`) never reach the listeners, the composition root or the entry points;
- stores, Microsoft clients, the hunt catalog and the actions model know nothing of Slack;
- renderers (`bot.slack`) know nothing of Microsoft, journeys or listeners;
- only entry points import the composition root `bot.app`;
- no import cycle among the project's modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bot", "commands")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the importing file
    path: str  # the importing file, relative to the repository
    line: int
    statement: str  # the import as written, for messages
    target: str  # what it reaches: a project module when one exists, else the dotted name

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: `{self.statement}` (reaches {self.target})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".venv" in path.parts or "__pycache__" in path.parts:
                continue
            found[module_name(path)] = path
    return found


MODULES = project_files()


def nearest_module(name: str) -> str:
    """`name` itself if it is a project module, else its nearest existing parent; third-party
    and standard-library names are returned as written."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return name


def resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    if level > 1:
        package = package[: len(package) - (level - 1)]
    base = ".".join(package)
    if module:
        return f"{base}.{module}" if base else module
    return base


def imports_of(name: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    relative_path = str(path.relative_to(ROOT))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):  # every import, at any depth: functions, TYPE_CHECKING, try
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(
                    name,
                    relative_path,
                    node.lineno,
                    f"import {alias.name}",
                    nearest_module(alias.name),
                )
        elif isinstance(node, ast.ImportFrom):
            source = (
                resolve_relative(name, is_package, node.level, node.module)
                if node.level
                else node.module or ""
            )
            dots = "." * node.level
            for alias in node.names:
                statement = f"from {dots}{node.module or ''} import {alias.name}"
                submodule = f"{source}.{alias.name}"
                target = submodule if submodule in MODULES else nearest_module(source)
                yield Import(name, relative_path, node.lineno, statement, target)


ALL_IMPORTS: list[Import] = [
    imp for name, path in MODULES.items() for imp in imports_of(name, path)
]


def within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def is_project(name: str) -> bool:
    return within(name, SCANNED)


def imports_from(*layers: str) -> list[Import]:
    return [imp for imp in ALL_IMPORTS if within(imp.importer, layers)]


def report(rule: str, offending: list[Import]) -> str:
    lines = "\n".join(f"  {imp}" for imp in offending)
    return f"{rule}; {len(offending)} offending import(s):\n{lines}"


def test_the_scan_sees_the_project():
    """Guards the guard: an empty scan or unresolved relative imports would pass every rule."""
    assert {"bot.app", "bot.flows.hunts", "commands.context", "bot.web"} <= MODULES.keys()
    assert len(ALL_IMPORTS) > 100, f"only {len(ALL_IMPORTS)} imports found under {SCANNED}"
    unresolved = [imp for imp in ALL_IMPORTS if imp.target == "" or imp.target.startswith(".")]
    assert not unresolved, report("every import resolves to a module name", unresolved)


COMMANDS_MAY_REACH = ("bot.flows", "bot.slack", "bot.errors", "bot.services", "commands")
COMMANDS_NEVER_REACH = (
    "bot.state",
    "bot.defender",
    "bot.app",
    "bot.jobs",
    "bot.queue",
    "bot.workspace",
)


def test_listeners_never_reach_stores_clients_or_wiring():
    offending = [
        imp for imp in imports_from("commands") if within(imp.target, COMMANDS_NEVER_REACH)
    ]
    assert not offending, report(
        f"commands.* must not import {', '.join(COMMANDS_NEVER_REACH)}", offending
    )


def test_listeners_reach_only_journeys_renderers_errors_and_services():
    offending = [
        imp
        for imp in imports_from("commands")
        if is_project(imp.target)
        and imp.target != "bot"  # `from bot import x` is judged by x, resolved above
        and not within(imp.target, COMMANDS_MAY_REACH)
    ]
    assert not offending, report(
        f"commands.* may import only {', '.join(COMMANDS_MAY_REACH)} from the project", offending
    )


# (importing layers, what they must never import, why)
FORBIDDEN: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (
        ("bot.flows",),
        ("commands", "bot.app", "bot.jobs", "bot.workspace", "bot.cli"),
        "journeys are called by listeners and workers, never the other way round",
    ),
    (
        ("bot.state", "bot.defender", "bot.hunts", "bot.actions"),
        (
            "slack_sdk",
            "slack_bolt",
            "bot.slack",
            "bot.flows",
            "commands",
            "bot.app",
            "bot.jobs",
            "bot.services",
        ),
        "stores, Microsoft clients, the hunt catalog and the actions model know nothing of Slack",
    ),
    (
        ("bot.slack",),
        ("bot.defender", "bot.flows", "commands", "bot.app", "bot.jobs"),
        "renderers draw what they are given: no Microsoft, journeys or listeners",
    ),
]


@pytest.mark.parametrize(
    ("layers", "forbidden", "why"), FORBIDDEN, ids=["flows", "domain-and-clients", "slack"]
)
def test_layer_never_imports(layers: tuple[str, ...], forbidden: tuple[str, ...], why: str):
    offending = [imp for imp in imports_from(*layers) if within(imp.target, forbidden)]
    assert not offending, report(
        f"{', '.join(layers)} must not import {', '.join(forbidden)} ({why})", offending
    )


ENTRY_POINTS = ("bot.cli", "bot.workspace.console")


def test_only_entry_points_import_the_composition_root():
    offending = [
        imp
        for imp in ALL_IMPORTS
        if within(imp.target, ("bot.app",))
        and imp.importer != "bot.app"
        and imp.importer not in ENTRY_POINTS
    ]
    assert not offending, report(
        f"only {', '.join(ENTRY_POINTS)} may import the composition root bot.app", offending
    )


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: every strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def test_strongly_connected_finds_a_cycle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["d"], ["e"]]


def shortest_cycle(graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """A shortest cycle through the component's first member, staying inside the component."""
    start = min(members)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for succ in sorted(graph[node] & members):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if succ not in came_from:
                    came_from[succ] = node
                    following.append(succ)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component of size > 1 always has one


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in ALL_IMPORTS:
        if imp.target in MODULES and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
            edges.setdefault((imp.importer, imp.target), []).append(imp)
    cycles = [component for component in strongly_connected(graph) if len(component) > 1]
    described = []
    for component in cycles:
        cycle = shortest_cycle(graph, set(component))
        hops = "\n".join(
            f"      {edges[(source, target)][0]}" for source, target in pairwise(cycle)
        )
        described.append(
            f"  {len(component)} modules import each other: {', '.join(component)}\n"
            f"    e.g. {' -> '.join(cycle)}:\n{hops}"
        )
    assert not cycles, f"{len(cycles)} import cycle(s) among project modules:\n" + "\n".join(
        described
    )
