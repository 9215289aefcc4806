"""Settings.from_env: defaults, parsing, allow-list defaults, secrets kept out of repr."""

from __future__ import annotations

import dataclasses

import pytest

from polysync_vertex.config import SETTINGS, Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s == Settings(
        project="",
        default_location="us-central1",
        allowed_projects=(),
        allowed_locations=("us-central1",),
        webhook_secrets=(),
        vertex_endpoint="",
        status_topic="polysync-vertex-status",
        shard_topic="",
        poll_inline_max=2000,
        queued_threshold_seconds=1800,
        firestore_database="(default)",
        collection_prefix="",
        request_budget_seconds=45.0,
        template_cache_seconds=60.0,
        log_level="INFO",
    )


def test_queued_threshold_default_is_30_min() -> None:
    assert Settings.from_env({}).queued_threshold_seconds == 30 * 60


def test_allow_list_defaults_to_project_and_location() -> None:
    s = Settings.from_env({"PSV_PROJECT": "my-proj", "PSV_DEFAULT_LOCATION": "europe-west4"})
    assert s.allowed_projects == ("my-proj",)
    assert s.allowed_locations == ("europe-west4",)


def test_project_falls_back_to_google_cloud_project() -> None:
    s = Settings.from_env({"GOOGLE_CLOUD_PROJECT": " gc-proj "})
    assert s.project == "gc-proj" and s.allowed_projects == ("gc-proj",)
    s = Settings.from_env({"GOOGLE_CLOUD_PROJECT": "gc-proj", "PSV_PROJECT": "psv-proj"})
    assert s.project == "psv-proj"


def test_empty_location_falls_back() -> None:
    assert Settings.from_env({"PSV_DEFAULT_LOCATION": "  "}).default_location == "us-central1"


def test_csv_parsing() -> None:
    s = Settings.from_env(
        {
            "PSV_PROJECT": "my-proj",
            "PSV_ALLOWED_PROJECTS": " a-proj , ,b-proj,\nc-proj\n",
            "PSV_ALLOWED_LOCATIONS": "us-central1,europe-west4",
        }
    )
    assert s.allowed_projects == ("a-proj", "b-proj", "c-proj")
    assert s.allowed_locations == ("us-central1", "europe-west4")


def test_blank_allow_list_falls_back() -> None:
    s = Settings.from_env({"PSV_PROJECT": "p1", "PSV_ALLOWED_PROJECTS": " , ", "PSV_ALLOWED_LOCATIONS": ""})
    assert s.allowed_projects == ("p1",) and s.allowed_locations == ("us-central1",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("one", ("one",)),
        ("one,two", ("one", "two")),
        ("one\ntwo\n", ("one", "two")),
        (" one , two ", ("one", "two")),
        ("", ()),
        (" , \n", ()),
    ],
)
def test_secrets_parsing(raw: str, expected: tuple[str, ...]) -> None:
    assert Settings.from_env({"PSV_WEBHOOK_SECRETS": raw}).webhook_secrets == expected


def test_secrets_never_in_repr() -> None:
    s = Settings.from_env({"PSV_PROJECT": "my-proj", "PSV_WEBHOOK_SECRETS": "very-secret-1,very-secret-2"})
    for text in (repr(s), str(s), f"{s}", repr([s])):
        assert "very-secret" not in text
    assert "my-proj" in repr(s)


def test_numbers_and_strings_parsed() -> None:
    s = Settings.from_env(
        {
            "PSV_VERTEX_ENDPOINT": " http://127.0.0.1:9000 ",
            "PSV_STATUS_TOPIC": "projects/x/topics/status",
            "PSV_SHARD_TOPIC": "shards",
            "PSV_POLL_INLINE_MAX": "10",
            "PSV_QUEUED_THRESHOLD_SECONDS": "60",
            "PSV_FIRESTORE_DATABASE": "db1",
            "PSV_COLLECTION_PREFIX": "t1-",
            "PSV_REQUEST_BUDGET_SECONDS": "2.5",
            "PSV_TEMPLATE_CACHE_SECONDS": "0",
            "PSV_LOG_LEVEL": "debug",
        }
    )
    assert (s.vertex_endpoint, s.status_topic, s.shard_topic) == (
        "http://127.0.0.1:9000",
        "projects/x/topics/status",
        "shards",
    )
    assert (s.poll_inline_max, s.queued_threshold_seconds) == (10, 60)
    assert (s.firestore_database, s.collection_prefix) == ("db1", "t1-")
    assert (s.request_budget_seconds, s.template_cache_seconds, s.log_level) == (2.5, 0.0, "DEBUG")


@pytest.mark.parametrize("name", ["PSV_POLL_INLINE_MAX", "PSV_QUEUED_THRESHOLD_SECONDS", "PSV_REQUEST_BUDGET_SECONDS"])
def test_bad_number_fails_loudly(name: str) -> None:
    with pytest.raises(ValueError):
        Settings.from_env({name: "abc"})


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("PSV_PROJECT", "env-proj")
    assert Settings.from_env().project == "env-proj"


def test_every_setting_documented_and_defaults_agree() -> None:
    """The SETTINGS table (README, Terraform) names a default equal to the dataclass default."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    assert len(SETTINGS) == len(fields)
    for name, (default, description) in SETTINGS.items():
        assert name.startswith("PSV_") and description
        attr = name.removeprefix("PSV_").lower()
        if attr == "project":
            continue
        field = fields[attr]
        if isinstance(field.default, tuple) or attr == "webhook_secrets":
            continue
        assert type(field.default)(default) == field.default, name


def test_topic_path() -> None:
    s = Settings.from_env({"PSV_PROJECT": "my-proj"})
    assert s.topic_path("status") == "projects/my-proj/topics/status"
    assert s.topic_path("projects/other/topics/t") == "projects/other/topics/t"


def test_outputs_bucket_off_by_default_and_tidied() -> None:
    assert (Settings.from_env({}).outputs_bucket, Settings.from_env({}).outputs_prefix) == ("", "polysync-outputs")
    s = Settings.from_env({"PSV_OUTPUTS_BUCKET": " gs://my-outs/ ", "PSV_OUTPUTS_PREFIX": "/runs/out/"})
    assert (s.outputs_bucket, s.outputs_prefix) == ("my-outs", "runs/out")
