"""Custom Job Output parameters (issue 26): where the job writes them, and how the object it wrote becomes the run's
`outputs` — typed by the declared type, `_error` naming every fault, an InputOutput not written keeping its value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polysync_vertex.core import outputs
from polysync_vertex.core.errors import ApiError
from polysync_vertex.core.kinds import BATCH, CUSTOM, PIPELINE
from polysync_vertex.core.outputs import Declared
from polysync_vertex.core.request import parse_submit

URI = "gs://outs/polysync-outputs/k1/outputs.json"
PARAMS = (
    Declared("SCORE", "Number", "Output"),
    Declared("OK", "Boolean", "Output"),
    Declared("MODEL", "String", "Output"),
    Declared("DAY", "Date", "Output"),
    Declared("AT", "DateTime", "Output"),
    Declared("META", "JSON", "Output"),
    Declared("MODE", "String", "InputOutput", "fast"),
)


def read(obj: Any, params: tuple[Declared, ...] = PARAMS) -> dict[str, Any]:
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return outputs.read(params, data, URI)


def test_location_is_the_request_keys_object_under_the_prefix() -> None:
    loc = outputs.location("outs", "polysync-outputs", "run-1-abc")
    assert loc.uri == "gs://outs/polysync-outputs/run-1-abc/outputs.json"
    assert loc.path == "/gcs/outs/polysync-outputs/run-1-abc/outputs.json"
    assert loc.env() == [
        {"name": "POLYSYNC_OUTPUTS_PATH", "value": loc.path},
        {"name": "POLYSYNC_OUTPUTS_URI", "value": loc.uri},
    ]
    assert outputs.location("outs", "/a//b/", "k").object == "a/b/k/outputs.json"
    assert outputs.location("outs", "", "k").uri == "gs://outs/k/outputs.json"
    assert outputs.parse_uri(loc.uri) == loc
    assert outputs.parse_uri("/gcs/outs/x") is None
    assert outputs.parse_uri("gs://outs") is None


def test_declared_takes_output_and_inputoutput_parameters_with_the_submitted_value() -> None:
    request = parse_submit(
        {
            "requestId": "r1",
            "jobName": "j",
            "attributes": {"machineType": "n1-standard-4", "containerImageUri": "us-docker.pkg.dev/p/r/i:1"},
            "parameters": [
                {"name": "EPOCHS", "type": "Number", "value": 10},
                {"name": "MODE", "direction": "InputOutput", "type": "String", "value": "fast"},
                {"name": "SCORE", "direction": "Output", "type": "Number"},
            ],
        }
    )
    found = outputs.declared(request.parameters)
    assert found == (Declared("MODE", "String", "InputOutput", "fast"), Declared("SCORE", "Number", "Output"))
    assert [Declared.from_record(d.to_record()) for d in found] == list(found)


def test_every_type_typed_and_delivered() -> None:
    got = read(
        {
            "SCORE": 0.25,
            "OK": True,
            "MODEL": "gs://m/1",
            "DAY": "2026-12-03",
            "AT": "2026-12-03T10:00:00Z",
            "META": {"a": [1, 2]},
            "MODE": "slow",
        }
    )
    assert got == {
        "SCORE": 0.25,
        "OK": True,
        "MODEL": "gs://m/1",
        "DAY": "2026-12-03",
        "AT": "2026-12-03T10:00:00Z",
        "META": {"a": [1, 2]},
        "MODE": "slow",
    }


def test_whole_number_floats_are_ints() -> None:
    assert read({"SCORE": 3.0})["SCORE"] == 3 and isinstance(read({"SCORE": 3.0})["SCORE"], int)


def test_not_written_is_null_and_an_inputoutput_keeps_its_submitted_value() -> None:
    got = read({"SCORE": 1})
    assert got["SCORE"] == 1 and got["OK"] is None and got["MODE"] == "fast"
    assert "_error" not in got
    assert read({"MODE": None})["MODE"] == "fast"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCORE", "0.9"),
        ("SCORE", True),
        ("OK", "true"),
        ("OK", 1),
        ("MODEL", 5),
        ("DAY", "03.12.2026"),
        ("AT", "yesterday"),
        ("META", "{}"),
        ("META", 3),
        ("MODE", ["x"]),
    ],
)
def test_a_value_of_the_wrong_type_is_ignored_and_named(name: str, value: Any) -> None:
    got = read({name: value, "MODEL": "kept"} if name != "MODEL" else {name: value})
    assert got[name] == ("fast" if name == "MODE" else None)
    assert name in got["_error"] and "wrong type" in got["_error"] and URI in got["_error"]
    if name != "MODEL":
        assert got["MODEL"] == "kept"


def test_an_undeclared_name_is_ignored_and_named() -> None:
    got = read({"SCORE": 1, "LOSS": 0.1})
    assert "LOSS" not in got and got["SCORE"] == 1
    assert "undeclared" in got["_error"] and "LOSS" in got["_error"]


def test_many_faults_are_named_up_to_a_bound() -> None:
    got = read({f"X{i}": i for i in range(25)})
    assert "X0" in got["_error"] and "and 15 more" in got["_error"] and "X24" not in got["_error"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"", "not valid UTF-8 JSON"),
        (b'{"SCORE": NaN}', "not valid UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"SCORE"', "not a JSON object"),
    ],
)
def test_an_object_that_is_not_a_json_object_keeps_nothing(data: bytes, says: str) -> None:
    got = read(data)
    assert {k: v for k, v in got.items() if k != "_error"} == {p.name: p.value for p in PARAMS}
    assert says in got["_error"] and URI in got["_error"]


def test_an_object_over_one_mib_is_ignored() -> None:
    data = json.dumps({"MODEL": "x" * outputs.MAX_OBJECT_BYTES}).encode()
    got = read(data)
    assert got["MODEL"] is None and "larger than 1048576 bytes" in got["_error"]
    just_fits = json.dumps({"MODEL": "x" * 100}).encode().ljust(outputs.MAX_OBJECT_BYTES)
    assert read(just_fits)["MODEL"] == "x" * 100


def test_values_over_what_a_run_keeps_drop_the_largest_first() -> None:
    big = "y" * (outputs.MAX_KEPT_BYTES - 100)
    got = read({"MODEL": big, "META": {"z": "z" * 2000}, "SCORE": 1})
    assert got["MODEL"] is None and got["META"] == {"z": "z" * 2000} and got["SCORE"] == 1
    assert "MODEL" in got["_error"] and "at most 262144 bytes" in got["_error"]
    assert len(json.dumps(got)) < outputs.MAX_KEPT_BYTES + 1000


def test_missing_object_names_each_output_null_and_where_it_looked() -> None:
    got = outputs.missing(PARAMS, URI)
    assert {k: v for k, v in got.items() if k != "_error"} == {p.name: p.value for p in PARAMS}
    assert URI in got["_error"] and "POLYSYNC_OUTPUTS_PATH" in got["_error"]


def test_an_unreadable_object_says_why() -> None:
    got = outputs.unreadable(PARAMS, URI, "PERMISSION_DENIED: no storage.objects.get")
    assert got["SCORE"] is None and got["MODE"] == "fast"
    assert "PERMISSION_DENIED" in got["_error"] and URI in got["_error"]


VALUES = (
    st.none() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.booleans() | st.text(max_size=8)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([p.name for p in PARAMS] + ["OTHER"]), VALUES))
def test_any_object_gives_every_declared_name_and_only_those(obj: dict[str, Any]) -> None:
    got = read(obj)
    assert set(got) - {"_error"} == {p.name for p in PARAMS}
    for p in PARAMS:
        if obj.get(p.name) is not None and p.name not in got.get("_error", ""):
            assert got[p.name] == obj[p.name]


def custom_job(pool0_env: list[dict[str, str]] | None = None, python_package: bool = False) -> dict[str, Any]:
    spec_key = "pythonPackageSpec" if python_package else "containerSpec"
    pool0: dict[str, Any] = {"machineSpec": {"machineType": "n1-standard-4"}, spec_key: {"env": pool0_env or []}}
    return {"jobSpec": {"workerPoolSpecs": [pool0, {"containerSpec": {"env": [{"name": "B", "value": "1"}]}}]}}


@pytest.mark.parametrize("python_package", [False, True])
def test_pool_0_gets_the_two_variables_replacing_stale_ones(python_package: bool) -> None:
    job = custom_job([{"name": "A", "value": "1"}, {"name": "POLYSYNC_OUTPUTS_URI", "value": "old"}], python_package)
    where = outputs.location("b", "p", "k")
    CUSTOM.add_outputs_file(job, where)
    pools = job["jobSpec"]["workerPoolSpecs"]
    spec = pools[0]["pythonPackageSpec" if python_package else "containerSpec"]
    assert spec["env"] == [{"name": "A", "value": "1"}, *where.env()]
    assert pools[1]["containerSpec"]["env"] == [{"name": "B", "value": "1"}]


def test_the_env_limit_counts_the_two_variables() -> None:
    job = custom_job([{"name": f"E{i}", "value": "1"} for i in range(98)])
    CUSTOM.add_outputs_file(job, outputs.location("b", "p", "k"))
    with pytest.raises(ApiError) as info:
        CUSTOM.add_outputs_file(
            custom_job([{"name": f"E{i}", "value": "1"} for i in range(99)]), outputs.location("b", "p", "k")
        )
    assert info.value.field == "parameters" and "101 environment variables" in info.value.message


def test_only_kinds_that_write_a_file_take_one() -> None:
    assert [k.outputs_via_file for k in (CUSTOM, PIPELINE, BATCH)] == [True, False, False]
    with pytest.raises(NotImplementedError):
        BATCH.add_outputs_file({}, outputs.location("b", "p", "k"))


@pytest.mark.parametrize(
    ("outputs_file", "job_type", "warned"),
    [(False, None, True), (True, None, False), (True, "Vertex AI Batch Prediction Job", True)],
)
def test_output_parameters_are_warned_about_unless_a_file_takes_them(
    outputs_file: bool, job_type: str | None, warned: bool
) -> None:
    body: dict[str, Any] = {
        "requestId": "r1",
        "jobName": "j",
        "attributes": {"machineType": "n1-standard-4", "containerImageUri": "us-docker.pkg.dev/p/r/i:1"},
        "parameters": [{"name": "SCORE", "direction": "Output", "type": "Number"}],
    }
    if job_type:
        body["jobType"] = job_type
        body["attributes"] = {
            "model": "projects/my-proj/locations/us-central1/models/1",
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://in-bucket/a.jsonl"]}},
            "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://out-bucket/p"}},
        }
    warnings = parse_submit(body, outputs_file=outputs_file).warnings
    assert bool(warnings) is warned
