"""Offline checks of infra/ (the Terraform registry is unreachable, so `terraform validate` cannot run here).

- `terraform fmt -check` is clean;
- checkov finds nothing, and every `checkov:skip` says why;
- the parsed HCL (python-hcl2) agrees with the code: every entry point of functions/main.py is deployed with its
  trigger type, every setting in polysync_vertex.config.SETTINGS is set, each function has its own service account,
  no primitive role, Pub/Sub publish rights on single topics only, the scheduler tick reaches poll, the status
  subscription is ordered; and every var./local./resource reference resolves;
- issue 17: a fresh project's first apply (service identities, waits), one custom Vertex AI role per function with
  exactly the permissions its code calls (a table here), Firestore roles conditioned on the database, monitoring
  (alerts for each listed signal, log-based metrics, dashboard), TTL and index exemptions, the two CI/CD pipelines.

Issue 27's points are in test_first_apply.py, the hints / logs / outputs resources of issues 24-26 in
test_hints_logs_outputs.py, the provider schema check in test_provider_schema.py; they share the helpers here.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
CLOUDBUILD = ROOT / "cloudbuild.yaml"
CLOUDBUILD_PLAN = INFRA / "cloudbuild-plan.yaml"
FUNCTIONS = ROOT / "functions"
MAIN_PY = FUNCTIONS / "main.py"

PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"
# Entry points as fixed by the design, used only while functions/main.py does not exist yet.
FALLBACK_ENTRY_POINTS = {
    "submit": "http",
    "cancel": "http",
    "status": "http",
    "templates": "http",
    "health": "http",
    "poll": "cloud_event",
    "poll_shard": "cloud_event",
}
# Settings deliberately absent from local.common_env: the secret comes from Secret Manager, the endpoint override is
# for the local Vertex AI emulator only.
NOT_IN_COMMON_ENV = {"PSV_WEBHOOK_SECRETS", "PSV_VERTEX_ENDPOINT"}
# Settings infra/ sets ahead of functions/polysync_vertex/config.py (issues 24-26, written by other changes), with the
# defaults agreed for them. Once config.py declares one, its default must match (test_common_env_...).
ANNOUNCED_SETTINGS = {
    "PSV_HINT_GETS_PER_MINUTE": "120",
    "PSV_POLL_INTERVAL_SECONDS": "15",
    "PSV_POLL_CALLS_PER_MINUTE": "120",
    "PSV_LOG_READS_PER_MINUTE": "20",
    "PSV_OUTPUTS_BUCKET": "",
    "PSV_OUTPUTS_PREFIX": "polysync-outputs",
}
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
CHECKOV_INSTALL = (
    "checkov is required for this test. Install it in its own environment: "
    "`python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov` (repository root), "
    "or point CHECKOV_BIN at a checkov executable."
)

Tree = dict[str, Any]


# --- loading -------------------------------------------------------------------------------------------------------


def _load(path: Path) -> Tree:
    text = path.read_text(encoding="utf-8")
    try:
        from hcl2.utils import SerializationOptions
    except ImportError:  # python-hcl2 < 8: no options; normalise what older versions may leave in
        return _plain(hcl2.loads(text))
    options = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    return hcl2.loads(text, serialization_options=options)


def _plain(node: Any) -> Any:
    """Drops parser metadata keys and one layer of literal quotes from keys and strings."""
    if isinstance(node, dict):
        return {_plain(k): _plain(v) for k, v in node.items() if not str(k).startswith("__")}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


class Config:
    """All infra/*.tf files merged: resources[type][name], data[type][name], locals, variables, outputs."""

    def __init__(self, files: dict[str, Tree]) -> None:
        self.files = files
        self.resources: dict[str, dict[str, Tree]] = {}
        self.data: dict[str, dict[str, Tree]] = {}
        self.locals: dict[str, Any] = {}
        self.variables: dict[str, Tree] = {}
        self.outputs: dict[str, Tree] = {}
        for tree in files.values():
            for block in tree.get("resource", []):
                for rtype, named in block.items():
                    self.resources.setdefault(rtype, {}).update(named)
            for block in tree.get("data", []):
                for dtype, named in block.items():
                    self.data.setdefault(dtype, {}).update(named)
            for block in tree.get("locals", []):
                self.locals.update(block)
            for block in tree.get("variable", []):
                self.variables.update(block)
            for block in tree.get("output", []):
                self.outputs.update(block)

    def resource(self, rtype: str, name: str) -> Tree:
        assert name in self.resources.get(rtype, {}), f"infra/ has no {rtype}.{name}"
        return self.resources[rtype][name]


@cache
def config() -> Config:
    files = {p.name: _load(p) for p in sorted(INFRA.glob("*.tf"))}
    assert files, f"no .tf files in {INFRA}"
    return Config(files)


def first(block: Any) -> Tree:
    """A nested block as parsed (a list of one dict) or a plain dict."""
    if isinstance(block, list):
        assert len(block) == 1, f"expected one block, got {block!r}"
        block = block[0]
    assert isinstance(block, dict), f"expected a block, got {block!r}"
    return block


def local_name(expr: Any) -> str | None:
    """'${local.x}' -> 'x'."""
    m = re.fullmatch(r"\$\{local\.(\w+)\}", str(expr))
    return m.group(1) if m else None


def topic_of(expr: Any) -> str | None:
    """The google_pubsub_topic resource name an expression refers to ('${google_pubsub_topic.tick.id}' -> 'tick')."""
    m = re.search(r"google_pubsub_topic\.(\w+)\.(?:id|name)\b", str(expr))
    return m.group(1) if m else None


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every scalar in a parsed tree, with the keys leading to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, path)
    else:
        yield path, node


# --- what the code says --------------------------------------------------------------------------------------------


def _decorator_kind(decorator: ast.expr) -> str | None:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        if target.value.id == "functions_framework" and target.attr in ("http", "cloud_event"):
            return target.attr
    if isinstance(target, ast.Name) and target.id in ("http", "cloud_event"):
        return target.id
    return None


@cache
def entry_points() -> dict[str, str]:
    """Entry point name -> 'http' | 'cloud_event', from functions/main.py (the fixed list until it exists)."""
    if not MAIN_PY.exists():
        return dict(FALLBACK_ENTRY_POINTS)
    found: dict[str, str] = {}
    for node in ast.parse(MAIN_PY.read_text(encoding="utf-8"), filename=str(MAIN_PY)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kinds = {k for k in map(_decorator_kind, node.decorator_list) if k}
            assert len(kinds) <= 1, f"{node.name} in main.py has both http and cloud_event decorators"
            if kinds:
                found[node.name] = kinds.pop()
    assert found, "functions/main.py defines no functions_framework.http / cloud_event entry point"
    return found


@cache
def settings() -> dict[str, tuple[str, str]]:
    sys.path.insert(0, str(FUNCTIONS))
    try:
        module = importlib.import_module("polysync_vertex.config")
    finally:
        sys.path.remove(str(FUNCTIONS))
    return dict(module.SETTINGS)


# --- what infra/ deploys -------------------------------------------------------------------------------------------


class Deployed:
    def __init__(self, address: str, key: str | None, entry_point: str, body: Tree) -> None:
        self.address = address
        self.key = key
        self.entry_point = entry_point
        self.body = body

    @property
    def kind(self) -> str:
        """Event functions are those a Pub/Sub push subscription delivers to (google_cloudfunctions2_function.event)."""
        return "cloud_event" if self.address.startswith("google_cloudfunctions2_function.event[") else "http"

    @property
    def service(self) -> Tree:
        return first(self.body["service_config"])

    @property
    def build(self) -> Tree:
        return first(self.body["build_config"])

    def resolve(self, expr: Any) -> str:
        """Substitutes each.key in a reference (for_each instances)."""
        text = str(expr)
        return text.replace("[each.key]", f'["{self.key}"]') if self.key is not None else text


def local_map(name: str) -> dict[str, Any]:
    """A local map, or the map a local filters (`{ for k, f in local.x : k => f if ... }`): all its possible keys."""
    value = config().locals[name]
    if isinstance(value, str):
        m = re.search(r"\bfor \w+, \w+ in local\.(\w+)\s*:", value)
        assert m, f"local.{name} is neither a map nor a filter of one: {value}"
        return local_map(m.group(1))
    assert isinstance(value, dict), f"local.{name} is not a map"
    return value


@cache
def deployed() -> list[Deployed]:
    cfg = config()
    result: list[Deployed] = []
    for name, body in cfg.resources.get("google_cloudfunctions2_function", {}).items():
        build = first(body["build_config"])
        if "for_each" in body:
            source = local_name(body["for_each"])
            assert source, f"google_cloudfunctions2_function.{name}: for_each must iterate a local map"
            for key, item in local_map(source).items():
                ep = build["entry_point"]
                if ep == "${each.value.entry_point}":
                    ep = item["entry_point"]
                elif ep == "${each.key}":
                    ep = key
                result.append(Deployed(f'google_cloudfunctions2_function.{name}["{key}"]', key, ep, body))
        else:
            result.append(Deployed(f"google_cloudfunctions2_function.{name}", None, build["entry_point"], body))
    return result


def push_subscription() -> Tree:
    """The push subscriptions of the event functions (one resource, for_each over local.event_functions)."""
    return config().resource("google_pubsub_subscription", "push")


def event_topic(key: str | None) -> Any:
    """The topic expression an event function's push subscription reads."""
    return config().locals["event_topics"][key]


def deployed_by_entry_point() -> dict[str, Deployed]:
    by_ep: dict[str, Deployed] = {}
    for fn in deployed():
        assert fn.entry_point not in by_ep, f"entry point {fn.entry_point} is deployed twice"
        by_ep[fn.entry_point] = fn
    return by_ep


# --- terraform fmt / checkov ---------------------------------------------------------------------------------------


def test_terraform_fmt_is_clean() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed on this machine (the cloudbuild terraform step runs fmt -check)")
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"terraform fmt -check failed; run `terraform fmt -recursive infra`\n{proc.stdout}"


def _checkov_bin() -> str:
    candidates = [os.environ.get("CHECKOV_BIN", ""), str(ROOT / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("checkov")
    if on_path:
        return on_path
    pytest.fail(CHECKOV_INSTALL)


def test_checkov_finds_nothing() -> None:
    cmd = [
        _checkov_bin(),
        "-d",
        str(INFRA),
        "--framework",
        "terraform",
        "--quiet",
        "--compact",
        "--skip-download",
        "-o",
        "json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, cwd=ROOT)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{c['check_id']} {c['resource']} ({c.get('file_path')}): {c.get('check_name')}"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks (fix them or skip with a reason):\n" + "\n".join(failed)
    summaries = [r["summary"] for r in reports if "summary" in r]
    assert summaries, f"checkov reported no summary: {proc.stdout[-2000:]}"
    assert sum(s.get("parsing_errors", 0) for s in summaries) == 0, f"checkov could not parse infra/: {summaries}"
    assert sum(s.get("passed", 0) + s.get("skipped", 0) for s in summaries) > 0, "checkov ran no check at all"
    assert proc.returncode == 0, f"checkov exited {proc.returncode}: {proc.stderr[-2000:]}"


def test_every_checkov_skip_has_a_reason() -> None:
    for path in sorted(INFRA.rglob("*.tf")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = re.search(r"checkov:skip=([A-Za-z0-9_]+)(?::(.*))?", line)
            if not m:
                continue
            reason = (m.group(2) or "").strip()
            assert len(reason.split()) >= 3, f"{path.name}:{lineno}: checkov:skip={m.group(1)} needs a reason"


# --- entry points and triggers -------------------------------------------------------------------------------------


# Entry points the design fixes that infra/ deploys ahead of functions/main.py (issue 17: `health`). Remove a name once
# main.py defines it; from then on the strict comparison below covers it.
ANNOUNCED_ENTRY_POINTS = {"health": "http", "hint": "cloud_event"}


def test_every_entry_point_is_deployed_with_its_trigger() -> None:
    by_ep = deployed_by_entry_point()
    expected = entry_points()
    ahead = {ep: kind for ep, kind in ANNOUNCED_ENTRY_POINTS.items() if ep not in expected}
    assert set(by_ep) == set(expected) | set(ahead), (
        f"main.py entry points {sorted(expected)} != deployed {sorted(by_ep)}"
    )
    expected = {**expected, **ahead}
    for ep, kind in expected.items():
        fn = by_ep[ep]
        assert fn.kind == kind, f"{fn.address}: entry point {ep} is {kind} in main.py but deployed as {fn.kind}"
        assert "event_trigger" not in fn.body, f"{fn.address}: no Eventarc trigger (a push subscription delivers)"
        if kind == "cloud_event":
            assert topic_of(event_topic(fn.key)), f"{fn.address}: its push subscription must read a google_pubsub_topic"
            push = push_subscription()
            assert fn.key in local_map(local_name(push["for_each"]) or ""), f"{fn.address}: no push subscription"


def test_functions_are_sized_on_purpose() -> None:
    for fn in deployed():
        assert re.fullmatch(r"python3\d+", str(resolve(fn.build["runtime"]))), f"{fn.address}: runtime"
        svc = fn.service
        for arg in ("available_memory", "timeout_seconds", "max_instance_count", "ingress_settings"):
            assert arg in svc, f"{fn.address}: service_config.{arg} must be set explicitly"
        if fn.kind == "http":
            # Slow clients (issue 16): Cloud Run's request timeout and the concurrency are set on purpose, from
            # variables, and the timeout leaves the code's budget room to answer first.
            assert svc["timeout_seconds"] == "${var.http_timeout_seconds}", f"{fn.address}: timeout_seconds"
            assert svc["max_instance_request_concurrency"] == "${var.http_concurrency}", f"{fn.address}: concurrency"
            preconditions = [p for block in fn.body.get("lifecycle", []) for p in block.get("precondition", [])]
            assert any(
                "var.http_timeout_seconds >= var.request_budget_seconds + 10" in str(p["condition"])
                for p in preconditions
            ), f"{fn.address}: the timeout must be checked against the request budget"
        else:
            assert svc["timeout_seconds"] == 540, f"{fn.address}: timeout_seconds"
            assert svc["ingress_settings"] == "ALLOW_INTERNAL_ONLY", f"{fn.address}: only Eventarc calls it"
    variables = config().variables
    assert variables["http_timeout_seconds"]["default"] == 60
    assert variables["request_budget_seconds"]["default"] + 10 <= variables["http_timeout_seconds"]["default"]
    assert 1 <= variables["http_concurrency"]["default"] <= 8


def test_every_function_deploys_the_hashed_source() -> None:
    cfg = config()
    archive = cfg.data["archive_file"]["functions"]
    assert str(archive["source_dir"]).endswith("../functions")
    assert any("__pycache__" in str(e) for e in archive.get("excludes", []))
    obj = cfg.resource("google_storage_bucket_object", "functions")
    assert "data.archive_file.functions.output_md5" in str(obj["name"]), "the object name must change with the code"
    bucket = cfg.resource("google_storage_bucket", "source")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    for fn in deployed():
        storage = first(first(fn.build["source"])["storage_source"])
        obj_ref = cfg.locals.get(local_name(storage["object"]) or "", storage["object"])
        assert "google_storage_bucket_object.functions" in str(obj_ref), f"{fn.address}: source object"


# --- settings ------------------------------------------------------------------------------------------------------


def test_common_env_sets_every_setting_the_code_reads() -> None:
    cfg = config()
    env = cfg.locals["common_env"]
    keys = set(env)
    expected = set(settings()) - NOT_IN_COMMON_ENV
    assert expected - keys == set(), f"local.common_env lacks {sorted(expected - keys)}"
    unknown = keys - set(settings()) - set(ANNOUNCED_SETTINGS)
    assert unknown == set(), f"local.common_env sets unknown settings {sorted(unknown)}"
    assert not keys & NOT_IN_COMMON_ENV
    # Announced settings: Terraform's default is the agreed one, and the code's once it declares the setting.
    defaults = {
        "PSV_HINT_GETS_PER_MINUTE": cfg.variables["hint_gets_per_minute"]["default"],
        "PSV_POLL_INTERVAL_SECONDS": cfg.variables["poll_interval_seconds"]["default"],
        "PSV_POLL_CALLS_PER_MINUTE": cfg.variables["poll_calls_per_minute"]["default"],
        "PSV_LOG_READS_PER_MINUTE": cfg.variables["log_reads_per_minute"]["default"],
        "PSV_OUTPUTS_PREFIX": cfg.variables["outputs_prefix"]["default"],
    }
    for name, value in defaults.items():
        assert str(value) == ANNOUNCED_SETTINGS[name], f"{name}: Terraform default {value}"
        if name in settings():
            assert settings()[name][0] == ANNOUNCED_SETTINGS[name], f"{name}: config.py and Terraform disagree"


def test_every_function_gets_the_settings() -> None:
    cfg = config()
    http_env = str(cfg.locals["http_env"])
    assert "local.common_env" in http_env and "THREADS" in http_env and "var.http_concurrency" in http_env
    for fn in deployed():
        expected = "${local.http_env}" if fn.kind == "http" else "${local.common_env}"
        assert fn.service.get("environment_variables") == expected, f"{fn.address}: environment"


def test_retention_days_reaches_the_code() -> None:
    cfg = config()
    assert cfg.locals["common_env"]["PSV_RETENTION_DAYS"] == "${tostring(var.retention_days)}"
    assert cfg.variables["retention_days"]["default"] == 90
    assert settings()["PSV_RETENTION_DAYS"][0] == "90", "code and Terraform must agree on the default retention"


def resolve(expr: Any) -> Any:
    """'${local.a}' and '${local.a.b}' to their values in infra/; anything else as is."""
    m = re.fullmatch(r"\$\{local\.(\w+)(?:\.(\w+))?\}", str(expr))
    if not m:
        return expr
    value = config().locals[m.group(1)]
    return value[m.group(2)] if m.group(2) else value


def test_http_functions_read_the_webhook_secret_from_secret_manager() -> None:
    cfg = config()
    for fn in deployed():
        keys = [resolve(s["key"]) for s in fn.service.get("secret_environment_variables", [])]
        if fn.kind == "http":
            assert keys == ["PSV_WEBHOOK_SECRETS"], f"{fn.address}: PSV_WEBHOOK_SECRETS must be a secret env var"
        else:
            assert not keys, f"{fn.address}: event functions do not verify signatures and get no secret"
    assert "google_secret_manager_secret_version" not in cfg.resources, "the secret value must never be in state"


def test_topic_settings_point_at_the_right_topics() -> None:
    env = config().locals["common_env"]
    by_ep = deployed_by_entry_point()
    assert topic_of(env["PSV_STATUS_TOPIC"]) == "status"
    assert str(env["PSV_STATUS_TOPIC"]).endswith(".id}"), "PSV_STATUS_TOPIC must be the full topic name"
    assert str(env["PSV_SHARD_TOPIC"]).endswith(".id}"), "PSV_SHARD_TOPIC must be the full topic name"
    if "poll_shard" in by_ep:
        assert topic_of(env["PSV_SHARD_TOPIC"]) == topic_of(event_topic("poll_shard"))


# --- wiring --------------------------------------------------------------------------------------------------------


def test_the_schedule_reaches_poll() -> None:
    cfg = config()
    jobs = cfg.resources.get("google_cloud_scheduler_job", {})
    assert len(jobs) == 1, "one scheduler job publishes the poll tick"
    job = next(iter(jobs.values()))
    target = first(job["pubsub_target"])
    tick = topic_of(target["topic_name"])
    assert tick, "the scheduler job must publish to a google_pubsub_topic"
    poll = deployed_by_entry_point()["poll"]
    assert topic_of(event_topic(poll.key)) == tick, "poll must listen to the tick topic"
    assert "PSV_SHARD_TOPIC" in cfg.locals["common_env"]
    assert tick not in {topic_of(cfg.locals["common_env"][k]) for k in ("PSV_STATUS_TOPIC", "PSV_SHARD_TOPIC")}


def test_status_subscription_is_ordered_and_dead_letters() -> None:
    subs = [
        s for s in config().resources.get("google_pubsub_subscription", {}).values() if topic_of(s["topic"]) == "status"
    ]
    assert len(subs) == 1, "one subscription on the status topic, for Polysync"
    sub = subs[0]
    assert sub.get("enable_message_ordering") is True
    dead_letter = first(sub["dead_letter_policy"])
    assert topic_of(dead_letter["dead_letter_topic"]) not in (None, "status")
    assert first(sub["expiration_policy"])["ttl"] == "", "Polysync's subscription must never expire"
    assert "retry_policy" in sub


# --- identities and roles ------------------------------------------------------------------------------------------


def test_no_two_functions_share_a_service_account() -> None:
    runtime = {fn.address: fn.resolve(fn.service["service_account_email"]) for fn in deployed()}
    oidc = first(first(push_subscription()["push_config"])["oidc_token"])["service_account_email"]
    triggers = {fn.address: fn.resolve(oidc) for fn in deployed() if fn.kind == "cloud_event"}
    identities = list(runtime.values()) + list(triggers.values())
    assert all("google_service_account." in i for i in identities), f"use the module's own accounts: {identities}"
    assert len(set(identities)) == len(identities), f"a service account is shared: {runtime} {triggers}"
    build = {fn.resolve(fn.build.get("service_account", "")) for fn in deployed()}
    assert not build & set(identities), "the build account must not be a runtime identity"


def test_no_primitive_role_anywhere() -> None:
    for name, tree in config().files.items():
        for path, value in walk(tree):
            assert value not in PRIMITIVE_ROLES, f"{name}: primitive role {value} at {'.'.join(path)}"


def test_pubsub_publisher_only_on_single_topics() -> None:
    cfg = config()
    allowed_parent = ("resource", "google_pubsub_topic_iam_member")
    for name, tree in cfg.files.items():
        for path, value in walk(tree):
            if value == "roles/pubsub.publisher":
                assert path[:2] == allowed_parent, f"{name}: roles/pubsub.publisher outside topic IAM at {path}"
    function_grants: list[tuple[str, str]] = []
    for rname, body in cfg.resources.get("google_pubsub_topic_iam_member", {}).items():
        if body["role"] != "roles/pubsub.publisher":
            continue
        items = [body]
        source = local_name(body.get("for_each", ""))
        if source:
            items = list(cfg.locals[source].values())
        for item in items:
            topic = topic_of(body["topic"]) or topic_of(item.get("topic"))
            assert topic, f"google_pubsub_topic_iam_member.{rname}: topic must be a google_pubsub_topic"
            member = str(body["member"])
            if "google_service_account.function" in member:
                fn = item.get("fn") or re.search(r'function\["(\w+)"\]', member).group(1)
                function_grants.append((fn, topic))
            elif "writer_identity" in member:
                assert topic == "hints", f"{rname}: a log sink's writer publishes to the hints topic only"
                assert body["for_each"] == "${google_logging_project_sink.hints}", f"{rname}: one grant per sink"
            else:
                assert member == "${local.pubsub_service_agent}", f"{rname}: unexpected publisher {member}"
                assert topic in ("dead_letter", "trigger_dead_letter"), (
                    f"{rname}: only the Pub/Sub agent publishes, to the dead-letter topics"
                )
    assert function_grants, "the pollers need publisher on the status topic"
    for fn, topic in function_grants:
        assert fn in ("poll", "poll_shard", "hint"), f"only the pollers and hint publish, not {fn}"
        assert topic in ("status", "shard"), f"{fn} may not publish to {topic}"
        if topic == "shard":
            assert fn == "poll", f"only poll fans out to the shard topic, not {fn}"
    assert {fn for fn, topic in function_grants if topic == "status"} >= {"poll", "poll_shard"}


def test_job_service_account_is_granted_only_to_submit_and_only_when_set() -> None:
    cfg = config()
    for rtype in ("google_project_iam_member", "google_project_iam_binding"):
        for path, value in walk(cfg.resources.get(rtype, {})):
            assert value not in ("roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"), (
                f"{rtype}: service account impersonation must be granted on single accounts ({path})"
            )
    grants = [
        b
        for name, b in cfg.resources.get("google_service_account_iam_member", {}).items()
        if b["role"] == "roles/iam.serviceAccountUser" and name != "submit_acts_as_compute_default"
    ]
    assert len(grants) == 1
    assert grants[0].get("for_each") == "${local.job_service_accounts}"
    assert cfg.locals["job_service_accounts"] == "${toset(var.job_service_accounts)}"
    assert cfg.variables["job_service_accounts"]["default"] == [], "no grant unless accounts are listed"
    assert grants[0]["service_account_id"] == "projects/-/serviceAccounts/${each.value}", "on each account only"
    assert 'google_service_account.function["submit"]' in str(grants[0]["member"])
    assert "job_service_account" not in cfg.variables, "job_service_account became the list job_service_accounts"


def test_all_users_only_as_the_stated_http_invoker_policy() -> None:
    cfg = config()
    public: list[str] = []
    for rtype, named in cfg.resources.items():
        for rname, body in named.items():
            if any(value in ("allUsers", "allAuthenticatedUsers") for _, value in walk(body)):
                public.append(f"{rtype}.{rname}")
    assert public == ["google_cloud_run_service_iam_member.http_public"], public
    body = cfg.resources["google_cloud_run_service_iam_member"]["http_public"]
    assert 'var.http_access == "allUsers"' in str(body["for_each"]) and "local.http_functions" in str(body["for_each"])
    assert body["role"] == "roles/run.invoker"
    assert cfg.variables["http_access"]["default"] == "allUsers"


# --- references (the part of `terraform validate` that works offline) ----------------------------------------------


def _references(value: str) -> Iterator[str]:
    for expr in re.findall(r"\$\{(.*?)\}", value, flags=re.S):
        yield from re.findall(r"(?<![\w.\"])((?:data\.)?[a-z][a-z0-9_]*\.[a-z_][a-z0-9_]*)", expr)


# moved / removed blocks name addresses that no longer exist, on purpose.
HISTORY_BLOCKS = {"moved", "removed"}


def test_every_reference_resolves() -> None:
    cfg = config()
    missing: set[str] = set()
    for name, tree in cfg.files.items():
        for _, value in walk({k: v for k, v in tree.items() if k not in HISTORY_BLOCKS}):
            for ref in _references(str(value)):
                head, _, rest = ref.partition(".")
                if head == "var":
                    ok = rest in cfg.variables
                elif head == "local":
                    ok = rest in cfg.locals
                elif head == "data":
                    dtype, _, dname = rest.partition(".")
                    ok = dname in cfg.data.get(dtype, {})
                elif head.startswith("google_"):
                    ok = rest in cfg.resources.get(head, {})
                else:  # each., count., path., self., terraform functions
                    ok = True
                if not ok:
                    missing.add(f"{name}: {ref}")
    assert not missing, "unresolved references:\n" + "\n".join(sorted(missing))


def test_example_tfvars_sets_only_declared_variables() -> None:
    cfg = config()
    example = _load(INFRA / "example.tfvars")
    assert set(example) <= set(cfg.variables), f"undeclared: {sorted(set(example) - set(cfg.variables))}"
    required = {name for name, body in cfg.variables.items() if "default" not in body}
    assert required <= set(example), f"example.tfvars lacks required {sorted(required - set(example))}"


# --- cloudbuild.yaml -----------------------------------------------------------------------------------------------


def _build(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, str]]:
    build = yaml.safe_load(path.read_text(encoding="utf-8"))
    steps = {step["id"]: step for step in build["steps"]}
    commands = {
        sid: " ".join([str(step.get("entrypoint", "")), *map(str, step.get("args", []))]) for sid, step in steps.items()
    }
    return build, steps, commands


CHECK_STEPS = {
    "preflight": "webhook_secret_id",
    "lint": "make lint",
    "unit-tests": "make test-unit",
    "integration-tests": "make test-integration",
    "infra-tests": "tests/infra",
    "checkov": "--framework terraform",
    "terraform-fmt": "fmt -check",
    "terraform-validate": "validate",
    "terraform-plan": "plan",
}


@pytest.mark.parametrize("path", [CLOUDBUILD, CLOUDBUILD_PLAN], ids=["apply", "plan"])
def test_both_pipelines_check_everything_with_pinned_images(path: Path) -> None:
    build, steps, commands = _build(path)
    for sid, needle in CHECK_STEPS.items():
        assert sid in steps and needle in commands[sid], f"{path.name}: step {sid} must run {needle!r}"
    assert "emulators" in steps["integration-tests"]["name"], "integration tests need the gcloud emulators image"
    for sid, step in steps.items():
        image = step["name"]
        assert re.search(r"(:\d[\w.-]*|@sha256:[0-9a-f]{64})$", image), (
            f"{path.name}: {sid} image {image} is not pinned"
        )
        assert ":latest" not in image
    assert "checkov==" in commands["infra-tests"], "checkov is pinned to the version infra/ was checked with"
    # One source of variables: the tfvars file, never -var next to it.
    assert "-var-file=${_TFVARS}" in commands["terraform-plan"] and "-var=" not in commands["terraform-plan"]
    # Preflight fails early without a usable webhook secret and when the tfvars names another project.
    assert "gcloud secrets versions list" in commands["preflight"] and "$PROJECT_ID" in commands["preflight"]
    assert steps["lint"]["waitFor"] == ["preflight"] and steps["terraform-fmt"]["waitFor"] == ["preflight"]
    assert {"_TF_STATE_BUCKET", "_TFVARS"} <= set(build["substitutions"])
    assert "lockfile=readonly" in commands["terraform-init"], "CI uses the committed provider lock file"


def test_only_the_main_pipeline_applies_and_only_on_main() -> None:
    _, steps, commands = _build(CLOUDBUILD)
    assert [sid for sid, cmd in commands.items() if re.search(r"\bapply\b", cmd)] == ["terraform-apply"]
    assert '"${BRANCH_NAME}" != "main"' in commands["terraform-apply"], "apply must be gated on the main branch"
    assert "apply -input=false -lock-timeout=300s tfplan" in commands["terraform-apply"], "apply exactly the plan"
    gates = {"unit-tests", "infra-tests", "checkov", "integration-tests", "terraform-plan"}
    assert gates <= set(steps["terraform-apply"]["waitFor"]), "apply must wait for every check"
    _, _, plan_commands = _build(CLOUDBUILD_PLAN)
    assert not [sid for sid, cmd in plan_commands.items() if re.search(r"\bapply\b", cmd)], "plan pipeline applies"
    assert "-lock=false" in plan_commands["terraform-plan"], "a read-only plan cannot take the state lock"


def test_cicd_triggers_separate_plan_and_apply() -> None:
    cfg = config()
    triggers = cfg.resources.get("google_cloudbuild_trigger", {})
    assert set(triggers) == {"plan", "apply"}
    apply, plan = triggers["apply"], triggers["plan"]
    assert apply["filename"] == "cloudbuild.yaml" and plan["filename"] == "infra/cloudbuild-plan.yaml"
    assert first(apply["approval_config"])["approval_required"] is True, "main deploys only after approval"
    assert first(first(apply["github"])["push"])["branch"] == "^main$", "the branch filter lives on the trigger"
    assert "approval_config" not in plan
    plan_push = [d["push"] for d in first(plan["github"])["dynamic"] if "push" in d]
    assert plan_push and first(plan_push[0]["content"]) == {"branch": "^main$", "invert_regex": True}
    assert "var.cicd_deploy_service_account" in str(apply["service_account"])
    assert "var.cicd_plan_service_account" in str(plan["service_account"])


# --- issue 17, item 1: a first apply on a fresh project ------------------------------------------------------------


def _depends_on(body: Tree) -> set[str]:
    return {str(d).removeprefix("${").removesuffix("}") for d in body.get("depends_on", [])}


FIRST_APPLY_WAITS = {
    "time_sleep.apis",
    "time_sleep.iam",
    "google_project_service_identity.pubsub",
}


def test_every_function_waits_for_apis_agents_and_grants() -> None:
    for fn in deployed():
        missing = FIRST_APPLY_WAITS - _depends_on(fn.body)
        assert not missing, f"{fn.address} must depend on {sorted(missing)} (a fresh project's first apply)"


def test_service_agents_are_created_explicitly_with_google_beta() -> None:
    cfg = config()
    identities = cfg.resources.get("google_project_service_identity", {})
    assert {i["service"] for i in identities.values()} >= {"pubsub.googleapis.com"}
    for name, body in identities.items():
        assert body.get("provider") == "google-beta", f"google_project_service_identity.{name} is google-beta only"
        assert "time_sleep.apis" in _depends_on(body), f"google_project_service_identity.{name}: after enablement"
    # The agents' addresses come from the identities, not from a string built out of the project number.
    assert cfg.locals["pubsub_service_agent"] == "${google_project_service_identity.pubsub.member}"
    # ...except the Vertex AI Custom Code Service Agent, for which no service identity resource exists (issue 26).
    for name, tree in cfg.files.items():
        for path, value in walk(tree):
            text = str(value).replace("@gcp-sa-aiplatform-cc.iam.gserviceaccount.com", "")
            assert "@gcp-sa-" not in text, f"{name}: a service agent address is spelled out at {'.'.join(path)}"
    assert "eventarc" not in json.dumps(cfg.files), "no Eventarc left: push subscriptions deliver"


def test_the_waits_cover_what_function_creation_needs() -> None:
    cfg = config()
    versions = cfg.files["versions.tf"]["terraform"][0]["required_providers"][0]
    assert versions["google"]["version"] == "~> 6.50", "pinned to the schema infra/ was checked against"
    assert versions["google-beta"]["version"] == "~> 6.50"
    assert versions["time"]["source"] == "hashicorp/time"
    apis = cfg.resource("time_sleep", "apis")
    assert "google_project_service.this" in str(apis["triggers"]), "the API wait follows the enablement"
    iam = cfg.resource("time_sleep", "iam")
    triggers = str(iam["triggers"])
    for grant in (
        "google_project_iam_member.build",
        "google_secret_manager_secret_iam_member.webhook",
        "google_service_account_iam_member.pubsub_agent_token_creator",
        "google_project_iam_member.firestore",
        "google_project_iam_member.vertex",
    ):
        assert grant in triggers, f"time_sleep.iam must wait for {grant}"
    for seconds in (apis["create_duration"], iam["create_duration"]):
        assert re.fullmatch(r"\d+s", seconds) and int(seconds[:-1]) >= 30
    # Nothing that calls a Google API is created straight after enablement: it waits for time_sleep.apis.
    for rtype in ("google_service_account", "google_pubsub_topic", "google_storage_bucket", "google_logging_metric"):
        for name, body in cfg.resources.get(rtype, {}).items():
            assert "time_sleep.apis" in _depends_on(body), f"{rtype}.{name} must wait for time_sleep.apis"
    assert "cloudresourcemanager.googleapis.com" in cfg.locals["services"], "health calls projects.testIamPermissions"


# --- issue 17, item 3: least privilege ------------------------------------------------------------------------------

# Mirrors the Vertex AI adapter's calls per function (functions/polysync_vertex/adapters/vertex.py, for the three job
# types): submit creates and awaits a job by label; poll / poll_shard read, list and cancel orphaned duplicates; cancel
# cancels and re-reads; templates reads and lists; hint GETs the jobs its log entries name; health lists once per type
# (deep=true); status calls none. Besides Vertex AI, in the same projects (OTHER_CALLS): the pollers, hint and status
# read job logs (issue 25); health reads the hints sink (issue 24) and the IAM policies Policy Troubleshooter needs
# (issue 27, point 10).
VERTEX_JOB_TYPES = ("customJobs", "pipelineJobs", "batchPredictionJobs")
VERTEX_CALLS = {
    "submit": {"create", "get", "list"},
    "poll": {"get", "list", "cancel"},
    "poll_shard": {"get", "list", "cancel"},
    "hint": {"get", "list"},
    "cancel": {"cancel", "get"},
    "templates": {"get", "list"},
    "health": {"list"},
    "status": set(),
}
OTHER_CALLS = {
    "poll": {"logging.logEntries.list"},
    "poll_shard": {"logging.logEntries.list"},
    "hint": {"logging.logEntries.list"},
    "status": {"logging.logEntries.list"},
    "health": {"logging.sinks.get", "resourcemanager.projects.getIamPolicy", "iam.roles.get"},
}


def expected_vertex_permissions(fn: str) -> set[str]:
    verbs = VERTEX_CALLS[fn]
    return {f"aiplatform.{t}.{verb}" for t in VERTEX_JOB_TYPES for verb in verbs} | OTHER_CALLS.get(fn, set())


def test_every_function_has_its_own_service_account_and_is_listed_in_the_vertex_table() -> None:
    cfg = config()
    functions = {fn.key or fn.entry_point for fn in deployed()}
    assert functions == set(cfg.locals["function_accounts"]) == set(VERTEX_CALLS)


def test_vertex_custom_roles_hold_exactly_the_calls_each_function_makes() -> None:
    cfg = config()
    table = cfg.locals["vertex_permissions"]
    for fn in VERTEX_CALLS:
        if not expected_vertex_permissions(fn):
            assert fn not in table, f"{fn} calls nothing in the Vertex AI projects and must get no role there"
            continue
        assert set(table[fn]) == expected_vertex_permissions(fn), f"custom role of {fn}"
        assert len(table[fn]) == len(set(table[fn])), f"custom role of {fn} lists a permission twice"
    assert set(table) == {fn for fn in VERTEX_CALLS if expected_vertex_permissions(fn)}
    # The code's own table (what health checks) is covered by the roles.
    sys.path.insert(0, str(FUNCTIONS))
    try:
        code = importlib.import_module("polysync_vertex.core.permissions")
    finally:
        sys.path.remove(str(FUNCTIONS))
    for fn in code.VERBS:
        needed = set(code.permissions(fn))
        assert needed <= set(table[fn]), f"core/permissions.py: {fn} needs {sorted(needed - set(table[fn]))}"
    role = cfg.resource("google_project_iam_custom_role", "vertex")
    assert role["permissions"] == "${local.vertex_permissions[each.value.fn]}"
    assert role["project"] == "${each.value.project}", "one role in each Vertex AI project"
    assert role["for_each"] == "${local.vertex_role_instances}"
    instances = str(cfg.locals["vertex_role_instances"])
    assert "local.vertex_projects" in instances and "local.vertex_permissions" in instances
    assert "each.value.fn" in role["role_id"]


def test_every_function_identitys_vertex_role_is_its_custom_role() -> None:
    cfg = config()
    grant = cfg.resource("google_project_iam_member", "vertex")
    assert grant["for_each"] == "${local.vertex_role_instances}"
    assert grant["role"] == "${google_project_iam_custom_role.vertex[each.key].id}"
    assert grant["member"] == "${google_service_account.function[each.value.fn].member}"
    assert grant["project"] == "${each.value.project}"
    # No predefined Vertex AI role anywhere: the custom roles are the only way to Vertex AI.
    for name, tree in cfg.files.items():
        for path, value in walk(tree):
            assert not str(value).startswith("roles/aiplatform."), f"{name}: predefined {value} at {'.'.join(path)}"


def test_firestore_roles_are_limited_to_the_database() -> None:
    cfg = config()
    roles = cfg.locals["firestore_roles"]
    assert roles["status"] == roles["health"] == "roles/datastore.viewer", "status and health only read"
    assert roles["hint"] == "roles/datastore.user", "hint records changes through the pollers' conditional writes"
    assert "templates" not in roles, "templates does not touch Firestore"
    grant = cfg.resource("google_project_iam_member", "firestore")
    assert grant["for_each"] == "${local.firestore_roles}"
    condition = first(grant["condition"])
    assert condition["expression"] == 'resource.name == "${local.firestore_database_name}"'
    assert cfg.locals["firestore_database_name"] == "projects/${var.project_id}/databases/${var.firestore_database}"
    for name, body in cfg.resources.get("google_project_iam_member", {}).items():
        if name != "firestore":
            assert "roles/datastore." not in str(body["role"]), f"google_project_iam_member.{name}: unconditioned"


def test_health_reads_and_never_writes() -> None:
    cfg = config()
    publishers = {item["fn"] for item in cfg.locals["topic_publishers"].values()}
    assert "health" not in publishers, "health tests the topic's permissions and must not be able to publish"
    assert set(cfg.locals["vertex_permissions"]["health"]) == expected_vertex_permissions("health")
    assert "health" in cfg.locals["http_functions"], "health is an HTTP function with the webhook secret"
    assert "health_url" in cfg.outputs


# --- issue 17, item 4: monitoring as code ---------------------------------------------------------------------------


def _alerts() -> dict[str, Tree]:
    return config().resources.get("google_monitoring_alert_policy", {})


def _condition_texts(policy: Tree) -> list[str]:
    return [json.dumps(c) for c in policy["conditions"]]


def test_alert_policies_cover_every_listed_signal() -> None:
    cfg = config()
    alerts = _alerts()
    texts = {name: " ".join(_condition_texts(body)) for name, body in alerts.items()}

    def with_signal(*needles: str) -> list[str]:
        return [name for name, text in texts.items() if all(n in text for n in needles)]

    dead = with_signal("num_undelivered_messages")
    assert dead == ["dead_letter_not_empty"], "an alert on non-empty dead-letter subscriptions"
    assert alerts["dead_letter_not_empty"]["for_each"] == "${local.dead_letter_subscriptions}"
    subs = cfg.locals["dead_letter_subscriptions"]
    assert set(subs.values()) == {
        "${google_pubsub_subscription.dead_letter.name}",
        "${google_pubsub_subscription.trigger_dead_letter.name}",
    }, "both dead-letter subscriptions are watched"
    assert with_signal("oldest_unacked_message_age", "google_pubsub_subscription.status.name"), "status backlog"
    assert with_signal("condition_absent", "google_logging_metric.poll_ticks"), "a missing poll tick"
    assert with_signal("google_logging_metric.poll_errors"), "poll errors"
    assert with_signal("run.googleapis.com/request_count", "5xx", "denominator_filter"), "HTTP 5xx rate"
    assert with_signal("google_logging_metric.vertex_rate_limited"), "Vertex AI 429s"
    for name, body in alerts.items():
        assert body["notification_channels"] == "${var.notification_channels}", f"{name}: notification channels"
        assert body.get("documentation"), f"{name}: says what to do"
    assert cfg.variables["notification_channels"]["default"] == []


def test_log_based_metrics_read_the_structured_logs() -> None:
    cfg = config()
    metrics = cfg.resources.get("google_logging_metric", {})
    assert str(metrics["poll_ticks"]["filter"]).endswith('AND jsonPayload.message="poll tick"')
    assert "local.poll_logs" in str(metrics["poll_ticks"]["filter"])
    values = metrics["poll_values"]
    fields = {item["field"] for item in values["for_each"].values()}
    assert fields == {"changes", "eventsPublished", "seconds"}
    assert values["value_extractor"] == "EXTRACT(jsonPayload.${each.value.field})"
    calls = metrics["poll_vertex_calls"]
    assert calls["value_extractor"] == "EXTRACT(jsonPayload.vertexCalls.${each.value})"
    methods = str(cfg.locals["poll_vertex_methods"])
    for verb in ("List", "Get", "Cancel"):
        for job in ("CustomJob", "PipelineJob", "BatchPredictionJob"):
            assert f"{verb}{job}" in methods, f"vertexCalls.{verb}{job} has no metric"
    assert "severity>=ERROR" in str(metrics["poll_errors"]["filter"])
    rate_limited = str(metrics["vertex_rate_limited"]["filter"])
    assert "severity=WARNING" in rate_limited and 'jsonPayload.code=\\"RESOURCE_EXHAUSTED\\"' in json.dumps(
        rate_limited
    )
    # Alerts on log-based metrics wait for the metric descriptors (404 "Cannot find metric(s)" otherwise).
    for name, body in _alerts().items():
        if "google_logging_metric." in " ".join(_condition_texts(body)):
            assert "time_sleep.log_metrics" in _depends_on(body), f"google_monitoring_alert_policy.{name}"


def test_a_dashboard_and_dead_letter_topics_for_triggers_and_status() -> None:
    cfg = config()
    assert cfg.resources.get("google_monitoring_dashboard"), "a dashboard"
    topics = cfg.resources["google_pubsub_topic"]
    assert {"dead_letter", "trigger_dead_letter"} <= set(topics), "separate dead-letter topics"
    trigger_sub = cfg.resource("google_pubsub_subscription", "trigger_dead_letter")
    assert topic_of(trigger_sub["topic"]) == "trigger_dead_letter"
    # Polysync's consumer may pull the status dead letters too.
    grant = cfg.resource("google_pubsub_subscription_iam_member", "status_subscriber")
    assert '"dead_letter"' in str(grant["for_each"]) and "var.status_subscriber_members" in str(grant["for_each"])
    assert "google_pubsub_subscription.dead_letter.name" in str(grant["subscription"])
    assert grant["role"] == "roles/pubsub.subscriber"


# --- issue 17, item 5: retention ------------------------------------------------------------------------------------


def _fields() -> dict[tuple[str, str], Tree]:
    cfg = config()
    result: dict[tuple[str, str], Tree] = {}
    for body in cfg.resources.get("google_firestore_field", {}).values():
        collection = str(cfg.locals.get(local_name(body["collection"]) or "", body["collection"]))
        result[(collection, body["field"])] = body
    return result


def test_ttl_policies_on_runs_and_requests_with_the_prefix() -> None:
    fields = _fields()
    for collection in ("runs", "requests"):
        key = (f"${{var.collection_prefix}}{collection}", "expireAt")
        assert key in fields, f"no TTL field {collection}.expireAt (with collection_prefix)"
        body = fields[key]
        assert body.get("ttl_config") == [{}], f"{collection}.expireAt needs ttl_config"
        assert body.get("index_config") == [{}], f"{collection}.expireAt: a growing timestamp is exempt from indexing"
        assert body["database"] == "${var.firestore_database}"


def test_large_map_fields_are_exempt_from_indexing() -> None:
    fields = _fields()
    for collection, field in (("runs", "outbox"), ("pollindex", "runs")):
        key = (f"${{var.collection_prefix}}{collection}", field)
        assert key in fields, f"no index exemption for {collection}.{field}"
        assert fields[key].get("index_config") == [{}], f"{collection}.{field}: empty index_config exempts it"
        assert "ttl_config" not in fields[key]


@cache
def stored_module() -> Any:
    sys.path.insert(0, str(FUNCTIONS))
    try:
        return importlib.import_module("polysync_vertex.adapters.firestore.stored")
    finally:
        sys.path.remove(str(FUNCTIONS))


def test_fields_stored_as_text_or_never_queried_are_exempt_from_indexing() -> None:
    """Issue 30's open item: what the code stores as JSON text (stored.FREE_FORM) and the other fields it never
    queries (stored.NOT_INDEXED) each have a google_firestore_field with an empty index_config, on the prefixed
    collection and the configured database."""
    stored = stored_module()
    assert set(stored.FREE_FORM) <= set(stored.NOT_INDEXED["runs"]), "every JSON-text field is left unindexed"
    fields = _fields()
    for collection, names in stored.NOT_INDEXED.items():
        for name in names:
            key = (f"${{var.collection_prefix}}{collection}", name)
            assert key in fields, f"no index exemption for {collection}.{name} (infra/firestore.tf)"
            body = fields[key]
            assert body.get("index_config") == [{}], f"{collection}.{name}: an empty index_config exempts it"
            assert body["database"] == "${var.firestore_database}" and body["project"] == "${var.project_id}"


def queried_fields() -> set[tuple[str, str]]:
    """(collection, field) of every FieldFilter / order_by in adapters/firestore/, by the collection attribute of
    StoreClient (`self.db.runs` -> "runs") the same method queries."""
    package = FUNCTIONS / "polysync_vertex" / "adapters" / "firestore"
    attributes: dict[str, str] = {}
    for node in ast.walk(ast.parse((package / "client.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and "collection(" in ast.unparse(node.value):
            match = re.search(r"\{prefix\}(\w+)", ast.unparse(node.value))
            for target in node.targets:
                if isinstance(target, ast.Attribute) and match:
                    attributes[target.attr] = match.group(1)
    found: set[tuple[str, str]] = set()
    for path in package.glob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef):
                continue
            used = {
                attributes[n.attr]
                for n in ast.walk(fn)
                if isinstance(n, ast.Attribute) and ast.unparse(n.value) == "self.db" and n.attr in attributes
            }
            names = {
                call.args[0].value
                for call in ast.walk(fn)
                if isinstance(call, ast.Call)
                and ast.unparse(call.func).split(".")[-1] in ("FieldFilter", "order_by")
                and call.args
                and isinstance(call.args[0], ast.Constant)
            }
            if names:
                assert len(used) == 1, f"{path.name}:{fn.name} queries {names} on collections {used}: which one?"
                collection = used.pop()
                found |= {(collection, n) for n in names}
    return found


def test_no_queried_field_is_exempt_from_indexing() -> None:
    queried = queried_fields()
    assert {("runs", "active"), ("runs", "shard"), ("runs", "recordedAt"), ("requests", "phase")} <= queried
    exempt = {(c, n) for c, names in stored_module().NOT_INDEXED.items() for n in names}
    assert not queried & exempt, "a field a query filters on must keep its index"
    fields = _fields()
    for collection, name in queried:
        body = fields.get((f"${{var.collection_prefix}}{collection}", name))
        assert body is None or body.get("index_config") != [{}], f"{collection}.{name} is queried: keep it indexed"


def test_firestore_field_changes_are_applied_one_at_a_time() -> None:
    cfg = config()
    names = sorted(cfg.resources.get("google_firestore_field", {}))
    chained = [
        n
        for n in names
        if any(d.startswith("google_firestore_field.") for d in _depends_on(cfg.resources["google_firestore_field"][n]))
    ]
    assert len(chained) == len(names) - 1, "field configuration changes of one database must be chained"


# --- issue 17, item 8 -----------------------------------------------------------------------------------------------


def test_function_images_in_a_managed_repository_with_cleanup() -> None:
    cfg = config()
    repo = cfg.resource("google_artifact_registry_repository", "functions")
    actions = {p["action"] for p in repo["cleanup_policies"]}
    assert actions == {"KEEP", "DELETE"}
    assert repo.get("cleanup_policy_dry_run") is False
    for fn in deployed():
        assert fn.build.get("docker_repository") == "${google_artifact_registry_repository.functions.id}", fn.address
    obj = cfg.resource("google_storage_bucket_object", "functions")
    assert first(obj["lifecycle"])["create_before_destroy"] is True


def test_data_residency_variables_reach_every_topic() -> None:
    cfg = config()
    for name, topic in cfg.resources["google_pubsub_topic"].items():
        assert "var.message_storage_regions" in json.dumps(topic.get("dynamic", [])), f"google_pubsub_topic.{name}"
