"""The project's import graph: no circle, and no module importing another module's `_private` name.

Every module under each root is parsed (not imported); every `import` / `from ... import` counts, at module level,
inside functions and under `if TYPE_CHECKING:` alike. An edge goes to a module of the same root only (third-party
and standard-library imports are not the project's graph). Importing `pkg.sub` is an edge to `pkg.sub`, not to the
package `pkg`'s `__init__`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Directories whose modules form a graph: a module's dotted name is its path under the directory.
ROOTS: tuple[Path, ...] = (ROOT / "emulator", ROOT / "functions")


def module_names(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package `__init__`)."""
    out: dict[str, tuple[Path, bool]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        if parts:
            out[".".join(parts)] = (path, is_package)
    return out


def imports_of(name: str, path: Path, is_package: bool) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import statement of one module, relative ones resolved."""
    package = name if is_package else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.extend((target, alias.name) for alias in node.names)
    return found


def graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """Edges between the root's modules, and the `_private` imports found (as readable strings)."""
    modules = module_names(root)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    private: list[str] = []
    for name, (path, is_package) in modules.items():
        for target, imported in imports_of(name, path, is_package):
            submodule = f"{target}.{imported}" if imported else None
            if submodule in modules:
                edges[name].add(submodule)  # `from pkg import module`
            elif target in modules:
                edges[name].add(target)
                if imported and imported.startswith("_") and not imported.startswith("__"):
                    private.append(f"{name} imports {target}.{imported}")
        edges[name].discard(name)
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.mark.parametrize("root", ROOTS, ids=lambda root: root.name)
def test_no_import_circle(root: Path) -> None:
    edges, _ = graph(root)
    assert cycles(edges) == []


@pytest.mark.parametrize("root", ROOTS, ids=lambda root: root.name)
def test_no_private_import(root: Path) -> None:
    _, private = graph(root)
    assert private == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_the_rules_see_typing_only_and_function_level_imports(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
            "pkg/b.py": "def f():\n    from pkg.c import _helper\n",
            "pkg/c.py": "from . import a\n",
            "pkg/d.py": "import json\nfrom .c import a\n",
        },
    )
    edges, private = graph(root)
    assert cycles(edges) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert private == ["pkg.b imports pkg.c._helper"]
    assert edges["pkg.d"] == {"pkg.c"}


def test_an_acyclic_package_passes(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {"pkg/__init__.py": "from .a import A\n", "pkg/a.py": "from .b import B\nA = B\n", "pkg/b.py": "B = 1\n"},
    )
    edges, private = graph(root)
    assert cycles(edges) == []
    assert private == []
    assert edges == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
