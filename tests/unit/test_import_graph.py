"""The project's import graph: no circle, and no module importing another's `_private` name.

Every module under each root is parsed (not imported); every import counts, at module level, inside functions and
under `if TYPE_CHECKING:` alike, since a typing-only circle is still a knot for the reader. Relative imports are
resolved against the importing module's package. `from package import name` counts as an import of the submodule
`package.name` when there is one, else of the package. Add a root to ROOTS to hold another tree to the same rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# (directory that is on sys.path, top-level package or module names below it to check)
ROOTS: list[tuple[Path, tuple[str, ...]]] = [
    (REPO / "functions", ("polysync_vertex", "main")),
]


def _modules(base: Path, tops: tuple[str, ...]) -> dict[str, Path]:
    """{dotted module name: file} of every module under `base` that belongs to one of `tops`."""
    found: dict[str, Path] = {}
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[0] not in tops:
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(module: str, path: Path, level: int, target: str | None) -> str:
    """The absolute name of a (possibly relative) import `from {'.' * level}{target}` in `module`."""
    if level == 0:
        return target or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports(module: str, path: Path, known: set[str]) -> list[tuple[str, str | None]]:
    """(imported module, name imported from it or None) for every import of `module` that is in `known`."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node.level, node.module)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in known:
                    found.append((submodule, None))
                elif source in known:
                    found.append((source, alias.name))
    return found


def graph(roots: list[tuple[Path, tuple[str, ...]]]) -> tuple[dict[str, set[str]], list[str]]:
    """(module -> modules it imports, "module imports other._name" violations)."""
    modules: dict[str, Path] = {}
    for base, tops in roots:
        modules.update(_modules(base, tops))
    known = set(modules)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private: list[str] = []
    for module, path in modules.items():
        for target, name in imports(module, path, known):
            if target == module:
                continue
            edges[module].add(target)
            if name is not None and name.startswith("_") and not name.startswith("__"):
                private.append(f"{module} imports {target}.{name}")
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
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


@pytest.mark.parametrize("root", ROOTS, ids=lambda r: str(r[0].relative_to(REPO)))
def test_the_import_graph_has_no_circle(root: tuple[Path, tuple[str, ...]]) -> None:
    edges, _ = graph([root])
    assert cycles(edges) == []


@pytest.mark.parametrize("root", ROOTS, ids=lambda r: str(r[0].relative_to(REPO)))
def test_no_module_imports_another_modules_private_name(root: tuple[Path, tuple[str, ...]]) -> None:
    _, private = graph([root])
    assert private == []


def test_the_rules_catch_a_typing_only_circle_and_a_private_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.a import _helper\n")
    edges, private = graph([(tmp_path, ("pkg",))])
    assert cycles(edges) == [["pkg.a", "pkg.b"]]
    assert private == ["pkg.b imports pkg.a._helper"]
