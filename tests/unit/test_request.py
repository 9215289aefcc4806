"""Submit request validation: every field rule, each error naming its JSON path (contract: submit, Errors)."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysync_vertex.core.errors import ApiError
from polysync_vertex.core.names import JobResourceName
from polysync_vertex.core.parameters import Parameter, format_number, format_value
from polysync_vertex.core.request import MAX_BODY_BYTES, fingerprint, parse_json_object, parse_submit

TEMPLATE = "projects/my-proj/locations/us-central1/customJobs/1234567890"


def body(**overrides: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "requestId": "run-2026-11-22-0001",
        "jobName": "nightly-train",
        "attributes": {"machineType": "n1-standard-4", "containerImageUri": "us-docker.pkg.dev/my-proj/train/t:1.4"},
    }
    for k, v in overrides.items():
        if v is _DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return b


_DROP = object()


def assert_invalid(b: dict[str, Any], field: str | None) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_submit(b)
    err = info.value
    assert (err.http, err.status) == (400, "INVALID_ARGUMENT"), err.message
    assert err.field == field, err.message
    assert err.message
    return err


def param(name: str = "P", direction: str = "Input", ptype: str = "String", value: Any = "v") -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "direction": direction, "type": ptype}
    if value is not _DROP:
        p["value"] = value
    return p


def env_value(ptype: str, value: Any) -> str | None:
    req = parse_submit(body(parameters=[param("X", "Input", ptype, value)]))
    return req.parameters[0].value


# --- the contract's example ---------------------------------------------------------------------------------


def test_contract_example() -> None:
    example = {
        "requestId": "run-2026-11-22-0001",
        "jobName": "nightly-train",
        "externalId": "projects/my-proj/locations/us-central1/customJobs/1234567890",
        "attributes": {
            "machineType": "n1-standard-4",
            "containerImageUri": "us-docker.pkg.dev/my-proj/train/trainer:1.4",
            "replicaCount": 1,
            "acceleratorType": "NVIDIA_TESLA_T4",
            "acceleratorCount": 1,
        },
        "parameters": [
            {"name": "EPOCHS", "direction": "Input", "type": "Number", "value": 10},
            {"name": "MODE", "direction": "InputOutput", "type": "String", "value": "fast"},
            {"name": "SCORE", "direction": "Output", "type": "Number"},
        ],
    }
    req = parse_submit(example)
    assert req.request_id == "run-2026-11-22-0001"
    assert req.job_name == "nightly-train"
    assert req.template == JobResourceName("my-proj", "us-central1", "1234567890", "customJobs")
    assert req.attributes == example["attributes"]
    assert req.parameters == (
        Parameter("EPOCHS", "Input", "Number", "10"),
        Parameter("MODE", "InputOutput", "String", "fast"),
        Parameter("SCORE", "Output", "Number", None),
    )
    assert req.warnings == ("parameter SCORE (Output) is not supported and was ignored",)
    # The fingerprint is of the request as understood (issue 16): equal for a body spelled differently.
    respelled = {**example, "parameters": [{**example["parameters"][0], "value": "10.0"}, *example["parameters"][1:]]}
    assert req.fingerprint == parse_submit(respelled).fingerprint
    assert req.fingerprint != parse_submit({**example, "jobName": "x"}).fingerprint


# --- requestId ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rid", ["a", "A" * 128, "run-2026-11-22-0001", "a.b:c_d-E9", "...", ":", "-", "_"])
def test_request_id_valid(rid: str) -> None:
    assert parse_submit(body(requestId=rid)).request_id == rid


@pytest.mark.parametrize(
    "rid", ["", "a" * 129, "a b", "a/b", "a\n", "\na", "run\t1", "caf\u00e9", "a@b", "a%2Fb", "a+b", 12, None, True]
)
def test_request_id_invalid(rid: Any) -> None:
    assert_invalid(body(requestId=rid), "requestId")


def test_request_id_missing() -> None:
    assert_invalid(body(requestId=_DROP), "requestId")


@given(st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True))
def test_property_request_id_alphabet_accepted(rid: str) -> None:
    assert parse_submit(body(requestId=rid)).request_id == rid


# --- jobName --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["n", "nightly-train", "N\u00e4chtlich Training \u8bad\u7ec3 \U0001f680", "x" * 512])
def test_job_name_valid(name: str) -> None:
    assert parse_submit(body(jobName=name)).job_name == name


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "a\x00b", "a\x7fb", "x" * 513, 5, ["a"], {"a": 1}, False])
def test_job_name_invalid(name: Any) -> None:
    assert_invalid(body(jobName=name), "jobName")


def test_job_name_missing() -> None:
    assert_invalid(body(jobName=_DROP), "jobName")
    assert_invalid(body(jobName=None), "jobName")


# --- externalId -----------------------------------------------------------------------------------------------


def test_external_id_sets_template_and_makes_attributes_optional() -> None:
    req = parse_submit(body(externalId=TEMPLATE, attributes=_DROP))
    assert req.template == JobResourceName("my-proj", "us-central1", "1234567890", "customJobs")
    assert req.attributes == {}


@pytest.mark.parametrize("ext", [None, ""])
def test_external_id_absent(ext: Any) -> None:
    assert parse_submit(body(externalId=ext)).template is None


@pytest.mark.parametrize(
    "ext",
    [
        "projects/my-proj/locations/us-central1/customJobs/abc",
        "projects/../locations/us-central1/customJobs/1",
        TEMPLATE + "/",
        TEMPLATE.replace("/customJobs/", "%2FcustomJobs%2F"),
        123,
        ["x"],
        {},
        False,
    ],
)
def test_external_id_invalid(ext: Any) -> None:
    assert_invalid(body(externalId=ext), "externalId")


# --- attributes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["machineType", "containerImageUri"])
def test_without_template_machine_type_and_image_required(key: str) -> None:
    attrs = dict(body()["attributes"])
    del attrs[key]
    assert_invalid(body(attributes=attrs), f"attributes.{key}")


def test_without_template_attributes_missing() -> None:
    assert_invalid(body(attributes=_DROP), "attributes.machineType")


@pytest.mark.parametrize("attrs", [[], "x", 1, True])
def test_attributes_not_object(attrs: Any) -> None:
    assert_invalid(body(attributes=attrs), "attributes")


def test_unknown_attribute_is_named() -> None:
    attrs = {**body()["attributes"], "gpuType": "T4"}
    err = assert_invalid(body(attributes=attrs), "attributes.gpuType")
    assert "gpuType" in err.message and "machineType" in err.message


def attrs_with(**extra: Any) -> dict[str, Any]:
    return {**body()["attributes"], **extra}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("replicaCount", 1, 1),
        ("replicaCount", 3.0, 3),
        ("replicaCount", 10000, 10000),
        ("acceleratorCount", 0, 0),
        ("acceleratorCount", 8, 8),
        ("acceleratorType", "NVIDIA_TESLA_T4", "NVIDIA_TESLA_T4"),
        ("timeout", "3600s", "3600s"),
        ("timeout", "1.5s", "1.5s"),
        ("serviceAccount", "trainer@my-proj.iam.gserviceaccount.com", "trainer@my-proj.iam.gserviceaccount.com"),
        ("network", "projects/12345/global/networks/default", "projects/12345/global/networks/default"),
        ("workerPoolCount", 2, 2),
        ("poolType", "container", "container"),
        ("poolType", "pythonPackage", "pythonPackage"),
        ("machineType", "a2-highgpu-1g", "a2-highgpu-1g"),
        ("containerImageUri", "gcr.io/p/i@sha256:" + "a" * 64, "gcr.io/p/i@sha256:" + "a" * 64),
    ],
)
def test_attribute_valid(key: str, value: Any, expected: Any) -> None:
    got = parse_submit(body(attributes=attrs_with(**{key: value}))).attributes[key]
    assert got == expected and type(got) is type(expected)


def test_null_attribute_is_dropped() -> None:
    assert "timeout" not in parse_submit(body(attributes=attrs_with(timeout=None))).attributes


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("replicaCount", "1"),
        ("replicaCount", 1.5),
        ("replicaCount", True),
        ("replicaCount", 0),
        ("replicaCount", 10001),
        ("replicaCount", -1),
        ("replicaCount", 1e400),  # JSON 1e400 decodes to inf: a 400, never a crash
        ("replicaCount", [1]),
        ("acceleratorCount", 65),
        ("acceleratorCount", -1),
        ("acceleratorCount", "1"),
        ("workerPoolCount", 0),
        ("machineType", "N1-STANDARD-4"),
        ("machineType", ""),
        ("machineType", 4),
        ("machineType", "n1-standard-4\n"),
        ("containerImageUri", "has space:1"),
        ("containerImageUri", ""),
        ("containerImageUri", 1),
        ("acceleratorType", "nvidia_tesla_t4"),
        ("acceleratorType", 1),
        ("timeout", "3600"),
        ("timeout", "1h"),
        ("timeout", 3600),
        ("timeout", "-5s"),
        ("timeout", "3600s\n"),
        ("serviceAccount", "not-an-email"),
        ("network", "default"),
        ("poolType", "tpu"),
        ("poolType", 1),
    ],
)
def test_attribute_invalid(key: str, value: Any) -> None:
    assert_invalid(body(attributes=attrs_with(**{key: value})), f"attributes.{key}")


def test_attribute_huge_float_from_json_is_400() -> None:
    raw = b'{"requestId":"r","jobName":"j",'
    raw += b'"attributes":{"machineType":"n1","containerImageUri":"i","replicaCount":1e400}}'
    assert_invalid(parse_json_object(raw), "attributes.replicaCount")


# --- parameters: shape, names, direction, type ------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, "EPOCHS=1", 1, True])
def test_parameters_not_array(params: Any) -> None:
    assert_invalid(body(parameters=params), "parameters")


@pytest.mark.parametrize("item", ["EPOCHS", 1, None, ["EPOCHS"]])
def test_parameter_not_object(item: Any) -> None:
    assert_invalid(body(parameters=[param("A"), item]), "parameters[1]")


def test_no_parameters() -> None:
    for params in (None, []):
        req = parse_submit(body(parameters=params))
        assert req.parameters == () and req.warnings == ()


@pytest.mark.parametrize("name", ["A", "_", "_a1", "epochs", "EPOCHS_2", "a" * 255])
def test_parameter_name_valid(name: str) -> None:
    assert parse_submit(body(parameters=[param(name)])).parameters[0].name == name


@pytest.mark.parametrize(
    "name", ["", "1A", "A-B", "A.B", "A B", "A=B", "\u00c4", "A\n", "a" * 256, None, 1, ["A"], "$A", "A\x00"]
)
def test_parameter_name_invalid(name: Any) -> None:
    assert_invalid(body(parameters=[param("OK"), param(name)]), "parameters[1].name")


def test_parameter_name_missing() -> None:
    assert_invalid(body(parameters=[param("OK"), {"direction": "Input", "value": "x"}]), "parameters[1].name")


def test_parameter_names_unique() -> None:
    err = assert_invalid(body(parameters=[param("A"), param("B"), param("A")]), "parameters[2].name")
    assert "A" in err.message


def test_parameter_names_case_sensitive() -> None:
    assert len(parse_submit(body(parameters=[param("a"), param("A")])).parameters) == 2


def test_duplicate_with_output_is_still_a_duplicate() -> None:
    assert_invalid(body(parameters=[param("A"), param("A", "Output", value=_DROP)]), "parameters[1].name")


@pytest.mark.parametrize("direction", ["input", "Out", "", 1, None, "InOut"])
def test_parameter_direction_invalid(direction: Any) -> None:
    assert_invalid(body(parameters=[param("A"), param("B", direction=direction)]), "parameters[1].direction")


@pytest.mark.parametrize("ptype", ["string", "Integer", "Int", "Float", "", 1, None, "Json"])
def test_parameter_type_invalid(ptype: Any) -> None:
    assert_invalid(body(parameters=[param("A", ptype=ptype)]), "parameters[0].type")


@pytest.mark.parametrize("direction", ["Input", "InputOutput"])
@pytest.mark.parametrize("ptype", ["String", "Number", "Boolean", "Date", "DateTime"])
def test_input_value_required(direction: str, ptype: str) -> None:
    assert_invalid(body(parameters=[param("A", direction, ptype, _DROP)]), "parameters[0].value")
    assert_invalid(body(parameters=[param("A", direction, ptype, None)]), "parameters[0].value")


# --- parameters: Output -------------------------------------------------------------------------------------------


def test_output_parameters_ignored_with_warning() -> None:
    req = parse_submit(
        body(
            parameters=[
                {"name": "SCORE", "direction": "Output", "type": "Number"},
                param("MODE", "Input", "String", "fast"),
                {"name": "MODEL_URI", "direction": "Output", "type": "String", "value": "ignored"},
            ]
        )
    )
    assert req.warnings == (
        "parameter SCORE (Output) is not supported and was ignored",
        "parameter MODEL_URI (Output) is not supported and was ignored",
    )
    assert [p.value for p in req.parameters] == [None, "fast", None]


# --- parameter values -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10, "10"),
        (10.0, "10"),
        (0.1, "0.1"),
        (-3, "-3"),
        (-3.0, "-3"),
        (0, "0"),
        (-0.0, "0"),
        (2.5, "2.5"),
        (1e21, "1e+21"),
        (123456789012345678901234567890, "123456789012345678901234567890"),
        (0.30000000000000004, "0.30000000000000004"),
        ("7", "7"),
        ("7.50", "7.5"),
        ("-3", "-3"),
        ("1e3", "1000"),
    ],
)
def test_number_shortest_decimal(value: Any, expected: str) -> None:
    assert env_value("Number", value) == expected
    assert format_number(value, "p") == expected


def test_number_from_raw_json() -> None:
    raw = b'{"requestId":"r","jobName":"j","attributes":{"machineType":"n1","containerImageUri":"i"},'
    raw += b'"parameters":[{"name":"A","type":"Number","value":10.0},{"name":"B","type":"Number","value":1E21},'
    raw += b'{"name":"C","type":"Number","value":0.10}]}'
    req = parse_submit(parse_json_object(raw))
    assert [p.value for p in req.parameters] == ["10", "1e+21", "0.1"]


@pytest.mark.parametrize("value", ["abc", "", "1,5", "nan", "NaN", "inf", "Infinity", "1e999", True, False, [1], {}])
def test_number_invalid(value: Any) -> None:
    assert_invalid(body(parameters=[param("N", ptype="Number", value=value)]), "parameters[0].value")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_number_non_finite(value: float) -> None:
    with pytest.raises(ApiError) as info:
        format_number(value, "parameters[0].value")
    assert (info.value.http, info.value.field) == (400, "parameters[0].value")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_property_number_float_round_trips_and_is_short(value: float) -> None:
    out = format_number(value, "p")
    assert float(out) == value
    assert not out.endswith(".0")
    assert len(out) <= len(repr(value))


@given(st.integers())
def test_property_number_int_exact(value: int) -> None:
    assert format_number(value, "p") == str(value)


@pytest.mark.parametrize(
    ("value", "expected"), [(True, "true"), (False, "false"), ("true", "true"), ("false", "false"), ("TRUE", "true")]
)
def test_boolean(value: Any, expected: str) -> None:
    assert env_value("Boolean", value) == expected


@pytest.mark.parametrize("value", [1, 0, "yes", "1", "", [True]])
def test_boolean_invalid(value: Any) -> None:
    assert_invalid(body(parameters=[param("B", ptype="Boolean", value=value)]), "parameters[0].value")


@pytest.mark.parametrize(("value", "expected"), [("2026-11-22", "2026-11-22"), ("2024-02-29", "2024-02-29")])
def test_date(value: str, expected: str) -> None:
    assert env_value("Date", value) == expected


@pytest.mark.parametrize("value", ["2026-13-01", "2025-02-29", "22.11.2026", "tomorrow", "", 20261122, None])
def test_date_invalid(value: Any) -> None:
    assert_invalid(body(parameters=[param("D", ptype="Date", value=value)]), "parameters[0].value")


@pytest.mark.parametrize(
    "value", ["2026-11-22T08:15:00Z", "2026-11-22T08:15:00+01:00", "2026-11-22T08:15:00.123456Z", "2026-11-22T08:15"]
)
def test_datetime_iso_8601_kept(value: str) -> None:
    assert env_value("DateTime", value) == value


@pytest.mark.parametrize("value", ["2026-11-22T25:00:00Z", "now", "", 1763799300, "22/11/2026 08:15"])
def test_datetime_invalid(value: Any) -> None:
    assert_invalid(body(parameters=[param("T", ptype="DateTime", value=value)]), "parameters[0].value")


@pytest.mark.parametrize("value", ["fast", "", "  spaced  ", "line1\nline2", "\u00e9\u8bad\U0001f680", "x" * 32768])
def test_string_as_is(value: str) -> None:
    assert env_value("String", value) == value


@pytest.mark.parametrize("value", [5, 1.5, True, ["a"], {"a": 1}, "x" * 32769])
def test_string_invalid(value: Any) -> None:
    assert_invalid(body(parameters=[param("S", ptype="String", value=value)]), "parameters[0].value")


def test_default_direction_and_type() -> None:
    req = parse_submit(body(parameters=[{"name": "A", "value": "x"}]))
    assert req.parameters == (Parameter("A", "Input", "String", "x"),)


def test_format_value_field_is_passed_through() -> None:
    with pytest.raises(ApiError) as info:
        format_value("Number", "x", "parameters[7].value")
    assert info.value.field == "parameters[7].value"


# --- raw body -------------------------------------------------------------------------------------------------------


def test_body_too_large_is_413() -> None:
    raw = json.dumps({"requestId": "r", "pad": "x" * MAX_BODY_BYTES}).encode()
    with pytest.raises(ApiError) as info:
        parse_json_object(raw)
    assert info.value.http == 413
    assert MAX_BODY_BYTES == 256 * 1024


def test_body_of_exactly_256_kib_accepted() -> None:
    prefix = b'{"pad":"'
    raw = prefix + b"x" * (MAX_BODY_BYTES - len(prefix) - 2) + b'"}'
    assert len(raw) == MAX_BODY_BYTES
    assert parse_json_object(raw)["pad"].startswith("x")
    with pytest.raises(ApiError) as info:
        parse_json_object(raw[:-2] + b'x"}')
    assert info.value.http == 413


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"{'a': 1}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b"\xff\xfe{}",
        b'{"a": "\xff"}',
        b"[]",
        b'"x"',
        b"1",
        b"null",
        b"true",
        b'{"a": 1} {"b": 2}',
        b'{"a": "\\ud800"}',
        b'{"\\udfff": 1}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ],
)
def test_body_invalid_json_is_400(raw: bytes) -> None:
    with pytest.raises(ApiError) as info:
        parse_json_object(raw)
    assert (info.value.http, info.value.status) == (400, "INVALID_ARGUMENT")


def nested(levels: int) -> bytes:
    """A JSON object `levels` deep (the top-level object is level 1)."""
    return b'{"a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)


def test_depth_limit() -> None:
    assert parse_json_object(nested(32))
    with pytest.raises(ApiError) as info:
        parse_json_object(nested(33))
    assert info.value.http == 400


def test_valid_unicode_body() -> None:
    assert (
        parse_json_object('{"jobName": "\u8bad\u7ec3 \\ud83d\\ude80"}'.encode())["jobName"] == "\u8bad\u7ec3 \U0001f680"
    )


# --- fingerprint ----------------------------------------------------------------------------------------------------


def test_fingerprint_stable_under_key_order() -> None:
    a = body(parameters=[param("A", value="1")])
    b = json.loads(json.dumps(dict(reversed(list(a.items())))))
    b["attributes"] = dict(reversed(list(b["attributes"].items())))
    assert list(a) != list(b)
    assert parse_submit(a).fingerprint == parse_submit(b).fingerprint
    assert parse_submit(parse_json_object(json.dumps(a, indent=2).encode())).fingerprint == parse_submit(a).fingerprint


def test_fingerprint_changes_with_content() -> None:
    base = parse_submit(body()).fingerprint
    assert parse_submit(body(jobName="other")).fingerprint != base
    assert parse_submit(body(parameters=[param("A")])).fingerprint != base
    assert parse_submit(body(attributes=attrs_with(replicaCount=2))).fingerprint != base


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


def shuffled(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rnd) for v in value]
    return value


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6), st.randoms(use_true_random=False))
def test_property_fingerprint_ignores_key_order(value: dict[str, Any], rnd: random.Random) -> None:
    assert fingerprint(shuffled(value, rnd)) == fingerprint(value)
