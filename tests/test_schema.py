"""The published JSON Schema describes what validation accepts, and stays in sync with the models."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, SEED_ACTIVITY

from amlexec.schema import payload_schema, payload_schema_text

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "activity-payload.schema.json"


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == payload_schema_text(), "run `make schema` and commit schemas/"


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(payload_schema())


def test_schema_accepts_seed_example_and_envelope() -> None:
    validator = jsonschema.Draft202012Validator(payload_schema())
    validator.validate(SEED_ACTIVITY)
    validator.validate(json.loads((EXAMPLES / "payloads" / "loan_scoring.json").read_text()))


def test_schema_rejects_wrong_types() -> None:
    validator = jsonschema.Draft202012Validator(payload_schema())
    bad = dict(SEED_ACTIVITY, typeProperties={"mlPipelineId": 5})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad)


def test_schema_accepts_every_corpus_activity(corpus_dir: Path) -> None:
    validator = jsonschema.Draft202012Validator(payload_schema())
    for file in sorted((corpus_dir / "activities").glob("*.json")):
        activity = json.loads(file.read_text())
        if activity.get("linkedServiceName") is None:
            continue
        errors = [e.message for e in validator.iter_errors(activity)]
        if file.name.startswith("055"):  # the SDK round-trip sample's dataPathAssignments is a plain string
            assert errors
            continue
        assert not errors, (file.name, errors)
