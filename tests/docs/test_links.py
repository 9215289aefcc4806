"""Every link in the repository's Markdown (and in the docstrings' Markdown-style links) points inside the repository:
a clone stands alone. Web links (https://...) are allowed; a relative link must resolve to a file or directory of
the repository, never above its root (e.g. `../shared/contract.md`, which a clone does not have)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEMES = ("http://", "https://", "mailto:")


def _tracked(*patterns: str) -> list[Path]:
    """Files git tracks (or would track: untracked but not ignored), so virtualenvs and build output stay out."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *patterns],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted({ROOT / line for line in out.splitlines() if (ROOT / line).is_file()})


def bad_links(path: Path) -> list[str]:
    bad = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        for target in LINK.findall(line):
            if target.startswith(SCHEMES) or target.startswith("#"):
                continue
            if "://" in target or target.startswith("/"):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {target} (absolute path or unknown scheme)")
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {target} (outside the repository)")
            elif not resolved.exists():
                bad.append(f"{path.relative_to(ROOT)}:{n}: {target} (no such file)")
    return bad


def test_no_link_leaves_the_repository() -> None:
    files = _tracked("*.md")
    assert ROOT / "README.md" in files and len(files) > 5
    bad = [b for f in files for b in bad_links(f)]
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize(
    ("text", "why"),
    [("[c](../../shared/contract.md)", "outside the repository"), ("[d](docs/nope.md)", "no such file")],
)
def test_bad_links_are_found(text: str, why: str) -> None:
    probe = ROOT / "docs" / ".links-probe.md"
    probe.write_text(text + "\n")
    try:
        assert why in bad_links(probe)[0].replace("(", "").replace(")", "")
    finally:
        probe.unlink()
