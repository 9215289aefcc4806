"""Building the CustomJob: clone the template, override pool 0, env in every pool, labels, display name."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysync_vertex.core.errors import ApiError
from polysync_vertex.core.kinds.custom import build_job
from polysync_vertex.core.labels import (
    LABEL_SHARD,
    MAX_DISPLAY_NAME,
    SHARDS,
    display_name,
    job_labels,
    label_value,
    request_key,
    shard_of,
)
from polysync_vertex.core.names import JobResourceName
from polysync_vertex.core.request import Parameter, SubmitRequest, parse_submit

NOW = datetime(2026, 11, 22, 8, 15, 0, tzinfo=UTC)
STAMP = "20261122T081500Z"
TEMPLATE_NAME = "projects/my-proj/locations/us-central1/customJobs/1234567890"
IMAGE = "us-docker.pkg.dev/my-proj/train/trainer:1.4"
KEY = "run-1-0123456789abcdef"

# GCP label rules (Vertex AI): keys start with a lowercase letter, [a-z0-9_-], at most 63 characters;
# values [a-z0-9_-] (international letters are allowed too, the connector does not use them), at most 63.
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")


def request(
    *,
    template: bool = False,
    attributes: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    job_name: str = "nightly-train",
) -> SubmitRequest:
    b: dict[str, Any] = {"requestId": "run-1", "jobName": job_name}
    if template:
        b["externalId"] = TEMPLATE_NAME
    if attributes is not None:
        b["attributes"] = attributes
    elif not template:
        b["attributes"] = {"machineType": "n1-standard-4", "containerImageUri": IMAGE}
    if parameters is not None:
        b["parameters"] = parameters
    return parse_submit(b)


def p(name: str, value: Any, ptype: str = "String", direction: str = "Input") -> dict[str, Any]:
    return {"name": name, "direction": direction, "type": ptype, "value": value}


def assert_labels_valid(labels: dict[str, str]) -> None:
    assert len(labels) <= 64
    for k, v in labels.items():
        assert LABEL_KEY_RE.fullmatch(k), k
        assert LABEL_VALUE_RE.fullmatch(v), (k, v)


def container_template() -> dict[str, Any]:
    """A template CustomJob as Vertex AI returns it: every jobSpec field set, plus output-only fields."""
    return {
        "name": TEMPLATE_NAME,
        "displayName": "template-train",
        "state": "JOB_STATE_SUCCEEDED",
        "createTime": "2026-01-01T00:00:00Z",
        "startTime": "2026-01-01T00:01:00Z",
        "endTime": "2026-01-01T00:05:00Z",
        "updateTime": "2026-01-01T00:05:00Z",
        "error": {"code": 0},
        "webAccessUris": {"workerpool0-0": "https://x"},
        "labels": {"team": "ml", "cost-center": "cc_42"},
        "encryptionSpec": {"kmsKeyName": "projects/my-proj/locations/us-central1/keyRings/r/cryptoKeys/k"},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {
                        "machineType": "n1-standard-8",
                        "acceleratorType": "NVIDIA_TESLA_V100",
                        "acceleratorCount": 2,
                    },
                    "replicaCount": "1",
                    "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 200},
                    "nfsMounts": [{"server": "10.0.0.2", "path": "/share", "mountPoint": "nfs"}],
                    "containerSpec": {
                        "imageUri": "us-docker.pkg.dev/my-proj/train/trainer:1.0",
                        "command": ["python", "-m", "trainer"],
                        "args": ["--data=gs://my-bucket/data"],
                        "env": [{"name": "EPOCHS", "value": "1"}, {"name": "DATA", "value": "gs://my-bucket/d"}],
                    },
                },
                {
                    "machineSpec": {"machineType": "n1-highmem-4"},
                    "replicaCount": "3",
                    "diskSpec": {"bootDiskType": "pd-standard", "bootDiskSizeGb": 100},
                    "containerSpec": {"imageUri": "us-docker.pkg.dev/my-proj/train/worker:1.0", "args": ["--w"]},
                },
            ],
            "scheduling": {"timeout": "7200s", "restartJobOnWorkerRestart": True, "strategy": "SPOT"},
            "serviceAccount": "trainer@my-proj.iam.gserviceaccount.com",
            "network": "projects/12345/global/networks/vpc",
            "reservedIpRanges": ["range-a"],
            "baseOutputDirectory": {"outputUriPrefix": "gs://my-bucket/out"},
            "enableWebAccess": True,
            "enableDashboardAccess": False,
            "tensorboard": "projects/my-proj/locations/us-central1/tensorboards/7",
            "experiment": "projects/my-proj/locations/us-central1/metadataStores/default/contexts/exp",
            "protectedArtifactLocationId": "us-central1",
        },
    }


def our_labels(job_name: str = "nightly-train", key: str = KEY) -> dict[str, str]:
    return {
        "managed-by": "polysync-vertex",
        "polysync-request": key,
        "polysync-job": label_value(job_name),
        "polysync-shard": f"{shard_of(key):02d}",
    }


# --- without a template -------------------------------------------------------------------------------------------


def test_without_template_single_pool() -> None:
    job = build_job(request(), None, KEY, NOW)
    assert job == {
        "displayName": f"nightly-train_{STAMP}",
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "containerSpec": {"imageUri": IMAGE},
                }
            ]
        },
        "labels": our_labels(),
    }


def test_without_template_all_attributes() -> None:
    attrs = {
        "machineType": "n1-standard-4",
        "containerImageUri": IMAGE,
        "replicaCount": 3,
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 2,
        "timeout": "3600s",
        "serviceAccount": "sa@my-proj.iam.gserviceaccount.com",
        "network": "projects/12345/global/networks/vpc",
    }
    job = build_job(request(attributes=attrs, parameters=[p("EPOCHS", 10, "Number")]), None, KEY, NOW)
    assert job["jobSpec"] == {
        "workerPoolSpecs": [
            {
                "machineSpec": {
                    "machineType": "n1-standard-4",
                    "acceleratorType": "NVIDIA_TESLA_T4",
                    "acceleratorCount": 2,
                },
                "replicaCount": "3",
                "containerSpec": {"imageUri": IMAGE, "env": [{"name": "EPOCHS", "value": "10"}]},
            }
        ],
        "scheduling": {"timeout": "3600s"},
        "serviceAccount": "sa@my-proj.iam.gserviceaccount.com",
        "network": "projects/12345/global/networks/vpc",
    }
    assert "encryptionSpec" not in job


def test_accelerator_type_alone_defaults_count_to_one() -> None:
    attrs = {"machineType": "n1-standard-4", "containerImageUri": IMAGE, "acceleratorType": "NVIDIA_TESLA_T4"}
    ms = build_job(request(attributes=attrs), None, KEY, NOW)["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert ms == {"machineType": "n1-standard-4", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}


def test_accelerator_count_without_type_is_400() -> None:
    attrs = {"machineType": "n1-standard-4", "containerImageUri": IMAGE, "acceleratorCount": 1}
    with pytest.raises(ApiError) as info:
        build_job(request(attributes=attrs), None, KEY, NOW)
    assert (info.value.http, info.value.field) == (400, "attributes.acceleratorCount")


# --- with a template ------------------------------------------------------------------------------------------------


def test_template_cloned_whole_without_attributes() -> None:
    template = container_template()
    original = copy.deepcopy(template)
    job = build_job(request(template=True), template, KEY, NOW)
    assert job["jobSpec"] == original["jobSpec"]
    assert job["jobSpec"] is not template["jobSpec"]
    assert job["encryptionSpec"] == original["encryptionSpec"]
    assert job["labels"] == {"team": "ml", "cost-center": "cc_42", **our_labels()}
    assert set(job) == {"displayName", "jobSpec", "labels", "encryptionSpec"}  # no output-only field
    assert template == original  # the (cached) template is never mutated


def test_template_attributes_override_pool_0_only() -> None:
    template = container_template()
    attrs = {
        "machineType": "a2-highgpu-1g",
        "containerImageUri": IMAGE,
        "replicaCount": 2,
        "acceleratorType": "NVIDIA_TESLA_A100",
        "acceleratorCount": 1,
        "timeout": "3600s",
    }
    job = build_job(request(template=True, attributes=attrs), template, KEY, NOW)
    expected = copy.deepcopy(template["jobSpec"])
    pool0 = expected["workerPoolSpecs"][0]
    pool0["machineSpec"] = {
        "machineType": "a2-highgpu-1g",
        "acceleratorType": "NVIDIA_TESLA_A100",
        "acceleratorCount": 1,
    }
    pool0["replicaCount"] = "2"
    pool0["containerSpec"]["imageUri"] = IMAGE
    expected["scheduling"]["timeout"] = "3600s"  # restartJobOnWorkerRestart and strategy kept
    assert job["jobSpec"] == expected
    assert job["jobSpec"]["workerPoolSpecs"][1] == template["jobSpec"]["workerPoolSpecs"][1]


def test_template_accelerator_removed_with_count_zero() -> None:
    job = build_job(request(template=True, attributes={"acceleratorCount": 0}), container_template(), KEY, NOW)
    assert job["jobSpec"]["workerPoolSpecs"][0]["machineSpec"] == {"machineType": "n1-standard-8"}


def test_template_service_account_and_network_override() -> None:
    attrs = {"serviceAccount": "other@my-proj.iam.gserviceaccount.com", "network": "projects/1/global/networks/n"}
    spec = build_job(request(template=True, attributes=attrs), container_template(), KEY, NOW)["jobSpec"]
    assert spec["serviceAccount"] == "other@my-proj.iam.gserviceaccount.com"
    assert spec["network"] == "projects/1/global/networks/n"


def test_params_go_to_every_pool_and_override_template_env() -> None:
    params = [
        p("EPOCHS", 10, "Number"),
        p("MODE", "fast", direction="InputOutput"),
        {"name": "SCORE", "direction": "Output"},
    ]
    job = build_job(request(template=True, parameters=params), container_template(), KEY, NOW)
    pools = job["jobSpec"]["workerPoolSpecs"]
    assert pools[0]["containerSpec"]["env"] == [
        {"name": "DATA", "value": "gs://my-bucket/d"},
        {"name": "EPOCHS", "value": "10"},
        {"name": "MODE", "value": "fast"},
    ]
    assert pools[1]["containerSpec"]["env"] == [{"name": "EPOCHS", "value": "10"}, {"name": "MODE", "value": "fast"}]
    for pool in pools:
        names = [e["name"] for e in pool["containerSpec"]["env"]]
        assert len(names) == len(set(names)) and "SCORE" not in names


def test_only_output_params_leave_env_untouched() -> None:
    template = container_template()
    params = [{"name": "SCORE", "direction": "Output", "type": "Number"}]
    job = build_job(request(template=True, parameters=params), template, KEY, NOW)
    assert job["jobSpec"] == template["jobSpec"]


def test_distributed_template_keeps_empty_placeholder_pool() -> None:
    template = container_template()
    chief, workers = template["jobSpec"]["workerPoolSpecs"]
    template["jobSpec"]["workerPoolSpecs"] = [chief, {}, workers, {}]
    job = build_job(
        request(template=True, attributes={"machineType": "n1-standard-16"}, parameters=[p("A", "1")]),
        template,
        KEY,
        NOW,
    )
    pools = job["jobSpec"]["workerPoolSpecs"]
    assert len(pools) == 4
    assert pools[1] == {} and pools[3] == {}
    assert pools[0]["machineSpec"]["machineType"] == "n1-standard-16"
    assert pools[2]["machineSpec"] == {"machineType": "n1-highmem-4"}
    assert {"name": "A", "value": "1"} in pools[0]["containerSpec"]["env"]
    assert pools[2]["containerSpec"]["env"] == [{"name": "A", "value": "1"}]


def python_template() -> dict[str, Any]:
    return {
        "name": TEMPLATE_NAME,
        "labels": {"kind": "py"},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "pythonPackageSpec": {
                        "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
                        "packageUris": ["gs://my-bucket/trainer-0.1.tar.gz"],
                        "pythonModule": "trainer.task",
                        "args": ["--x=1"],
                        "env": [{"name": "KEEP", "value": "yes"}],
                    },
                },
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "2",
                    "pythonPackageSpec": {
                        "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
                        "packageUris": ["gs://my-bucket/trainer-0.1.tar.gz"],
                        "pythonModule": "trainer.worker",
                    },
                },
            ],
            "baseOutputDirectory": {"outputUriPrefix": "gs://my-bucket/out"},
        },
    }


def test_python_package_template() -> None:
    template = python_template()
    attrs = {"containerImageUri": "us-docker.pkg.dev/my-proj/exec/py:2", "poolType": "pythonPackage"}
    job = build_job(
        request(template=True, attributes=attrs, parameters=[p("KEEP", "no"), p("B", "2")]), template, KEY, NOW
    )
    expected = copy.deepcopy(template["jobSpec"])
    spec0 = expected["workerPoolSpecs"][0]["pythonPackageSpec"]
    spec0["executorImageUri"] = "us-docker.pkg.dev/my-proj/exec/py:2"
    spec0["env"] = [{"name": "KEEP", "value": "no"}, {"name": "B", "value": "2"}]
    expected["workerPoolSpecs"][1]["pythonPackageSpec"]["env"] = [
        {"name": "KEEP", "value": "no"},
        {"name": "B", "value": "2"},
    ]
    assert job["jobSpec"] == expected
    assert "containerSpec" not in job["jobSpec"]["workerPoolSpecs"][0]
    assert job["labels"]["kind"] == "py"


@pytest.mark.parametrize(
    ("attrs", "field"),
    [({"poolType": "container"}, "attributes.poolType"), ({"workerPoolCount": 3}, "attributes.workerPoolCount")],
)
def test_template_shape_mismatch_is_400(attrs: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as info:
        build_job(request(template=True, attributes=attrs), python_template(), KEY, NOW)
    assert (info.value.http, info.value.field) == (400, field)


def test_template_matching_shape_passes() -> None:
    build_job(
        request(template=True, attributes={"workerPoolCount": 2, "poolType": "container"}),
        container_template(),
        KEY,
        NOW,
    )


@pytest.mark.parametrize("job_spec", [None, {}, {"workerPoolSpecs": []}])
def test_template_without_pools_is_400(job_spec: Any) -> None:
    with pytest.raises(ApiError) as info:
        build_job(request(template=True), {"name": TEMPLATE_NAME, "jobSpec": job_spec}, KEY, NOW)
    assert (info.value.http, info.value.field) == (400, "externalId")


def test_encryption_spec_copied_not_shared() -> None:
    template = container_template()
    job = build_job(request(template=True), template, KEY, NOW)
    assert job["encryptionSpec"] == template["encryptionSpec"]
    job["encryptionSpec"]["kmsKeyName"] = "changed"
    assert template["encryptionSpec"]["kmsKeyName"].endswith("/cryptoKeys/k")


def test_timeout_sets_scheduling_timeout_without_template_scheduling() -> None:
    template = python_template()
    spec = build_job(request(template=True, attributes={"timeout": "60s"}), template, KEY, NOW)["jobSpec"]
    assert spec["scheduling"] == {"timeout": "60s"}


# --- env limit -----------------------------------------------------------------------------------------------------


def many(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [p(f"P{i}", str(i)) for i in range(start, start + n)]


def test_env_100_is_fine_101_is_400_naming_the_parameter() -> None:
    build_job(request(parameters=many(100)), None, KEY, NOW)
    with pytest.raises(ApiError) as info:
        build_job(request(parameters=many(101)), None, KEY, NOW)
    err = info.value
    assert (err.http, err.status, err.field) == (400, "INVALID_ARGUMENT", "parameters[100]")
    assert "P100" in err.message and "100" in err.message


def test_env_limit_counts_template_env() -> None:
    template = container_template()  # pool 0 has EPOCHS and DATA
    params = many(98) + [p("EPOCHS", "5")]  # EPOCHS overrides, so 100 in pool 0
    build_job(request(template=True, parameters=params), template, KEY, NOW)
    with pytest.raises(ApiError) as info:
        build_job(request(template=True, parameters=many(99)), template, KEY, NOW)
    assert info.value.http == 400
    assert info.value.field == "parameters[98]" and "P98" in info.value.message


def test_env_limit_ignores_output_parameters() -> None:
    params = [{"name": "OUT", "direction": "Output"}, *many(100)]
    build_job(request(parameters=params), None, KEY, NOW)
    with pytest.raises(ApiError) as info:
        build_job(request(parameters=[{"name": "OUT", "direction": "Output"}, *many(101)]), None, KEY, NOW)
    assert info.value.field == "parameters[101]"


# --- labels ---------------------------------------------------------------------------------------------------------


def test_labels_template_kept_ours_win() -> None:
    labels = job_labels(
        {
            "team": "ml",
            "managed-by": "someone-else",
            "polysync-request": "old-run-key",
            "polysync-job": "old",
            "polysync-shard": "99",
            "polysync-other": "x",
        },
        KEY,
        "Nightly Train",
    )
    assert labels == {"team": "ml", **our_labels("Nightly Train")}
    assert labels["polysync-job"] == "nightly-train"
    assert_labels_valid(labels)


def test_labels_limit_64() -> None:
    job_labels({f"l{i}": "v" for i in range(60)}, KEY, "j")
    with pytest.raises(ApiError) as info:
        job_labels({f"l{i}": "v" for i in range(61)}, KEY, "j")
    assert (info.value.http, info.value.field) == (400, "externalId")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nightly-train", "nightly-train"),
        ("Nightly Train", "nightly-train"),
        ("caf\u00e9_ML", "cafe_ml"),
        ("---", "job"),
        ("\u8bad\u7ec3", "job"),
        ("a" * 100, "a" * 63),
        ("a" * 62 + "-b", "a" * 62),
    ],
)
def test_label_value_normalisation(name: str, expected: str) -> None:
    assert label_value(name) == expected


def test_shard_label() -> None:
    labels = job_labels(None, KEY, "j")
    assert labels[LABEL_SHARD] == f"{shard_of(KEY):02d}"
    assert 0 <= shard_of(KEY) < SHARDS


@given(
    job_name=st.text(min_size=1, max_size=600),
    request_id=st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True),
    template_labels=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_-]{0,62}", fullmatch=True),
        st.from_regex(r"[a-z0-9_-]{0,63}", fullmatch=True),
        max_size=8,
    ),
)
def test_property_labels_always_valid(job_name: str, request_id: str, template_labels: dict[str, str]) -> None:
    key = request_key(request_id)
    req = SubmitRequest(
        request_id,
        job_name,
        JobResourceName("my-proj", "us-central1", "1", "customJobs"),
        {},
        (Parameter("A", "Input", "String", "1"),),
        "f",
    )
    template = {"labels": template_labels, "jobSpec": {"workerPoolSpecs": [{"containerSpec": {"imageUri": "i"}}]}}
    job = build_job(req, template, key, NOW)
    labels = job["labels"]
    assert_labels_valid(labels)
    assert labels["managed-by"] == "polysync-vertex"
    assert labels["polysync-request"] == key
    for k, v in template_labels.items():
        if not k.startswith("polysync-") and k != "managed-by":
            assert labels[k] == v
    assert len(job["displayName"]) <= MAX_DISPLAY_NAME
    assert job["displayName"].endswith("_" + STAMP)


# --- request key ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids", [("Run-1", "run-1", "RUN-1"), ("a.b", "a:b", "a-b", "a_b", "a--b"), ("x" * 128, "x" * 127 + "y")]
)
def test_request_key_distinct(ids: tuple[str, ...]) -> None:
    keys = [request_key(i) for i in ids]
    assert len(set(keys)) == len(keys)


def test_request_key_stable() -> None:
    assert request_key("run-2026-11-22-0001") == request_key("run-2026-11-22-0001")
    assert request_key("run-2026-11-22-0001").startswith("run-2026-11-22-0001-")


@given(
    a=st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True),
    b=st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True),
)
def test_property_request_key_valid_and_injective(a: str, b: str) -> None:
    ka, kb = request_key(a), request_key(b)
    assert LABEL_VALUE_RE.fullmatch(ka) and ka
    assert "/" not in ka  # also a Firestore document id
    assert (ka == kb) == (a == b)


# --- display name ---------------------------------------------------------------------------------------------------


def test_display_name_contract_example() -> None:
    assert display_name("nightly-train", NOW) == "nightly-train_20261122T081500Z"


def test_display_name_converts_to_utc() -> None:
    local = datetime(2026, 11, 22, 9, 15, 0, tzinfo=timezone(timedelta(hours=1)))
    assert display_name("j", local) == "j_20261122T081500Z"


@pytest.mark.parametrize("length", [1, 110, 111, 112, 127, 128, 129, 512])
def test_display_name_cut_to_128(length: int) -> None:
    name = display_name("n" * length, NOW)
    assert len(name) == min(length + 1 + len(STAMP), MAX_DISPLAY_NAME)
    assert name.endswith("_" + STAMP)
    assert MAX_DISPLAY_NAME == 128


@given(st.text(min_size=1, max_size=1000))
def test_property_display_name_at_most_128(job_name: str) -> None:
    name = display_name(job_name, NOW)
    assert len(name) <= 128
    assert name.endswith("_" + STAMP)
    assert job_name.startswith(name[: -len(STAMP) - 1])


def test_build_job_display_name() -> None:
    job = build_job(request(job_name="x" * 512), None, KEY, NOW)
    assert job["displayName"] == "x" * 111 + "_" + STAMP
