"""Request validation mirroring Vertex AI's checks on CustomJob resources and names."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .collection import Resource
from .enums import normalize_job_spec_enums
from .errors import invalid_argument
from .ids import NUMERIC_ID, PIPELINE_JOB_ID
from .scenario import CANCEL_DELAY_ENV, SCENARIO_ENV, Lifecycle, Step, parse_scenario
from .schema_check import required_error, violation
from .timeutil import parse_duration

MAX_DISPLAY_NAME = 128
MAX_ENV_VARS = 100
MAX_LABELS = 64
MAX_LABEL_CHARS = 63
MAX_PACKAGE_URIS = 100

# Any project id a client can send is accepted (as the Firestore and Pub/Sub emulators do): real Vertex AI answers
# 403 PERMISSION_DENIED for a project it cannot use, never 400, so the emulator has nothing to check there.
_PROJECT = re.compile(r"^[^/\s]+$")
_LOCATION = re.compile(r"^[a-z][a-z0-9-]{0,62}[a-z0-9]$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Top-level CustomJob fields (JSON names); output-only ones are accepted and ignored on create.
CUSTOM_JOB_FIELDS = frozenset(
    {
        "name",
        "displayName",
        "jobSpec",
        "state",
        "createTime",
        "startTime",
        "endTime",
        "updateTime",
        "error",
        "labels",
        "encryptionSpec",
        "webAccessUris",
        "satisfiesPzs",
        "satisfiesPzi",
    }
)
_MAP_FIELDS = frozenset({"labels", "webAccessUris"})


@dataclass(frozen=True)
class ValidJob:
    """A validated create request: the resource fields to store plus what drives the lifecycle."""

    display_name: str
    job_spec: dict[str, Any]
    labels: dict[str, str]
    encryption_spec: dict[str, Any] | None
    scenario: list[Step]
    timeout_s: float | None
    timeout_text: str
    cancel_delay_s: float | None  # None: the server's default


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camelize(value: Any) -> Any:
    """Accept proto field names (``display_name``) like Google does: rewrite keys to JSON names."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            json_key = camel(key) if isinstance(key, str) and "_" in key else key
            out[json_key] = dict(item) if json_key in _MAP_FIELDS and isinstance(item, dict) else camelize(item)
        return out
    if isinstance(value, list):
        return [camelize(item) for item in value]
    return value


def parse_parent(parent: str) -> tuple[str, str]:
    parts = parent.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "locations":
        raise invalid_argument(f"Invalid parent {parent!r}: expected 'projects/{{project}}/locations/{{location}}'.")
    _check_project_location(parts[1], parts[3], parent)
    return parts[1], parts[3]


def parse_name(name: str, resource: Resource) -> tuple[str, str, str]:
    """``projects/P/locations/L/{collection}/ID`` -> (P, L, ID); INVALID_ARGUMENT if malformed."""
    parts = name.split("/")
    kind, collection = resource.kind, resource.collection
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations" or parts[4] != collection:
        raise invalid_argument(
            f"Invalid {kind} resource name {name!r}: expected "
            f"'projects/{{project}}/locations/{{location}}/{collection}/{{{resource.root}}}'."
        )
    _check_project_location(parts[1], parts[3], name)
    job_id = parts[5]
    if resource.numeric_ids:
        if not NUMERIC_ID.match(job_id) or int(job_id) >= 2**63:
            raise invalid_argument(
                f"Invalid {kind} resource name {name!r}: the {kind} id must be a number, got {job_id!r}."
            )
    elif not PIPELINE_JOB_ID.match(job_id):
        raise invalid_argument(
            f"Invalid {kind} resource name {name!r}: the id {job_id!r} must match [a-z0-9][a-z0-9-]{{0,127}}."
        )
    return parts[1], parts[3], job_id


def parse_operation_name(name: str) -> tuple[str, str, int]:
    parts = name.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations" or parts[4] != "operations":
        raise invalid_argument(f"Invalid operation name {name!r}.")
    _check_project_location(parts[1], parts[3], name)
    if not NUMERIC_ID.match(parts[5]):
        raise invalid_argument(f"Invalid operation name {name!r}: the operation id must be a number.")
    return parts[1], parts[3], int(parts[5])


def _check_project_location(project: str, location: str, whole: str) -> None:
    if not _PROJECT.match(project):
        raise invalid_argument(f"Invalid resource name {whole!r}: {project!r} is not a valid project id or number.")
    if not _LOCATION.match(location):
        raise invalid_argument(f"Invalid resource name {whole!r}: {location!r} is not a valid location.")


def check_display_name(display_name: str, root: str, required: bool) -> None:
    if required and not display_name:
        raise required_error([f"{root}.display_name"])
    if len(display_name) > MAX_DISPLAY_NAME:
        raise violation(
            f"{root}.display_name",
            f"{root}.display_name is {len(display_name)} characters long; at most {MAX_DISPLAY_NAME} are allowed.",
        )


def _is_label_letter(ch: str) -> bool:
    return unicodedata.category(ch) in ("Ll", "Lo")


def _is_label_char(ch: str) -> bool:
    return _is_label_letter(ch) or unicodedata.category(ch) == "Nd" or ch in "_-"


def label_problem(key: Any, value: Any) -> str | None:
    """Why a label breaks GCP's rules, or None if it is valid."""
    if not isinstance(key, str) or not isinstance(value, str):
        return "label keys and values must be strings"
    if not key:
        return "label keys must not be empty"
    if len(key) > MAX_LABEL_CHARS:
        return f"label key {key!r} is longer than {MAX_LABEL_CHARS} characters"
    if not _is_label_letter(key[0]):
        return f"label key {key!r} must start with a lowercase letter"
    if not all(_is_label_char(ch) for ch in key):
        return f"label key {key!r} may contain only lowercase letters, digits, '_' and '-'"
    if len(value) > MAX_LABEL_CHARS:
        return f"label value {value!r} of key {key!r} is longer than {MAX_LABEL_CHARS} characters"
    if not all(_is_label_char(ch) for ch in value):
        return f"label value {value!r} of key {key!r} may contain only lowercase letters, digits, '_' and '-'"
    return None


def validate_labels(labels: Any, root: str = "custom_job") -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid_argument(f"Invalid value at '{root}.labels': expected a map of strings.")
    if len(labels) > MAX_LABELS:
        raise invalid_argument(f"{root}.labels: at most {MAX_LABELS} labels are allowed, got {len(labels)}.")
    for key, value in labels.items():
        problem = label_problem(key, value)
        if problem:
            raise invalid_argument(f"Invalid {root}.labels: {problem}. See Vertex AI label rules.")
    return dict(labels)


def _int_field(value: Any, where: str) -> int:
    """int32/int64 JSON values: numbers or (as protobuf writes int64) decimal strings."""
    if isinstance(value, bool):
        raise invalid_argument(f"Invalid value at '{where}' (TYPE_INT64), {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    raise invalid_argument(f"Invalid value at '{where}' (TYPE_INT64), {value!r}")


def _string_field(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise invalid_argument(f"Invalid value at '{where}' (TYPE_STRING), {value!r}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_argument(f"Invalid value at '{where}': expected an object, got {value!r}")
    return value


def _env(env: Any, where: str) -> list[dict[str, Any]]:
    if env is None:
        return []
    if not isinstance(env, list):
        raise invalid_argument(f"Invalid value at '{where}': expected a list of {{name, value}}.")
    if len(env) > MAX_ENV_VARS:
        raise invalid_argument(
            f"{where}: at most {MAX_ENV_VARS} environment variables are allowed per container, got {len(env)}."
        )
    for i, var in enumerate(env):
        var = _object(var, f"{where}[{i}]")
        name = _string_field(var.get("name", ""), f"{where}[{i}].name")
        if not _ENV_NAME.match(name):
            raise invalid_argument(f"{where}[{i}].name {name!r} is not a valid environment variable name.")
        _string_field(var.get("value", ""), f"{where}[{i}].value")
    return env


def _validate_pool(pool: dict[str, Any], index: int) -> None:
    where = f"custom_job.job_spec.worker_pool_specs[{index}]"
    machine = _object(pool.get("machineSpec", {}), where + ".machine_spec")
    machine_type = machine.get("machineType")
    if not machine_type:
        raise invalid_argument(f"{where}.machine_spec.machine_type is required.")
    _string_field(machine_type, where + ".machine_spec.machine_type")
    count = _int_field(machine.get("acceleratorCount", 0), where + ".machine_spec.accelerator_count")
    if count < 0:
        raise invalid_argument(f"{where}.machine_spec.accelerator_count must not be negative.")
    accel = machine.get("acceleratorType", "ACCELERATOR_TYPE_UNSPECIFIED")
    if count > 0 and accel in ("ACCELERATOR_TYPE_UNSPECIFIED", 0):
        raise invalid_argument(f"{where}.machine_spec: accelerator_count is {count} but accelerator_type is not set.")
    replicas = _int_field(pool.get("replicaCount", 0), where + ".replica_count")
    if index == 0 and replicas != 1:
        raise invalid_argument(
            f"{where}.replica_count must be 1: the first worker pool runs the primary replica, got {replicas}."
        )
    if replicas < 1:
        raise invalid_argument(f"{where}.replica_count must be at least 1, got {replicas}.")
    has_container = "containerSpec" in pool
    has_python = "pythonPackageSpec" in pool
    if has_container == has_python:
        raise invalid_argument(f"{where}: exactly one of container_spec or python_package_spec must be set.")
    if has_container:
        spec = _object(pool["containerSpec"], where + ".container_spec")
        if not spec.get("imageUri"):
            raise invalid_argument(f"{where}.container_spec.image_uri is required.")
        _string_field(spec["imageUri"], where + ".container_spec.image_uri")
        _env(spec.get("env"), where + ".container_spec.env")
    else:
        spec = _object(pool["pythonPackageSpec"], where + ".python_package_spec")
        for field, proto in (("executorImageUri", "executor_image_uri"), ("pythonModule", "python_module")):
            if not spec.get(field):
                raise invalid_argument(f"{where}.python_package_spec.{proto} is required.")
            _string_field(spec[field], f"{where}.python_package_spec.{proto}")
        uris = spec.get("packageUris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
            raise invalid_argument(f"{where}.python_package_spec.package_uris needs at least one URI.")
        if len(uris) > MAX_PACKAGE_URIS:
            raise invalid_argument(f"{where}.python_package_spec.package_uris allows at most {MAX_PACKAGE_URIS}.")
        _env(spec.get("env"), where + ".python_package_spec.env")


def pool_env(pool: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pool.get("containerSpec") or pool.get("pythonPackageSpec") or {}
    env = spec.get("env") or []
    return env if isinstance(env, list) else []


def validate_custom_job(body: Any, lifecycle: Lifecycle) -> ValidJob:
    """Validate a CreateCustomJob body; raise INVALID_ARGUMENT :class:`ApiError` like Vertex AI."""
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received: the body must be a CustomJob object.")
    body = camelize(body)
    for key in body:
        if key not in CUSTOM_JOB_FIELDS:
            raise invalid_argument(
                f"Invalid JSON payload received. Unknown name \"{key}\" at 'custom_job': Cannot find field."
            )
    display_name = body.get("displayName")
    if not display_name:
        raise invalid_argument("custom_job.display_name is required.")
    _string_field(display_name, "custom_job.display_name")
    if len(display_name) > MAX_DISPLAY_NAME:
        raise invalid_argument(
            f"custom_job.display_name is {len(display_name)} characters long; at most {MAX_DISPLAY_NAME} are allowed."
        )
    job_spec = _object(body.get("jobSpec"), "custom_job.job_spec") if "jobSpec" in body else None
    if job_spec is None:
        raise invalid_argument("custom_job.job_spec is required.")
    pools = job_spec.get("workerPoolSpecs")
    if not isinstance(pools, list) or not pools:
        raise invalid_argument("custom_job.job_spec.worker_pool_specs must contain at least one worker pool.")
    for index, pool in enumerate(pools):
        pool = _object(pool, f"custom_job.job_spec.worker_pool_specs[{index}]")
        if index > 0 and not pool:
            continue  # an empty placeholder pool (e.g. no parameter servers) is allowed after the first
        if index == 0 and not pool:
            raise invalid_argument("custom_job.job_spec.worker_pool_specs[0] must not be empty.")
        _validate_pool(pool, index)
    normalize_job_spec_enums(job_spec)
    timeout_s: float | None = None
    timeout_text = ""
    scheduling = job_spec.get("scheduling")
    if scheduling is not None:
        scheduling = _object(scheduling, "custom_job.job_spec.scheduling")
        if "timeout" in scheduling:
            timeout_text = scheduling["timeout"]
            try:
                timeout_s = parse_duration(timeout_text)
            except ValueError as exc:
                raise invalid_argument(f"Invalid custom_job.job_spec.scheduling.timeout: {exc}.") from None
            if timeout_s < 0:
                raise invalid_argument("custom_job.job_spec.scheduling.timeout must not be negative.")
    labels = validate_labels(body.get("labels"))
    encryption = body.get("encryptionSpec")
    if encryption is not None:
        encryption = _object(encryption, "custom_job.encryption_spec")
        _string_field(encryption.get("kmsKeyName", ""), "custom_job.encryption_spec.kms_key_name")
    scenario_text = lifecycle.default_scenario
    cancel_delay_s: float | None = None
    for var in pool_env(pools[0]):
        if var.get("name") == SCENARIO_ENV:
            scenario_text = var.get("value", "")
        elif var.get("name") == CANCEL_DELAY_ENV:
            try:
                cancel_delay_s = float(var.get("value", ""))
            except ValueError:
                cancel_delay_s = -1.0
            if not 0 <= cancel_delay_s < float("inf"):
                raise invalid_argument(f"Invalid {CANCEL_DELAY_ENV}: expected seconds >= 0, got {var.get('value')!r}.")
    try:
        scenario = parse_scenario(scenario_text, lifecycle)
    except ValueError as exc:
        raise invalid_argument(f"Invalid {SCENARIO_ENV} in worker_pool_specs[0]: {exc}.") from None
    return ValidJob(display_name, job_spec, labels, encryption, scenario, timeout_s, timeout_text, cancel_delay_s)
