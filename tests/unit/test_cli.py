"""The CLI's own decisions, without a stack (issue 29): parameter types, attributes as JSON, Output declarations,
types from the template's schema, hints on the connector's errors, and reading events from an unreachable Pub/Sub
(back-off, not a busy loop) with a fake subscriber and a fake clock."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from polysync_local.client import EventReader, PubSubUnavailable, Response, format_event
from polysync_local.params import (
    apply_schema,
    attribute_hint,
    parse_attr,
    parse_job_type,
    parse_output,
    parse_param,
)


# -- --param: a :Type suffix that names no type is refused ---------------------------------------------------
@pytest.mark.parametrize(("text", "suggestion"), [("EPOCHS=10:Numbr", ":Number"), ("F=true:bool", ":Boolean")])
def test_a_misspelt_type_is_refused_with_the_type_meant(text: str, suggestion: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as err:
        parse_param(text)
    message = str(err.value)
    assert f"did you mean {suggestion}?" in message
    assert "String, Number, Boolean, Date, DateTime, JSON" in message, "the message says which types exist"


def test_an_unknown_capitalised_type_is_refused_and_the_way_to_keep_it_as_text_is_named() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"unknown type ':Integer'.*E=10:Integer:String"):
        parse_param("E=10:Integer")
    assert parse_param("E=10:Integer:String")["value"] == "10:Integer"


@pytest.mark.parametrize("text", ["URL=gs://bucket/a:b", "MODE=fast:slow", "AT=2026-11-22T08:15:00Z", "HOST=h:8080"])
def test_colons_that_do_not_look_like_a_type_stay_in_the_value(text: str) -> None:
    param = parse_param(text)
    assert param["type"] == "String" and param["value"] == text.split("=", 1)[1]


# -- --attr, --output, --job-type ----------------------------------------------------------------------------
def test_an_attribute_takes_json_objects_and_arrays() -> None:
    assert parse_attr('inputConfig={"instancesFormat":"jsonl","gcsSource":{"uris":["gs://b/x"]}}') == (
        "inputConfig",
        {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/x"]}},
    )
    assert parse_attr("replicaCount=2") == ("replicaCount", 2)
    assert parse_attr("machineType=n1-standard-4") == ("machineType", "n1-standard-4")
    with pytest.raises(argparse.ArgumentTypeError, match="is not JSON"):
        parse_attr("inputConfig={bad")


def test_output_declares_a_parameter_without_a_value() -> None:
    assert parse_output("score:Number") == {"name": "score", "direction": "Output", "type": "Number"}
    assert parse_output("uri") == {"name": "uri", "direction": "Output", "type": "String"}
    with pytest.raises(argparse.ArgumentTypeError):
        parse_output("score:Numbr")


def test_job_type_short_and_full_names() -> None:
    assert parse_job_type("batch") == "Vertex AI Batch Prediction Job"
    assert parse_job_type("Pipeline") == "Vertex AI Pipeline Job"
    assert parse_job_type("Vertex AI Custom Job") == "Vertex AI Custom Job"
    with pytest.raises(argparse.ArgumentTypeError, match="custom, pipeline, batch"):
        parse_job_type("training")


def test_untyped_parameters_take_the_type_the_template_declares() -> None:
    schema = [
        {"name": "epochs", "type": "Number", "direction": "Input"},
        {"name": "optimizer", "type": "JSON", "direction": "Input"},
        {"name": "score", "type": "Number", "direction": "Output"},
    ]
    given = [parse_param("epochs=10"), parse_param('optimizer={"a":1}'), parse_param("note=x"), parse_output("score")]
    assert apply_schema(given, schema) == [
        {"name": "epochs", "direction": "Input", "type": "Number", "value": 10},
        {"name": "optimizer", "direction": "Input", "type": "JSON", "value": {"a": 1}},
        {"name": "note", "direction": "Input", "type": "String", "value": "x"},
        {"name": "score", "direction": "Output", "type": "Number"},
    ]
    explicit = [parse_param("epochs=10:String")]
    assert apply_schema(explicit, schema)[0]["value"] == "10", "a type the user named wins"
    with pytest.raises(argparse.ArgumentTypeError, match="not a number"):
        apply_schema([parse_param("epochs=ten")], schema)


# -- hints on the connector's answers ------------------------------------------------------------------------
def test_unknown_attribute_hints() -> None:
    supported = "unknown attribute 'machinType'; supported: acceleratorCount, machineType, replicaCount"
    assert "did you mean --attr machineType=...?" in attribute_hint(supported, "attributes.machinType", "")
    other = "unknown attribute 'model'; supported: containerImageUri, machineType"
    hint = attribute_hint(other, "attributes.model", "Vertex AI Custom Job")
    assert "Vertex AI Batch Prediction Job" in hint and "--job-type batch" in hint
    assert attribute_hint("jobName is required", "jobName", "") == ""


def test_a_transport_failure_has_a_json_error_and_says_what_to_check() -> None:
    resp = Response(0, None, "http://127.0.0.1:1/: [Errno 111] Connection refused")
    body = resp.error_body()
    assert body["error"]["status"] == "UNAVAILABLE"
    assert "is the local stack running" in body["error"]["message"] and "stale" in body["error"]["message"]
    assert resp.exit_code == 4


def test_event_lines_do_not_cut_a_url() -> None:
    url = "https://console.cloud.google.com/logs/query;query=resource.labels.job_id%3D%22123%22?project=p"
    message = "x" * 280 + " see " + url + " " + "y" * 200
    line = format_event({"attributes": {}, "data": {"status": "Failed", "error": {"code": 9, "message": message}}})
    assert url in line and line.endswith(" ...")


# -- events against an unreachable Pub/Sub -------------------------------------------------------------------
class _DownSubscriber:
    """A subscriber whose Pub/Sub refuses every connection, as the gRPC client reports it."""

    def __init__(self) -> None:
        self.pulls = 0

    def pull(self, **_: Any) -> Any:
        self.pulls += 1
        raise gexc.ServiceUnavailable("failed to connect to all addresses; Connection refused")

    def close(self) -> None:
        pass


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_events_without_follow_fail_at_once_when_pubsub_is_unreachable() -> None:
    client, clock = _DownSubscriber(), _Clock()
    reader = EventReader("projects/p/subscriptions/s", client=client, sleep=clock.sleep, clock=clock)
    with pytest.raises(PubSubUnavailable, match="unreachable"):
        list(reader.iter(follow=False))
    assert client.pulls == 1 and clock.sleeps == []


def test_events_follow_backs_off_and_gives_up() -> None:
    client, clock = _DownSubscriber(), _Clock()
    reader = EventReader("projects/p/subscriptions/s", client=client, sleep=clock.sleep, clock=clock)
    with pytest.raises(PubSubUnavailable):
        list(reader.iter(follow=True, retry_seconds=60))
    # 60 s of outage: 0.5, 1, 2, 4, 8, 8, ... — about a dozen attempts, not thousands (the old busy loop)
    assert clock.sleeps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and max(clock.sleeps) == 8.0
    assert client.pulls <= 13, client.pulls
    assert clock.now >= 60
