"""Definition model: durations, round trips, content hash, JSON Schema."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from runtime.definition import SagaDefinition, dump_json, dump_yaml, json_schema
from runtime.durations import format_duration, parse_duration
from runtime.loading import load_definition, parse_definition

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "sample_sagas").glob("*_booking.yaml"))


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("30s", 30), ("2m", 120), ("1h30m", 5400), ("1.5s", 1.5), (5, 5),
    (0.25, 0.25), ("1m30s", 90), ("0s", 0),
])
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5x", "-1s", "s", "1s2", True, None, "9999h", [1]])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("ms", [0, 1, 999, 1000, 1500, 60_000, 90_000, 3_600_000, 5_430_000])
def test_format_duration_round_trips(ms: int) -> None:
    value = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_round_trip_yaml_and_json_exactly(path: Path) -> None:
    definition = load_definition(path)
    again = parse_definition(dump_yaml(definition))
    assert again == definition and again.layout == definition.layout
    assert parse_definition(dump_json(definition), fmt="json") == definition
    assert dump_yaml(again) == dump_yaml(definition)


def test_content_hash_ignores_layout_but_not_steps() -> None:
    base = load_definition(SAMPLES[0])
    moved = base.model_copy(update={"layout": {}})
    assert moved.content_hash == base.content_hash
    body = base.model_dump(mode="json")
    body["steps"][0]["timeout"] = "9s"
    assert SagaDefinition.model_validate(body).content_hash != base.content_hash


def test_explicit_defaults_hash_like_implicit_ones() -> None:
    a = parse_definition("saga: s\nsteps: [{name: a, action: x.a, compensation: x.b}]")
    b = parse_definition("saga: s\nversion: 1\nsteps: [{name: a, action: x.a, compensation: x.b, "
                         "kind: compensatable, after: []}]")
    assert a.content_hash == b.content_hash


def test_json_schema_describes_the_format() -> None:
    schema = json_schema()
    assert schema["title"] == "Saga Studio saga definition"
    assert {"saga", "steps", "defaults", "layout"} <= set(schema["properties"])
    json.dumps(schema)
    # every sample is valid against the exported schema's required keys
    for path in SAMPLES:
        data = yaml.safe_load(path.read_text())
        assert set(schema.get("required", [])) <= set(data)
