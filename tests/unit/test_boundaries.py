"""Architecture rules, checked on the source: the core is pure, and only job kinds know job collections."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "polysync_vertex"
CORE = PACKAGE / "core"
# What the pure core may never import: cloud clients, web frameworks, HTTP, and the outer layers.
FORBIDDEN = ("google", "flask", "werkzeug", "requests", "functions_framework", "cloudevents", "grpc")
OUTER = ("adapters", "services", "bootstrap", "web", "ports", "config")
COLLECTIONS = re.compile(r"\b(customJobs|pipelineJobs|batchPredictionJobs)\b")


def _imports(path: Path) -> list[tuple[str, int]]:
    """(module, level) of every import in the file, including imports inside functions."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_imports_nothing_from_the_outside(path: Path) -> None:
    depth = len(path.relative_to(CORE).parts)  # 1 for core/x.py, 2 for core/kinds/x.py
    for module, level in _imports(path):
        if level == 0:
            assert module.split(".")[0] not in FORBIDDEN, f"{path.name} imports {module}"
            assert not module.startswith("polysync_vertex.") or module.startswith("polysync_vertex.core"), module
        elif level > depth:  # climbs out of core/: only into the package's outer layers, which is forbidden
            assert module.split(".")[0] not in OUTER, f"{path.name} imports {'.' * level}{module}"


def test_the_rule_catches_an_outside_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from google.cloud import firestore\nfrom ..adapters import vertex\n")
    assert ("google.cloud", 0) in _imports(bad) and ("adapters", 2) in _imports(bad)


def _code_lines(path: Path) -> list[str]:
    """Source lines outside docstrings and comments."""
    tree = ast.parse(path.read_text())
    docstrings = {
        n.body[0].value.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
        and isinstance(n.body[0].value.value, str)
    }
    lines = path.read_text().splitlines()
    skip: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and n.value.lineno in docstrings:
            skip.update(range(n.value.lineno, (n.value.end_lineno or n.value.lineno) + 1))
    return [line.split("#")[0] for i, line in enumerate(lines, 1) if i not in skip]


OUTSIDE_KINDS = sorted(
    [
        *(p for p in PACKAGE.rglob("*.py") if "kinds" not in p.relative_to(PACKAGE).parts),
        PACKAGE.parent / "main.py",
    ]
)


@pytest.mark.parametrize("path", OUTSIDE_KINDS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_only_job_kinds_name_a_collection(path: Path) -> None:
    named = [line.strip() for line in _code_lines(path) if COLLECTIONS.search(line)]
    assert named == [], f"{path.name} names a job collection outside core/kinds: {named}"


def test_the_collection_rule_sees_code_not_docs(tmp_path: Path) -> None:
    probe = tmp_path / "svc.py"
    probe.write_text('"""Lists customJobs."""\n\nx = "pipelineJobs"  # batchPredictionJobs\n')
    assert [line.strip() for line in _code_lines(probe) if COLLECTIONS.search(line)] == ['x = "pipelineJobs"']
