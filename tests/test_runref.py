"""Run references for the HTTP API: what a token carries, and what a forged or stale one gets."""

from __future__ import annotations

import base64
import json

import pytest
from fakes.workspace import LINKED_SERVICES, WS

from amlexec.errors import RequestRejected
from amlexec.launch.base import RunHandle
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import WorkspaceInfo
from amlexec.runref import decode_run_ref, encode_run_ref

REGISTRY = LinkedServiceRegistry.from_json(json.dumps(LINKED_SERVICES), env={})
WORKSPACE = WorkspaceInfo(subscription_id="11111111-2222-3333-4444-555555555555", resource_group="rg-ml", name=WS)


def _token(fields: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "handle",
    [
        RunHandle(
            target_kind="pipeline_component",
            run_id="amlexec_score_0123_1",
            experiment_name="scoring",
            linked_service="AzureMLService",
            workspace=WORKSPACE,
            attempt=1,
        ),
        RunHandle(
            target_kind="published_pipeline",
            run_id="6b1d0c2e-0000-4000-8000-000000000001",
            experiment_name="loan scoring",
            linked_service="AzureMLService",
            workspace=WORKSPACE,
            attempt=2,
            run_name="amlexec_score_0123_2",
        ),
    ],
    ids=["v2 job", "v1 run with its amlexec name"],
)
def test_a_handle_survives_the_round_trip(handle: RunHandle) -> None:
    token = encode_run_ref(handle)
    assert "=" not in token and "/" not in token and "+" not in token, "URL-safe without padding"
    assert decode_run_ref(token, REGISTRY) == handle


def test_the_workspace_comes_from_configuration_never_from_the_token() -> None:
    handle = RunHandle(
        target_kind="pipeline_component",
        run_id="r",
        experiment_name="e",
        linked_service="AzureMLService",
        workspace=WorkspaceInfo(subscription_id="evil", resource_group="x", name="y"),
    )
    assert decode_run_ref(encode_run_ref(handle), REGISTRY).workspace == WORKSPACE


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("nope", "invalid_run_id"),
        ("", "invalid_run_id"),
        (_token({"k": "pipeline_component", "l": "AzureMLService", "r": "r"}), "invalid_run_id"),
        (_token({"k": "pipeline_component", "l": "AzureMLService", "r": "", "e": "e", "a": 1}), "invalid_run_id"),
        (_token({"k": "pipeline_component", "l": "AzureMLService", "r": "r", "e": "e", "a": "x"}), "invalid_run_id"),
        (
            _token({"k": "pipeline_component", "l": "AzureMLService", "r": "r", "e": "e", "a": 1, "n": ""}),
            "invalid_run_id",
        ),
        (_token({"k": "pipeline_component", "l": "Removed", "r": "r", "e": "e", "a": 1}), "unknown_linked_service"),
        (_token(["not", "an", "object"]), "invalid_run_id"),
    ],
    ids=[
        "not base64 json",
        "empty",
        "missing fields",
        "empty run id",
        "attempt not a number",
        "empty run name",
        "linked service no longer configured",
        "not an object",
    ],
)
def test_forged_and_stale_tokens_are_rejected_precisely(token: str, code: str) -> None:
    with pytest.raises(RequestRejected) as info:
        decode_run_ref(token, REGISTRY)
    (issue,) = info.value.issues
    assert (issue.path, issue.code) == ("runId", code)
