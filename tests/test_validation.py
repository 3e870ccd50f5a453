"""Payload validation: what is accepted, and the exact issues for what is not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import SEED_ACTIVITY, activity

from amlexec.errors import Issue, RequestRejected
from amlexec.validation import Limits, parse_timeout, validate_payload


def rejected(payload: Any, **kwargs: Any) -> list[Issue]:
    with pytest.raises(RequestRejected) as info:
        validate_payload(payload, **kwargs)
    return info.value.issues


def by_path(issues: list[Issue]) -> dict[str, Issue]:
    return {issue.path: issue for issue in issues}


def test_seed_example_validates_as_bare_activity() -> None:
    payload = validate_payload(json.dumps(SEED_ACTIVITY))
    assert payload.bare_activity
    assert payload.activity.name == "Machine Learning Execute Pipeline"
    props = payload.activity.type_properties
    assert props is not None and props.ml_pipeline_id is not None
    assert props.ml_pipeline_id.raw == "machine learning pipeline ID"
    assert not props.ml_pipeline_id.is_expression
    assert payload.warnings == []


def test_envelope_carries_context_and_prefixes_paths() -> None:
    envelope = {
        "activity": activity(mlPipelineId=5),
        "pipeline": {"name": "P", "parameters": {"a": 1}},
        "correlationId": "c-1",
    }
    issues = rejected(envelope)
    assert by_path(issues)["activity.typeProperties.mlPipelineId"].expected == "string or expression"
    assert by_path(issues)["activity.typeProperties.mlPipelineId"].got == "number 5"
    envelope["activity"] = activity(mlPipelineId="0a77f445-258e-4349-9895-e555060b32d8")
    payload = validate_payload(envelope)
    assert not payload.bare_activity
    assert payload.envelope.pipeline.parameters == {"a": 1}
    assert payload.envelope.correlation_id == "c-1"


def test_every_value_may_be_literal_at_string_or_expression_object() -> None:
    payload = validate_payload(
        activity(
            mlPipelineId={"value": "@pipeline().parameters.id", "type": "Expression"},
            experimentName="@concat('exp-', pipeline().RunId)",
            continueOnStepFailure={"value": "@equals(1, 1)", "type": "Expression"},
            mlPipelineParameters={"a": "plain", "b": 5, "c": {"value": "@utcNow()", "type": "Expression"}},
        )
    )
    props = payload.activity.type_properties
    assert props is not None
    assert props.ml_pipeline_id is not None and props.ml_pipeline_id.is_expression
    assert props.experiment_name is not None and props.experiment_name.is_expression
    assert isinstance(props.ml_pipeline_parameters, dict)
    assert not props.ml_pipeline_parameters["a"].is_expression
    assert props.ml_pipeline_parameters["c"].is_expression


def test_all_errors_are_collected_with_path_expected_and_got() -> None:
    issues = rejected(
        activity(
            mlPipelineId="0a77f445-258e-4349-9895-e555060b32d8",
            experimentName=["not", "a", "string"],
            continueOnStepFailure="maybe",
            mlPipelineParameters={"runDate": {"value": "@formatDateTime(", "type": "Expression"}},
        )
    )
    paths = by_path(issues)
    assert set(paths) >= {
        "typeProperties.experimentName",
        "typeProperties.continueOnStepFailure",
        "typeProperties.mlPipelineParameters.runDate",
    }
    assert paths["typeProperties.experimentName"].got == "array of 3 items"
    assert paths["typeProperties.continueOnStepFailure"].expected == "boolean or expression"
    assert paths["typeProperties.continueOnStepFailure"].got == 'string "maybe"'
    syntax = paths["typeProperties.mlPipelineParameters.runDate"]
    assert syntax.code == "expression_syntax"
    assert "position" in syntax.message


def test_secure_input_redacts_what_was_found() -> None:
    body = activity(mlPipelineId="0a77f445-258e-4349-9895-e555060b32d8", experimentName=12345)
    body["policy"] = {"secureInput": True}
    issues = rejected(body)
    assert all("12345" not in str(i) for i in issues)
    assert by_path(issues)["typeProperties.experimentName"].got == "<redacted: secureInput>"


@pytest.mark.parametrize(
    ("type_properties", "code"),
    [
        ({}, "no_target"),
        ({"mlPipelineEndpointId": ""}, "no_target"),
        ({"mlExecutionType": "pipeline"}, "no_target"),
        ({"mlPipelineId": "a", "mlPipelineEndpointId": "b"}, "two_targets"),
        ({"mlPipelineId": "a", "version": "1"}, "orphan_version"),
        ({"mlPipelineId": "a", "mlBatchDeploymentName": "blue"}, "orphan_deployment"),
        ({"mlPipelineId": "a", "mlExecutionType": "notebook"}, "invalid_value"),
    ],
)
def test_target_rules(type_properties: dict[str, Any], code: str) -> None:
    assert code in {i.code for i in rejected(activity(**type_properties))}


def test_missing_type_properties_is_an_unfinished_draft() -> None:
    body = {k: v for k, v in SEED_ACTIVITY.items() if k != "typeProperties"}
    (issue,) = rejected(body)
    assert issue.path == "typeProperties" and issue.code == "draft"


def test_wrong_activity_type_and_missing_name() -> None:
    issues = rejected({"type": "Copy", "typeProperties": {"mlPipelineId": "x"}})
    assert by_path(issues)["name"].code == "missing"
    body = dict(SEED_ACTIVITY, type="ExecutePipeline")
    assert by_path(rejected(body))["type"].code == "wrong_type"


def test_unknown_properties_are_warnings_not_errors() -> None:
    body = activity(mlPipelineId="x", mlExecutionType="pipeline", somethingNew=1)
    body["annotations"] = []
    payload = validate_payload(body)
    paths = {w.path for w in payload.warnings}
    assert paths == {"typeProperties.somethingNew", "annotations"}


def test_fabric_batch_endpoint_shape() -> None:
    payload = validate_payload(
        {
            "name": "Batch",
            "type": "AzureMLExecutePipeline",
            "externalReferences": {"connection": "b0f6b4f2-1111-2222-3333-444455556666"},
            "typeProperties": {
                "mlExecutionType": "batchEndpoint",
                "mlBatchEndpointName": "loan-scoring",
                "mlBatchDeploymentName": "blue",
                "jobInputs": {
                    "threshold": 0.4,
                    "data": {"type": "uri_folder", "path": "azureml://datastores/x/paths/y"},
                },
                "jobOutputs": {"scores": {"type": "uri_folder"}},
                "jobSettings": {"continueOnStepFailure": True, "defaultCompute": "cpu"},
            },
        }
    )
    assert payload.activity.external_references is not None


def test_pipeline_endpoint_with_version_and_data_paths() -> None:
    payload = validate_payload(
        activity(
            mlPipelineEndpointId="b91ecfe6-f614-4c1a-a7f8-7df5aa9e41ad",
            version="0",
            dataPathAssignments={"input_datapath": {"DataStoreName": "workspaceblobstore2"}, "": {}},
        )
    )
    assert [w.code for w in payload.warnings] == ["ignored_property"]


def test_payload_limits() -> None:
    limits = Limits(max_payload_bytes=2048, max_parameters=3, max_parameter_value_length=100)
    big = json.dumps(activity(mlPipelineId="x", mlPipelineParameters={"p": "x" * 5000}))
    (issue,) = rejected(big, limits=limits)
    assert issue.code == "payload_too_large" and issue.expected == "at most 2048 bytes"
    many = activity(mlPipelineId="x", mlPipelineParameters={f"p{i}": "v" * 200 for i in range(4)})
    codes = {
        i.code for i in rejected(json.dumps(many), limits=Limits(max_parameters=3, max_parameter_value_length=100))
    }
    assert codes == {"too_many_parameters", "value_too_long"}
    deep: Any = "leaf"
    for _ in range(100):
        deep = {"d": deep}
    assert rejected(json.dumps({"activity": deep}))[0].code == "too_deep"
    long_expr = "@concat(" + ",".join(["'a'"] * 3000) + ")"
    codes = {i.code for i in rejected(activity(mlPipelineId="x", experimentName=long_expr))}
    assert codes & {"expression_too_long", "expression_syntax"}


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"{", b"[1,2]", b"null", '"text"'])
def test_not_json_objects_are_rejected_precisely(raw: bytes | str) -> None:
    (issue,) = rejected(raw)
    assert issue.path == "$"
    assert issue.code in {"not_utf8", "invalid_json", "not_object"}


def test_bom_is_tolerated() -> None:
    assert validate_payload(b"\xef\xbb\xbf" + json.dumps(SEED_ACTIVITY).encode()).activity.name


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7.00:00:00", 7 * 86400),
        ("0.12:00:00", 43200),
        ("01:30:00", 5400),
        ("0.00:00:01.5", 1.5),
        ("x", None),
        ("1.24:00:00", None),
    ],
)
def test_parse_timeout(text: str, seconds: float | None) -> None:
    assert parse_timeout(text) == seconds


def test_policy_checks() -> None:
    body = activity(mlPipelineId="x")
    body["policy"] = {"timeout": "soon", "retry": -1, "retryIntervalInSeconds": 5}
    codes = {i.path: i.code for i in rejected(body)}
    assert codes == {
        "policy.timeout": "invalid_timeout",
        "policy.retry": "out_of_range",
        "policy.retryIntervalInSeconds": "out_of_range",
    }


def test_a_nesting_limit_is_reported_as_such_not_as_a_length() -> None:
    """An expression nested too deeply but short: the message names the nesting limit, not the length one."""
    deep = "@" + "concat(" * 70 + "'a'" + ")" * 70
    payload = {
        "name": "x",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "A", "type": "LinkedServiceReference"},
        "typeProperties": {"mlPipelineId": "p", "mlPipelineParameters": {"a": deep}},
    }
    with pytest.raises(RequestRejected) as info:
        validate_payload(json.dumps(payload))
    (issue,) = info.value.issues
    assert issue.path == "typeProperties.mlPipelineParameters.a"
    assert "nests deeper than 64 levels" in str(issue)
    assert "8192" not in str(issue) and "characters" not in str(issue)


def test_kept_plain_values_keep_their_type_and_kind() -> None:
    """Plain text and integers are checked once and kept: 1 is not True, and text kept for one property is
    still checked against another's type."""
    body = activity(mlPipelineId="pipeline-a", mlPipelineParameters={"n": 1, "text": "true"})
    body["policy"] = {"retry": 1}
    kept = validate_payload(body).activity
    assert kept.policy.retry is not None and type(kept.policy.retry.raw) is int
    body["policy"] = {"retry": True}
    assert [issue.code for issue in rejected(body)] == ["dynamic_type"]
    assert [issue.code for issue in rejected(activity(mlPipelineId="pipeline-a", continueOnStepFailure="maybe"))] == [
        "dynamic_type"
    ]
    flag = validate_payload(activity(mlPipelineId="pipeline-a", continueOnStepFailure="true")).activity
    assert flag.type_properties is not None and flag.type_properties.continue_on_step_failure is not None
    assert flag.type_properties.continue_on_step_failure.kind == "boolean"
    assert [issue.code for issue in rejected(activity(mlPipelineId=1))] == ["dynamic_type"]
