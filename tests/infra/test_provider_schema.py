"""Every argument, block and attribute infra/ uses exists in the google provider's schema (the part of
`terraform validate` that needs the provider, which the unreachable Terraform registry keeps from running here).

The schema comes from the npm package @cdktf/provider-google 16.12.1, generated from google provider 6.50.0 (the
version infra/versions.tf pins): lib/<resource>/index.js maps every argument and nested block to its Terraform name
(`<name>: cdktf.…` and `<name>: <block>ToTerraform(…)`) and reads every attribute with `get…Attribute('<name>')`.
The package is taken from $CDKTF_PROVIDER_GOOGLE_DIR, else from .cache/ in the repository, else fetched once with
`npm pack` (the ordinary npm client). google-beta-only resources (google_project_service_identity) are not in it.
Both Cloud Build pipelines unpack it in a step of their own and set PSV_REQUIRE_PROVIDER_SCHEMA, so there the test
fails instead of skipping when the package is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from test_terraform import ROOT, config

PACKAGE = "@cdktf/provider-google@16.12.1"
CACHE = ROOT / ".cache" / "cdktf-provider-google-16.12.1"
GOOGLE_BETA_ONLY = {"google_project_service_identity"}
META = {"for_each", "count", "depends_on", "provider", "lifecycle"}
KEY = re.compile(r"\b([a-z][a-z0-9_]*): (?:cdktf\.|[a-zA-Z0-9]+ToTerraform\()")
ATTRIBUTE = re.compile(r"get[A-Za-z]*Attribute\('([a-z0-9_]+)'\)")


def _unavailable(reason: str) -> None:
    if os.environ.get("PSV_REQUIRE_PROVIDER_SCHEMA"):
        pytest.fail(reason)
    pytest.skip(reason)


@cache
def lib() -> Path:
    for candidate in (os.environ.get("CDKTF_PROVIDER_GOOGLE_DIR", ""), str(CACHE / "package")):
        if candidate and (Path(candidate) / "lib").is_dir():
            return Path(candidate) / "lib"
    npm = shutil.which("npm")
    if npm is None:
        _unavailable(f"npm is not installed: set CDKTF_PROVIDER_GOOGLE_DIR to an unpacked {PACKAGE}")
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [npm, "pack", PACKAGE, "--prefer-offline", "--pack-destination", str(CACHE)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    tarballs = sorted(CACHE.glob("*.tgz"))
    if proc.returncode != 0 or not tarballs:
        _unavailable(f"npm pack {PACKAGE} failed: {proc.stderr[-500:]}")
    with tarfile.open(tarballs[-1]) as archive:
        archive.extractall(CACHE, filter="data")
    return CACHE / "package" / "lib"


@cache
def schema(kind: str, rtype: str) -> set[str]:
    """Names of the arguments, blocks and attributes of a resource ("resource") or data source ("data")."""
    directory = rtype.removeprefix("google_").replace("_", "-")
    if kind == "data":
        directory = f"data-google-{directory}"
    source = lib() / directory / "index.js"
    assert source.is_file(), f"{kind} {rtype} is not in the google provider 6.50 schema ({source})"
    text = source.read_text(encoding="utf-8")
    return set(KEY.findall(text)) | set(ATTRIBUTE.findall(text)) | {"id"}


def _unknown_keys(node: Any, names: set[str], path: str = "") -> list[str]:
    """Keys of a parsed body (nested blocks and dynamic blocks included) that the schema does not know."""
    unknown: list[str] = []
    if isinstance(node, list):
        for item in node:
            unknown += _unknown_keys(item, names, path)
        return unknown
    if not isinstance(node, dict):
        return unknown
    for key, value in node.items():
        if key in META:
            continue
        if key == "dynamic":
            for block in value:
                for label, spec in block.items():
                    if label not in names:
                        unknown.append(f"{path}dynamic {label}")
                    unknown += _unknown_keys(spec.get("content", []), names, f"{path}{label}.")
            continue
        if key not in names:
            unknown.append(f"{path}{key}")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            unknown += _unknown_keys(value, names, f"{path}{key}.")
    return unknown


def test_every_argument_and_block_is_in_the_provider_schema() -> None:
    cfg = config()
    problems: list[str] = []
    checked = 0
    for kind, blocks in (("resource", cfg.resources), ("data", cfg.data)):
        for rtype, named in blocks.items():
            if not rtype.startswith("google_") or rtype in GOOGLE_BETA_ONLY:
                continue
            names = schema(kind, rtype)
            for name, body in named.items():
                checked += 1
                problems += [f"{kind} {rtype}.{name}: {k}" for k in _unknown_keys(body, names)]
    assert checked > 40, f"only {checked} blocks checked"
    assert not problems, "not in the google provider 6.50 schema:\n" + "\n".join(problems)


REFERENCE = re.compile(r"\b(data\.)?(google_[a-z0-9_]+)\.([a-z0-9_]+)(?:\[[^\]]*\])?\.([a-z0-9_]+)")


def test_every_attribute_read_is_in_the_provider_schema() -> None:
    cfg = config()
    problems: set[str] = set()
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "infra").glob("*.tf")))
    reads = 0
    for data, rtype, name, attribute in REFERENCE.findall(text):
        kind = "data" if data else "resource"
        declared = cfg.data if data else cfg.resources
        if name not in declared.get(rtype, {}) or rtype in GOOGLE_BETA_ONLY:
            continue  # moved/removed addresses; google-beta
        reads += 1
        if attribute not in schema(kind, rtype):
            problems.add(f"{data}{rtype}.{name}.{attribute}")
    assert reads > 50, f"only {reads} attribute reads found"
    assert not problems, "attributes not in the google provider 6.50 schema:\n" + "\n".join(sorted(problems))


def test_the_checker_finds_a_misspelt_argument() -> None:
    names = schema("resource", "google_pubsub_subscription")
    assert "dead_letter_policy" in names and "oidc_token" in names and "push_endpoint" in names
    body = {"push_config": [{"push_endpoint": "x", "oidc_tokens": [{}]}], "dynamic": [{"dead_letter": {"content": []}}]}
    assert _unknown_keys(body, names) == ["push_config.oidc_tokens", "dynamic dead_letter"]
