"""Resolution: payload + request context -> a fully evaluated LaunchRequest, or every issue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import AZURE_ML_SERVICE, FIXED_TIME, activity

from amlexec.errors import Issue, RequestRejected
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import (
    BatchEndpointTarget,
    LaunchRequest,
    LocalPipelineTarget,
    PipelineComponentTarget,
    PipelineEndpointTarget,
    PublishedPipelineTarget,
    RequestContext,
)
from amlexec.resolve import preview, resolve
from amlexec.validation import validate_payload

GUID = "0a77f445-258e-4349-9895-e555060b32d8"


def run(payload: dict[str, Any], registry: LinkedServiceRegistry, context: RequestContext) -> LaunchRequest:
    return resolve(validate_payload(payload), context, registry)


def issues(payload: dict[str, Any], registry: LinkedServiceRegistry, context: RequestContext) -> list[Issue]:
    with pytest.raises(RequestRejected) as info:
        run(payload, registry, context)
    return info.value.issues


def test_parameters_keep_their_evaluated_types(registry: LinkedServiceRegistry, context: RequestContext) -> None:
    envelope = {
        "activity": activity(
            mlPipelineId=GUID,
            mlPipelineParameters={
                "n": "@pipeline().parameters.n",
                "flag": {"value": "@equals(pipeline().parameters.n, 3)", "type": "Expression"},
                "zero": 0,
                "off": False,
                "empty": "",
                "text": "@{pipeline().parameters.n}",
                "obj": {"nested": "@pipeline().parameters.n"},
                "ratio": "@div(7, 2)",
            },
        ),
        "pipeline": {"parameters": {"n": 3}},
    }
    request = run(envelope, registry, context)
    assert request.parameters == {
        "n": 3,
        "flag": True,
        "zero": 0,
        "off": False,
        "empty": "",
        "text": "3",
        "obj": {"nested": 3},
        "ratio": 3,
    }
    assert request.target == PublishedPipelineTarget(pipeline_id=GUID)
    assert request.workspace is not None and request.workspace.name == "ws-ml"


def test_system_variables_come_from_the_request_context(
    registry: LinkedServiceRegistry, context: RequestContext
) -> None:
    body = activity(
        mlPipelineId=GUID,
        mlPipelineParameters={
            "run": "@pipeline().RunId",
            "time": "@pipeline().TriggerTime",
            "type": "@pipeline().TriggerType",
            "factory": "@pipeline().DataFactory",
            "now": "@utcNow()",
            "sched": "@trigger().scheduledTime",
        },
    )
    first = run(body, registry, context)
    again = run(body, registry, context)
    assert first == again, "a redelivered message must resolve to the same request"
    assert first.parameters["time"] == "2026-11-21T02:00:00.1234560Z"
    assert first.parameters["type"] == "ServiceBus"
    assert first.parameters["factory"] == "amlexec"
    assert isinstance(first.parameters["now"], str) and first.parameters["now"].startswith("2026-11-21T02:00:00.123456")
    other = run(body, registry, RequestContext(request_id="msg-0002", received_at=FIXED_TIME))
    assert other.parameters["run"] != first.parameters["run"]


def test_envelope_supplies_activity_outputs_variables_and_item(
    registry: LinkedServiceRegistry, context: RequestContext
) -> None:
    envelope = {
        "activity": activity(
            mlPipelineEndpointId="@activity('Lookup').output.firstRow.endpoint",
            version="@variables('version')",
            experimentName="@item().name",
            mlParentRunId="@pipeline().parameters.parent",
        ),
        "activityOutputs": {"Lookup": {"firstRow": {"endpoint": "ep-123"}}},
        "variables": {"version": "2"},
        "item": {"name": "exp_from_item"},
        "pipeline": {"parameters": {"parent": "parent-run"}},
    }
    request = run(envelope, registry, context)
    assert request.target == PipelineEndpointTarget(endpoint_id="ep-123", version="2")
    assert request.experiment_name == "exp_from_item"
    assert request.parent_run_id == "parent-run"


def test_result_types_are_checked(registry: LinkedServiceRegistry, context: RequestContext) -> None:
    envelope = {
        "activity": activity(
            mlPipelineId=GUID,
            experimentName="@activity('Copy data1').output",
            continueOnStepFailure="@pipeline().parameters.n",
        ),
        "activityOutputs": {"Copy data1": {"rowsCopied": 10}},
        "pipeline": {"parameters": {"n": 3}},
    }
    found = {i.path: i for i in issues(envelope, registry, context)}
    assert found["activity.typeProperties.experimentName"].expected == "string"
    assert found["activity.typeProperties.experimentName"].got is not None
    assert "object" in found["activity.typeProperties.experimentName"].got
    assert found["activity.typeProperties.continueOnStepFailure"].expected == "boolean"


def test_missing_run_time_values_are_rejected_but_previewed(
    registry: LinkedServiceRegistry, context: RequestContext
) -> None:
    body = activity(mlPipelineId="@pipeline().parameters.id", experimentName="@activity('x').output.name")
    (first, second) = sorted(issues(body, registry, context), key=lambda i: i.path)
    assert first.code == second.code == "evaluation_failed"
    resolution = preview(validate_payload(body), context, registry)
    assert {d.path for d in resolution.deferred} == {"typeProperties.mlPipelineId", "typeProperties.experimentName"}
    assert resolution.request.target.kind == "published_pipeline"


@pytest.mark.parametrize(
    ("type_properties", "target"),
    [
        ({"mlPipelineId": GUID.upper()}, PublishedPipelineTarget(pipeline_id=GUID)),
        ({"mlPipelineId": "azureml:score_pipeline:3"}, PipelineComponentTarget(name="score_pipeline", version="3")),
        ({"mlPipelineId": "azureml:score_pipeline@prod"}, PipelineComponentTarget(name="score_pipeline", label="prod")),
        ({"mlPipelineEndpointId": "123"}, PipelineEndpointTarget(endpoint_id="123")),
        (
            {
                "mlBatchEndpointName": "loan-scoring",
                "mlBatchDeploymentName": "blue",
                "mlExecutionType": "batchEndpoint",
            },
            BatchEndpointTarget(endpoint_name="loan-scoring", deployment_name="blue"),
        ),
    ],
)
def test_exactly_one_target_is_selected(
    type_properties: dict[str, Any], target: Any, registry: LinkedServiceRegistry, context: RequestContext
) -> None:
    assert run(activity(**type_properties), registry, context).target == target


def test_non_guid_pipeline_id_is_a_warning(registry: LinkedServiceRegistry, context: RequestContext) -> None:
    resolution = preview(validate_payload(activity(mlPipelineId="machine learning pipeline ID")), context, registry)
    assert resolution.request.target == PublishedPipelineTarget(pipeline_id="machine learning pipeline ID")
    (warning,) = resolution.warnings
    assert warning.path == "typeProperties.mlPipelineId" and warning.code == "not_a_guid"
    (bad,) = issues(activity(mlPipelineId="azureml:bad:name:x"), registry, context)
    assert bad.code == "invalid_value" and bad.expected == "azureml:name:version or azureml:name@label"


def test_local_linked_service_selects_a_pipeline_file(registry: LinkedServiceRegistry, context: RequestContext) -> None:
    body = activity(mlPipelineId="loan_scoring")
    body["linkedServiceName"]["referenceName"] = "localpipelines"  # names are case-insensitive
    request = run(body, registry, context)
    assert isinstance(request.target, LocalPipelineTarget)
    assert request.target.path.endswith("loan_scoring.yml")
    assert request.workspace is None
    body["typeProperties"]["mlPipelineId"] = "../secrets"
    assert issues(body, registry, context)[0].code == "invalid_value"
    body["typeProperties"]["mlPipelineId"] = "missing_pipeline"
    (issue,) = issues(body, registry, context)
    assert issue.code == "unknown_pipeline" and issue.expected is not None and "loan_scoring" in issue.expected


def test_unknown_linked_service(registry: LinkedServiceRegistry, context: RequestContext) -> None:
    body = activity(mlPipelineId=GUID)
    body["linkedServiceName"]["referenceName"] = "Elsewhere"
    (issue,) = issues(body, registry, context)
    assert issue.path == "linkedServiceName.referenceName" and issue.code == "unknown_linked_service"


def test_arm_parameter_reference_finds_the_named_service(
    registry: LinkedServiceRegistry, context: RequestContext
) -> None:
    body = activity(mlPipelineId=GUID)
    body["linkedServiceName"]["referenceName"] = "[parameters('AzureMLService')]"
    assert run(body, registry, context).linked_service == "AzureMLService"


def test_allow_list_blocks_unlisted_targets(context: RequestContext) -> None:
    service = dict(AZURE_ML_SERVICE, amlexec={"allowedPipelines": [GUID]})
    registry = LinkedServiceRegistry.from_json(json.dumps([service]), env={})
    assert run(activity(mlPipelineId=GUID), registry, context).target.kind == "published_pipeline"
    other = "11111111-1111-1111-1111-111111111111"
    (issue,) = issues(activity(mlPipelineId=other), registry, context)
    assert issue.code == "not_allowed"


def test_parameterised_workspace_only_takes_allowed_values(context: RequestContext) -> None:
    service = {
        "name": "AzureMLService3",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {
                "subscriptionId": "s",
                "resourceGroupName": "rg",
                "mlWorkspaceName": "@{linkedService().mlWorkspaceName}",
                "authentication": "MSI",
            },
            "parameters": {"mlWorkspaceName": {"type": "String", "defaultValue": "ws-default"}},
        },
        "amlexec": {"allowedParameterValues": {"mlWorkspaceName": ["ws-a"]}},
    }
    registry = LinkedServiceRegistry.from_json(json.dumps([service]), env={})
    body = activity(mlPipelineId=GUID)
    body["linkedServiceName"] = {"referenceName": "AzureMLService3", "type": "LinkedServiceReference"}
    request = run(body, registry, context)
    assert request.workspace is not None and request.workspace.name == "ws-default"
    body["linkedServiceName"]["parameters"] = {"mlWorkspaceName": "ws-a"}
    request = run(body, registry, context)
    assert request.workspace is not None and request.workspace.name == "ws-a"
    body["linkedServiceName"]["parameters"] = {"mlWorkspaceName": "attacker-ws"}
    (issue,) = issues(body, registry, context)
    assert issue.code == "not_allowed"


def test_policy_is_resolved_with_defaults(registry: LinkedServiceRegistry, context: RequestContext) -> None:
    body = activity(mlPipelineId=GUID)
    assert run(body, registry, context).policy.timeout_seconds == 7 * 86400
    body["policy"] = {"timeout": "0.12:00:00", "retry": "@add(1, 1)", "retryIntervalInSeconds": 60, "secureInput": True}
    policy = run(body, registry, context).policy
    assert (policy.timeout_seconds, policy.retry, policy.retry_interval_seconds) == (43200, 2, 60)


def test_secure_input_redacts_public_view(registry: LinkedServiceRegistry, context: RequestContext) -> None:
    body = activity(mlPipelineId=GUID, mlPipelineParameters={"password": "hunter2"})
    body["policy"] = {"secureInput": True}
    request = run(body, registry, context)
    assert request.parameters == {"password": "hunter2"}
    assert "hunter2" not in json.dumps(request.public_view())


def test_data_paths_and_experiment_default(registry: LinkedServiceRegistry, context: RequestContext) -> None:
    body = activity(
        mlPipelineId=GUID,
        dataPathAssignments={
            "dataset": {
                "DataStoreName": "workspaceblobstore",
                "RelativePath": {"value": "mnist_images", "type": "Expression"},
            },
            "only_store": {"DataStoreName": "store2"},
            "": {},
        },
    )
    body["name"] = "Machine Learning Execute Pipeline1"
    request = run(body, registry, context)
    assert request.data_path_assignments["dataset"].relative_path == "mnist_images"
    assert request.data_path_assignments["only_store"].relative_path is None
    assert "" not in request.data_path_assignments
    assert request.experiment_name == "Machine_Learning_Execute_Pipeline1"


def test_kept_timestamps_formats_and_literals_answer_only_for_their_own_payload(
    registry: LinkedServiceRegistry, context: RequestContext
) -> None:
    """Timestamps, format strings and plain values are kept between payloads: each payload still gets its own."""

    def envelope(pipeline_id: str, day: str, timeout: str, retry: int) -> dict[str, Any]:
        body = activity(
            mlPipelineId=pipeline_id,
            mlPipelineParameters={
                "date": {"value": "@formatDateTime(pipeline().parameters.day, 'yyyy-MM-dd')", "type": "Expression"},
                "stamp": "@formatDateTime(pipeline().parameters.day)",
                "model": pipeline_id,
            },
        )
        body["policy"] = {"timeout": timeout, "retry": retry}
        return {"activity": body, "pipeline": {"parameters": {"day": day}}}

    other = "1b88f556-369f-4450-a9a6-f666171c43e9"
    for _ in range(2):  # the second time round, every value comes from what the first one kept
        first = run(envelope(GUID, "2026-11-20", "0.12:00:00", 1), registry, context)
        second = run(envelope(other, "2026-11-21T10:30:00Z", "1.00:00:00", 2), registry, context)
        assert first.parameters == {"date": "2026-11-20", "stamp": "2026-11-20T00:00:00.0000000", "model": GUID}
        assert second.parameters == {"date": "2026-11-21", "stamp": "2026-11-21T10:30:00.0000000Z", "model": other}
        assert first.target == PublishedPipelineTarget(pipeline_id=GUID)
        assert second.target == PublishedPipelineTarget(pipeline_id=other)
        assert (first.policy.timeout_seconds, first.policy.retry) == (43200, 1)
        assert (second.policy.timeout_seconds, second.policy.retry) == (86400, 2)


def test_a_time_without_a_date_takes_each_request_s_own_day(registry: LinkedServiceRegistry) -> None:
    """Only ISO timestamps are kept (they name their date); a bare time reads today's date afresh every time."""
    body = {
        "activity": activity(
            mlPipelineId=GUID, mlPipelineParameters={"at": "@formatDateTime('10:30', 'yyyy-MM-dd HH:mm')"}
        )
    }
    for day in (20, 21, 20):
        context = RequestContext(request_id=f"msg-{day}", received_at=FIXED_TIME.replace(day=day))
        assert run(body, registry, context).parameters == {"at": f"2026-11-{day} 10:30"}
