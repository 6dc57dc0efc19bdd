"""The house rules, checked from the code itself: which package may import which (imports only go down, no
import circles between modules), and the top-level import names are this project's own.

Read with `ast`, so every import counts, including those inside functions (a lazy import is still an arrow).
Run alone: `pytest tests/test_architecture.py -q` (a second, no model loaded)."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
from collections import defaultdict
from pathlib import Path

import pytest

from fitmirror.config import REPO_ROOT

# package -> the project packages it may import (docs/architecture.md, "Packages and what they own")
MAY_IMPORT = {
    "fitmirror": set(),
    "render": {"fitmirror"},
    "avatar": {"fitmirror", "render"},
    "nlu": {"fitmirror"},
    "server": {"fitmirror", "render", "avatar", "nlu"},
    "benchmarks": {"fitmirror", "render", "avatar", "nlu", "server"},
}
ALLOWED_UP: set[tuple[str, str]] = set()  # (module, package) pairs allowed to climb: none
PROJECT = set(MAY_IMPORT)


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PROJECT:
        for path in (REPO_ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = path
    return mods


def _imports(name: str, path: Path) -> set[str]:
    """Project modules `name` imports (absolute and relative), resolved to the longest existing module name."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in out if m.split(".")[0] in PROJECT}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for imp in _imports(name, path):
            while imp and imp not in mods:
                imp = imp.rpartition(".")[0]
            if imp and imp != name:
                graph[name].add(imp)
    return graph


def test_imports_only_go_down():
    bad = []
    for mod, targets in _graph().items():
        pkg = mod.split(".")[0]
        for t in targets:
            tpkg = t.split(".")[0]
            if tpkg != pkg and tpkg not in MAY_IMPORT[pkg] and (mod, tpkg) not in ALLOWED_UP:
                bad.append(f"{mod} -> {t}")
    assert not bad, "imports that climb up a floor:\n" + "\n".join(sorted(bad))


def test_no_import_circle_between_modules():
    """Tarjan's strongly connected components over module -> module imports (a package's __init__ counts as its
    own module). A circle means two modules cannot be understood, tested or moved one without the other."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    # a package's __init__ that re-exports its own submodules, which import each other through it, is one room
    circles = [c for c in circles if not all(m.split(".")[:-1] == c[0].split(".")[:-1] for m in c) or len(c) > 2]
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


@pytest.mark.parametrize("name", ["server", "render", "avatar", "nlu", "fitmirror", "benchmarks"])
def test_top_level_names_are_ours(name):
    """`import server` must load this project's package, and no installed distribution may ship a package of
    the same name (a dependency that did would shadow ours or be shadowed, depending on sys.path order)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(REPO_ROOT), f"{name} is loaded from {spec.origin}"
    owners = set(importlib.metadata.packages_distributions().get(name, [])) - {"fitmirror"}
    assert not owners, f"installed distributions {owners} also provide a top-level {name!r}"
