"""`polysync-vertex`: the local stack, the demo, and an operator CLI for a stack or a deployment."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .client import (
    DEFAULT_ENDPOINTS_FILE,
    ENDPOINTS_ENV,
    EXIT_CLIENT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    SECRET_ENV,
    Connector,
    EventReader,
    PubSubUnavailable,
    Response,
    UsageError,
    format_event,
    load_endpoints,
    table,
    url_env,
)
from .params import (
    SHORT_TYPE,
    TYPE_NAMES,
    apply_schema,
    attribute_hint,
    parse_attr,
    parse_job_type,
    parse_output,
    parse_param,
)

__all__ = ["build_parser", "main", "parse_attr", "parse_output", "parse_param"]

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  success
  {EXIT_FAILED}  dev/demo: the stack did not start, a part of it died, or the demo's runs did not end as expected;
     doctor: a check failed; smoke: a step did not do what it should (130: interrupted, cleaned up)
  {EXIT_USAGE}  usage error: bad arguments, no endpoints file, URL or secret
  {EXIT_CLIENT}  the connector refused the request (HTTP 4xx: INVALID_ARGUMENT, UNAUTHENTICATED, NOT_FOUND, ...)
  {EXIT_UNAVAILABLE}  the connector failed or is unreachable (HTTP 5xx, connection refused, timeout)"""

CONNECTION_HELP = f"""connection: URLs and the webhook secret come from, first found:
  1. --url / --secret,
  2. the environment: POLYSYNC_VERTEX_<FUNCTION>_URL (e.g. {url_env("submit")}) and {SECRET_ENV},
  3. the endpoints file: --endpoints-file, else ${ENDPOINTS_ENV}, else ./{DEFAULT_ENDPOINTS_FILE}
     (written by `polysync-vertex dev`).
Against a deployment: the function URLs from `terraform output`, the secret from Secret Manager."""

RESOURCE_NAMES = "projects/P/locations/L/{customJobs,pipelineJobs,batchPredictionJobs}/ID"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _epilog(examples: str, *extra: str) -> str:
    return "\n\n".join(["examples:\n" + examples.strip("\n"), *extra, EXIT_CODES])


# -- connection and output ------------------------------------------------------------------------------
def _connector(args: argparse.Namespace, function: str) -> Connector:
    url = args.url or os.environ.get(url_env(function), "")
    secret = args.secret or os.environ.get(SECRET_ENV, "")
    source = "--secret" if args.secret else f"${SECRET_ENV}" if secret else ""
    endpoints: dict[str, Any] = {}
    if not (url and secret):
        endpoints = load_endpoints(args.endpoints_file)
    urls = dict(endpoints.get("functions") or {})
    if url:
        urls[function] = url
    connector = Connector(urls, secret or str(endpoints.get("webhookSecret") or ""), timeout=args.timeout)
    connector.secret_source = source or "the endpoints file's webhookSecret"
    args.connector_used = connector  # for _fail's hints
    return connector


def _defaults(args: argparse.Namespace) -> dict[str, Any]:
    """Project and location defaults from the endpoints file, if there is one."""
    try:
        return load_endpoints(args.endpoints_file, required=False)
    except UsageError:
        return {}


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _fail(resp: Response, args: argparse.Namespace) -> int:
    """The connector's error on stderr (and as JSON on stdout with --json, a transport failure included), with a
    hint where the answer alone leaves the user guessing; the exit code of its class."""
    if args.json:
        _print_json(resp.error_body())
    print(f"error: {resp.describe_error()}", file=sys.stderr)
    err = resp.error_body()["error"]
    hint = ""
    if resp.status == 401 and "does not match" in str(err.get("message")):
        connector = getattr(args, "connector_used", None)
        used = connector.secret_source if connector is not None else "the secret given"
        hint = (
            f"the webhook secret ({used}) is not one the connector holds (PSV_WEBHOOK_SECRETS; a restarted local "
            "stack generates a new one: use its endpoints file)"
        )
    elif resp.status == 400:
        hint = attribute_hint(str(err.get("message", "")), str(err.get("field") or ""), getattr(args, "job_type", ""))
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return resp.exit_code


RUN_FIELDS = (
    "runId",
    "jobType",
    "requestId",
    "jobName",
    "displayName",
    "status",
    "vertexState",
    "sequence",
    "consoleUrl",
    "createTime",
    "startTime",
    "endTime",
    "updateTime",
    "lastPolled",
    "error",
    "outputs",
    "outputInfo",
    "completionStats",
    "warnings",
)


def _print_run(run: dict[str, Any], headline: str) -> None:
    print(headline)
    rows = []
    for key in RUN_FIELDS:
        if key not in run:
            continue
        value = run[key]
        if key == "error":
            value = f"{value.get('code')}: {value.get('message')}" if isinstance(value, dict) else "-"
        elif key == "warnings":
            value = "; ".join(value) if value else "-"
        elif isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False, separators=(", ", ": ")) if value else "-"
        elif value in (None, ""):
            value = "-"
        rows.append([key, str(value)])
    width = max(len(r[0]) for r in rows) if rows else 0
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")


# -- commands ------------------------------------------------------------------------------------------------
def cmd_submit(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.body:
        try:
            text = sys.stdin.read() if args.body == "-" else Path(args.body).read_text()
            body = json.loads(text)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--body {args.body}: {exc}") from None
        if not isinstance(body, dict):
            raise UsageError(f"--body {args.body}: expected a JSON object")
    if args.request_id:
        body["requestId"] = args.request_id
    body.setdefault("requestId", f"cli-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}")
    if args.job_name:
        body["jobName"] = args.job_name
    if not body.get("jobName"):
        raise UsageError("--job-name is required (or jobName in --body)")
    if args.template:
        body["externalId"] = args.template
    if args.job_type:
        body["jobType"] = args.job_type
    if args.attr:
        attributes = dict(body.get("attributes") or {})
        attributes.update(dict(args.attr))
        body["attributes"] = attributes
    connector = _connector(args, "submit")
    flags = (args.param or []) + (args.output or [])
    if flags:
        flags = _typed_by_template(connector, str(body.get("externalId") or ""), flags)
        names = {p["name"] for p in flags}
        body["parameters"] = [p for p in body.get("parameters") or [] if p.get("name") not in names] + flags
    args.job_type = body.get("jobType") or ""
    resp = connector.submit(body)
    if not resp.ok:
        return _fail(resp, args)
    what = "created" if resp.status == 201 else "replayed (same requestId and body: the existing run)"
    return _show_run(resp, args, f"run {what} [HTTP {resp.status}]")


def _typed_by_template(connector: Connector, template: str, params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parameters given without `:Type` take the type the template's parameter schema declares (one GET
    templates); without a template, or when it cannot be read, they stay as given (the connector then says)."""
    if not template or all(getattr(p, "explicit_type", True) for p in params):
        return [dict(p) for p in params]
    resp = connector.templates(external_id=template)
    schema = resp.body.get("parameters") if resp.ok and isinstance(resp.body, dict) else None
    try:
        return apply_schema(params, schema if isinstance(schema, list) else [])
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{exc} (the template declares that type)") from None


def cmd_status(args: argparse.Namespace) -> int:
    resp = _connector(args, "status").status(args.run_id)
    return _show_run(resp, args, f"run {resp.body.get('status') if resp.ok else ''}")


def cmd_cancel(args: argparse.Namespace) -> int:
    resp = _connector(args, "cancel").cancel(args.run_id)
    headline = "cancel requested [HTTP 202]" if resp.status == 202 else f"run already ended [HTTP {resp.status}]"
    return _show_run(resp, args, headline)


def _show_run(resp: Response, args: argparse.Namespace, headline: str) -> int:
    """A run answer: the error and its exit code, the JSON (--json), or the run as a table under `headline`."""
    if not resp.ok:
        return _fail(resp, args)
    if args.json:
        _print_json(resp.body)
    else:
        _print_run(resp.body, headline)
    return EXIT_OK


def _param_text(p: dict[str, Any]) -> str:
    out = "" if p.get("direction", "Input") == "Input" else f" {p.get('direction')}"
    return f"{p.get('name')}:{p.get('type', 'String')}{out}"


def _template_rows(templates: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for t in templates:
        attrs = t.get("attributes") or {}
        ordered = sorted(t.get("parameters") or [], key=lambda p: str(p.get("name")).lower())
        params = ", ".join(_param_text(p) for p in ordered)
        rows.append(
            [
                SHORT_TYPE.get(str(t.get("jobType", "")), str(t.get("jobType", ""))),
                str(t.get("displayName", "")),
                str(t.get("workerPools", "-")),
                str(attrs.get("machineType", "-")),
                params if len(params) <= 60 else params[:57] + "...",
                str(len(t.get("links") or [])),
                str(t.get("externalId", "")),
            ]
        )
    return rows


def _print_template(t: dict[str, Any]) -> None:
    pools = f", {t['workerPools']} worker pool(s)" if t.get("workerPools") else ""
    print(f"{t.get('displayName', '')}  ({t.get('jobType', '')}{pools})")
    print(f"  externalId  {t.get('externalId', '')}")
    for key, value in (t.get("attributes") or {}).items():
        print(f"  {key}: {json.dumps(value) if isinstance(value, dict | list) else value}")
    params = t.get("parameters") or []
    if params:
        print("  parameters (NAME=VALUE[:Type] for --param, NAME[:Type] for --output):")
        for p in params:
            default = f"  default {json.dumps(p['default'])}" if p.get("default") is not None else ""
            print(f"    {p.get('name', ''):<28} {p.get('type', ''):<9} {p.get('direction', ''):<12}{default}".rstrip())
    links = t.get("links") or []
    if links:
        print("  links:")
        for link in links:
            print(f"    {link.get('type', ''):<36} {link.get('name', '')}")


def cmd_templates(args: argparse.Namespace) -> int:
    connector = _connector(args, "templates")
    if args.external_id:
        resp = connector.templates(external_id=args.external_id)
        if not resp.ok:
            return _fail(resp, args)
        if args.json:
            _print_json(resp.body)
        else:
            _print_template(resp.body)
        return EXIT_OK
    defaults = _defaults(args)
    project = args.project or defaults.get("project", "")
    location = args.location or defaults.get("location", "")
    if not project or not location:
        raise UsageError("--project and --location are required (or --external-id)")
    templates: list[dict[str, Any]] = []
    token = args.page_token or ""
    while True:
        resp = connector.templates(
            project=project, location=location, job_type=args.job_type, filter=args.filter or "", page_token=token
        )
        if not resp.ok:
            return _fail(resp, args)
        templates += list(resp.body.get("templates") or [])
        token = str(resp.body.get("nextPageToken") or "")
        if not (args.all and token):
            break
    if args.json:
        _print_json({"templates": templates, "nextPageToken": token})
    else:
        headers = ["TYPE", "DISPLAY NAME", "POOLS", "MACHINE", "PARAMETERS", "LINKS", "EXTERNAL ID"]
        print(table(_template_rows(templates), headers) if templates else "no templates")
        if token:
            print(f"more: --page-token {token}  (or --all)")
    return EXIT_OK


def _check_rows(checks: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for check in checks:
        state = "skipped" if check.get("skipped") else "ok" if check.get("ok") else "FAILED"
        rows.append([str(check.get("name", "")), state, str(check.get("message", ""))])
    return rows


def cmd_doctor(args: argparse.Namespace) -> int:
    """GET health: the connector's own checks as a table; exit 1 when one failed (HTTP 503 with the checks)."""
    if args.stack:
        args.endpoints_file = args.stack
    resp = _connector(args, "health").health(deep=args.deep)
    checks = resp.body.get("checks") if isinstance(resp.body, dict) else None
    if not isinstance(checks, list):
        return _fail(resp, args)  # no checks came back: refused (4xx), unreachable or broken (5xx)
    if args.json:
        _print_json(resp.body)
    else:
        print(table(_check_rows(checks), ["CHECK", "RESULT", "MESSAGE"]))
        failed = [c for c in checks if not c.get("ok") and not c.get("skipped")]
        skipped = [c for c in checks if c.get("skipped")]
        summary = f"{len(checks) - len(failed) - len(skipped)} ok, {len(failed)} failed, {len(skipped)} skipped"
        print(f"\n{'healthy' if resp.ok and not failed else 'UNHEALTHY'}: {summary} [HTTP {resp.status}]")
    if not resp.ok or any(not c.get("ok") and not c.get("skipped") for c in checks):
        return EXIT_FAILED
    return EXIT_OK


def _events_source(args: argparse.Namespace) -> tuple[str, str]:
    """(subscription, Pub/Sub emulator host or "" for real Pub/Sub). Without --subscription both come from the
    endpoints file; with one, the file's emulator host is used when the subscription is in the file's project
    (the local stack), real Pub/Sub otherwise (a deployment)."""
    endpoints = load_endpoints(args.endpoints_file, required=not args.subscription)
    subscription = args.subscription or str(endpoints.get("statusSubscription") or "")
    if not subscription:
        raise UsageError("the endpoints file names no statusSubscription; pass --subscription")
    host = args.pubsub_host or ""
    local_project = str(endpoints.get("project") or "")
    if not host and local_project and subscription.startswith(f"projects/{local_project}/"):
        host = str(endpoints.get("pubsubHost") or "")
    return subscription, host


def cmd_events(args: argparse.Namespace) -> int:
    subscription, host = _events_source(args)
    try:
        reader = EventReader(subscription, host)
    except Exception as exc:  # noqa: BLE001 - google.auth's DefaultCredentialsError, named below
        if type(exc).__name__ != "DefaultCredentialsError":
            raise
        raise UsageError(
            "no Google credentials to read real Pub/Sub: run `gcloud auth application-default login`, or pass "
            "--pubsub-host (or the endpoints file) for the local stack's emulator"
        ) from None
    count = 0
    try:
        for event in reader.iter(follow=args.follow, idle_seconds=args.wait, retry_seconds=args.retry_seconds):
            print(json.dumps(event, ensure_ascii=False) if args.json else format_event(event), flush=True)
            count += 1
            if args.max and count >= args.max:
                break
    except KeyboardInterrupt:
        pass
    except PubSubUnavailable as exc:
        waited = f" for {args.retry_seconds:g} s" if args.follow else ""
        print(f"error: {exc}{waited}: is the stack running? is the endpoints file stale?", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the subscription is gone, permission denied
        print(
            f"error: reading {subscription} failed: {str(exc).splitlines()[0] if str(exc) else exc!r}", file=sys.stderr
        )
        return EXIT_UNAVAILABLE
    finally:
        reader.close()
    return EXIT_OK


def cmd_dev(args: argparse.Namespace) -> int:
    from .stack import LocalStack, Shutdown, StackConfig, critical, defined_functions, signals_raise

    config = StackConfig(
        endpoints_file=Path(args.endpoints_file or DEFAULT_ENDPOINTS_FILE),
        port_base=args.port_base,
        time_factor=args.time_factor,
        tick_seconds=args.tick_seconds,
        execute=args.execute,
        log_dir=Path(args.log_dir) if args.log_dir else None,
    )
    stack = LocalStack(config)
    with signals_raise():
        try:
            started = time.monotonic()
            print(
                "starting Firestore and Pub/Sub emulators, the Vertex AI emulator and "
                f"{len(defined_functions())} functions "
                f"(logs: {stack.log_dir}) ...",
                flush=True,
            )
            stack.start()
            print(f"ready in {time.monotonic() - started:.1f} s\n{stack.table()}", flush=True)
            print("\nCtrl-C (or SIGTERM) stops everything.", flush=True)
            dead = stack.wait()
            if dead:
                proc = stack.processes[dead]
                print(f"error: {dead} exited; last lines of {proc.log_path}:\n{proc.log_tail()}", file=sys.stderr)
                return EXIT_FAILED
            return EXIT_OK
        except (KeyboardInterrupt, Shutdown):
            return EXIT_OK
        except Exception as exc:  # noqa: BLE001 - reported, then everything started is stopped
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            with critical(discard=True):
                print("stopping ...", flush=True)
                stack.stop()
                print("stopped: every process of the stack has ended.", flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(
        execute=args.execute,
        time_factor=args.time_factor,
        tick_seconds=args.tick_seconds,
        endpoints_file=Path(args.endpoints_file) if args.endpoints_file else None,
    )


# -- parser --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polysync-vertex",
        formatter_class=_Formatter,
        description=(
            "Run Vertex AI Custom, Pipeline and Batch Prediction Jobs from Polysync: the local stack, a demo, "
            "and an operator CLI."
        ),
        epilog=_epilog(
            """
  polysync-vertex demo                      # the whole product on this machine, five runs, then stop
  polysync-vertex dev                       # the local stack until Ctrl-C; writes ./local-endpoints.json
  polysync-vertex submit --job-name nightly --attr machineType=n1-standard-4 \\
      --attr containerImageUri=us-docker.pkg.dev/p/r/trainer:1 --param EPOCHS=10:Number
  polysync-vertex events --follow           # status events as they arrive
""",
            CONNECTION_HELP,
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the local stack does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    client = argparse.ArgumentParser(add_help=False)
    group = client.add_argument_group("connection")
    group.add_argument(
        "--endpoints-file",
        metavar="PATH",
        help=f"endpoints JSON of a local stack (default ${ENDPOINTS_ENV} or ./{DEFAULT_ENDPOINTS_FILE})",
    )
    group.add_argument("--url", help="URL of this command's function (overrides the endpoints file)")
    group.add_argument("--secret", help=f"webhook HMAC secret (prefer ${SECRET_ENV}: flags show up in `ps`)")
    group.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an answer (default 60)")
    group.add_argument("--json", action="store_true", help="print the response JSON (for scripts)")

    def add(name: str, help: str, examples: str, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
        extra = [CONNECTION_HELP] if client in parents else []
        return sub.add_parser(
            name,
            help=help,
            description=help,
            parents=parents,
            formatter_class=_Formatter,
            epilog=_epilog(examples, *extra),
        )

    p = add(
        "dev",
        "start the local stack (emulators, functions, scheduler) until Ctrl-C or SIGTERM",
        """
  polysync-vertex dev
  polysync-vertex dev --time-factor 0.1 --tick-seconds 1      # jobs move 10x faster, poll every second
  polysync-vertex dev --port-base 18080 --endpoints-file /tmp/psv.json
  polysync-vertex dev --execute        # the Vertex AI emulator runs each job's container command locally
  PSV_QUEUED_THRESHOLD_SECONDS=60 polysync-vertex dev   # PSV_* settings in the environment reach the functions
""",
        [],
    )
    p.add_argument("--port-base", type=int, metavar="N", help="use ports N..N+9 (default: free ports)")
    p.add_argument(
        "--endpoints-file",
        metavar="PATH",
        default=DEFAULT_ENDPOINTS_FILE,
        help=f"where to write the endpoints JSON (default ./{DEFAULT_ENDPOINTS_FILE}; removed on stop)",
    )
    p.add_argument(
        "--time-factor", type=float, default=1.0, help="scale of the emulated jobs' state durations (default 1)"
    )
    p.add_argument("--tick-seconds", type=float, default=2.0, help="poll tick interval in seconds (default 2)")
    p.add_argument("--execute", action="store_true", help="run jobs' container commands locally while RUNNING")
    p.add_argument("--log-dir", metavar="DIR", help="where each process logs (default: a new temp directory)")
    p.set_defaults(func=cmd_dev)

    p = add(
        "demo",
        "start the stack, run five jobs (three Custom Jobs: success, failure, cancel; a Pipeline Job with outputs; "
        "a Batch Prediction Job) with live events, print a summary, stop",
        """
  polysync-vertex demo
  polysync-vertex demo --execute               # the succeeding run really trains a tiny model
  polysync-vertex demo --time-factor 0.05      # faster
""",
        [],
    )
    p.add_argument("--execute", action="store_true", help="the succeeding run executes examples/train_tiny.py")
    p.add_argument("--time-factor", type=float, default=0.2, help="scale of the emulated jobs' durations (default 0.2)")
    p.add_argument("--tick-seconds", type=float, default=1.0, help="poll tick interval (default 1)")
    p.add_argument("--endpoints-file", metavar="PATH", help="write the stack's endpoints here (default: temp file)")
    p.set_defaults(func=cmd_demo)

    p = add(
        "submit",
        "submit a run (POST submit); idempotent per --request-id",
        """
  polysync-vertex submit --job-name nightly-train \\
      --template projects/local-project/locations/us-central1/customJobs/123 \\
      --param EPOCHS=10:Number --param MODE=fast --attr machineType=n1-standard-8
  polysync-vertex submit --job-name adhoc --attr machineType=n1-standard-4 \\
      --attr containerImageUri=us-docker.pkg.dev/my-proj/train/trainer:1.4 --attr timeout=3600s
  polysync-vertex submit --job-name nightly-pipeline \\
      --template projects/my-proj/locations/us-central1/pipelineJobs/train-pipeline-20261101 \\
      --param EPOCHS=10:Number --param CONFIG='{"a":1}':JSON --param temperature=0.5:Number
  polysync-vertex submit --job-name adhoc-batch --job-type batch \\
      --attr model=projects/my-proj/locations/us-central1/models/sentiment \\
      --attr inputConfig='{"instancesFormat":"jsonl","gcsSource":{"uris":["gs://b/in.jsonl"]}}' \\
      --attr outputConfig='{"predictionsFormat":"jsonl","gcsDestination":{"outputUriPrefix":"gs://b/out"}}'
  polysync-vertex submit --job-name p --template projects/my-proj/locations/us-central1/pipelineJobs/ID \\
      --param epochs=10 --output score:Number     # epochs takes the type the pipeline declares
  polysync-vertex submit --body request.json --json | jq -r .runId
  # local emulator only: script the job's path through its states
  polysync-vertex submit --job-name slow --attr machineType=n1-standard-4 --attr containerImageUri=img \\
      --param VERTEX_EMULATOR_SCENARIO=PENDING:5,QUEUED:30,RUNNING:60,FAILED
""",
        [client],
    )
    p.add_argument("--request-id", help="idempotency key (default: generated; reuse it to retry safely)")
    p.add_argument("--job-name", help="Polysync job name (display name prefix); required")
    p.add_argument(
        "--template",
        metavar="EXTERNAL_ID",
        help=f"template job (its collection is the job type): {RESOURCE_NAMES}",
    )
    p.add_argument(
        "--job-type",
        type=parse_job_type,
        metavar="TYPE",
        help="custom (default), pipeline or batch: the type of a run without --template (a template's collection "
        "decides otherwise)",
    )
    p.add_argument(
        "--attr",
        action="append",
        type=parse_attr,
        metavar="KEY=VALUE",
        help="attribute (repeatable); integers as numbers, a JSON object or array as JSON (inputConfig={...})",
    )
    p.add_argument(
        "--param",
        action="append",
        type=parse_param,
        metavar="NAME=VALUE[:Type]",
        help=f"Input parameter (repeatable); Type: {TYPE_NAMES} (an object or array); without one, the type the "
        "template declares, else String",
    )
    p.add_argument(
        "--output",
        action="append",
        type=parse_output,
        metavar="NAME[:Type]",
        help="declare an Output parameter (repeatable): reported in the run's outputs where its job type has them",
    )
    p.add_argument("--body", metavar="FILE", help="request JSON file ('-': stdin); flags override its fields")
    p.set_defaults(func=cmd_submit)

    p = add(
        "status",
        "show a run (GET status)",
        """
  polysync-vertex status projects/local-project/locations/us-central1/customJobs/123
  polysync-vertex status "$RUN_ID" --json | jq -r .status
""",
        [client],
    )
    p.add_argument("run_id", metavar="RUN_ID", help=RESOURCE_NAMES)
    p.set_defaults(func=cmd_status)

    from . import logs_cmd  # issue 25: `logs RUN_ID [--tail N] [--follow]`

    logs_cmd.configure(add("logs", logs_cmd.HELP, logs_cmd.EXAMPLES, [client]))

    p = add(
        "cancel",
        "cancel a run this connector created (POST cancel)",
        """
  polysync-vertex cancel projects/local-project/locations/us-central1/customJobs/123
""",
        [client],
    )
    p.add_argument("run_id", metavar="RUN_ID", help=RESOURCE_NAMES)
    p.set_defaults(func=cmd_cancel)

    p = add(
        "templates",
        "list or show templates: Vertex AI Custom, Pipeline and Batch Prediction Jobs Polysync can import, with "
        "type, attributes, parameters and links (GET templates)",
        """
  polysync-vertex templates                                   # project and location of the local stack
  polysync-vertex templates --project my-proj --location europe-west4 --all
  polysync-vertex templates --job-type pipeline --filter 'display_name="nightly-train"'
  polysync-vertex templates --external-id projects/my-proj/locations/us-central1/customJobs/123
""",
        [client],
    )
    p.add_argument("--project", help="project (default: the endpoints file's)")
    p.add_argument("--location", help="Vertex AI location (default: the endpoints file's)")
    p.add_argument("--job-type", type=parse_job_type, metavar="TYPE", help="custom, pipeline or batch only")
    p.add_argument("--filter", help="Vertex AI list filter, passed through (fields differ by type: add --job-type)")
    p.add_argument("--page-token", help="continue a previous listing")
    p.add_argument("--all", action="store_true", help="follow nextPageToken to the end")
    p.add_argument("--external-id", help="show one template")
    p.set_defaults(func=cmd_templates)

    p = add(
        "doctor",
        "check that the connector can run jobs (GET health) and print the checks; exit 1 when one failed",
        """
  polysync-vertex doctor                          # the local stack (./local-endpoints.json)
  polysync-vertex doctor --deep                   # also one cheap list call per project, location and job type
  polysync-vertex doctor --stack /tmp/psv.json    # the local stack whose endpoints file is /tmp/psv.json
  POLYSYNC_VERTEX_SECRET=... polysync-vertex doctor --url https://REGION-PROJECT.cloudfunctions.net/health
""",
        [client],
    )
    p.add_argument("--deep", action="store_true", help="also make one list call per project, location, job type")
    p.add_argument("--stack", metavar="FILE", help="endpoints file of a local stack (same as --endpoints-file)")
    p.set_defaults(func=cmd_doctor)

    from . import smoke  # `polysync-vertex smoke`: emulator/polysync_local/smoke.py

    p = add("smoke", smoke.HELP, smoke.EXAMPLES, [])
    smoke.add_arguments(p)
    p.set_defaults(func=smoke.cmd_smoke)

    p = add(
        "events",
        "print status events from the status subscription (pulls and acks them)",
        """
  polysync-vertex events                 # what is waiting, then exit
  polysync-vertex events --follow        # until Ctrl-C
  polysync-vertex events --follow --json | jq -c '{id: .attributes["ce-id"], status: .data.status}'
  polysync-vertex events --subscription projects/my-proj/subscriptions/my-debug-sub   # a deployment
""",
        [],
    )
    p.add_argument("--follow", "-f", action="store_true", help="keep printing events as they arrive")
    p.add_argument("--json", action="store_true", help="one JSON object per line: attributes, data, orderingKey")
    p.add_argument("--endpoints-file", metavar="PATH", help=f"endpoints JSON (default ./{DEFAULT_ENDPOINTS_FILE})")
    p.add_argument("--subscription", help="full subscription name (default: the endpoints file's)")
    p.add_argument("--pubsub-host", help="Pub/Sub emulator host:port (default: the endpoints file's)")
    p.add_argument("--max", type=int, default=0, help="exit after this many events")
    p.add_argument("--wait", type=float, default=2.0, help="without --follow: exit after this many idle seconds")
    p.add_argument(
        "--retry-seconds",
        type=float,
        default=60.0,
        metavar="S",
        help="with --follow: how long an unreachable Pub/Sub is retried (with back-off) before exit 4 (default 60)",
    )
    p.set_defaults(func=cmd_events)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours. Point stdout at /dev/null so that the interpreter's
        # final flush does not raise again (the recipe of Python's signal module docs, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
