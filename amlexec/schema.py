"""JSON Schema of the request payload (a bare activity or an envelope), generated from the models."""

from __future__ import annotations

import json
from typing import Any

from amlexec.activity import Envelope

__all__ = ["SCHEMA_ID", "payload_schema", "payload_schema_text"]

SCHEMA_ID = "https://amlexec.dev/schemas/activity-payload.schema.json"


def payload_schema() -> dict[str, Any]:
    """The schema editors use to check payloads: an ``AzureMLExecutePipeline`` activity or an envelope."""
    envelope = Envelope.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = envelope.pop("$defs", {})
    defs["Envelope"] = envelope
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "amlexec request payload",
        "description": "A Data Factory AzureMLExecutePipeline activity, bare or inside an amlexec envelope.",
        "anyOf": [{"$ref": "#/$defs/Activity"}, {"$ref": "#/$defs/Envelope"}],
        "$defs": dict(sorted(defs.items())),
    }


def payload_schema_text() -> str:
    """The schema as committed under ``schemas/`` (stable key order, trailing newline)."""
    return json.dumps(payload_schema(), indent=2, sort_keys=False) + "\n"
