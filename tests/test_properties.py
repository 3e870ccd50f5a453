"""Property-based tests: arbitrary JSON and expression text only ever yield a result or our own errors."""

from __future__ import annotations

import json
from typing import Any

from conftest import FIXED_TIME, activity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlexec.errors import RequestRejected
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import RequestContext
from amlexec.resolve import resolve
from amlexec.validation import validate_payload

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)

expression_like = st.one_of(
    st.text(max_size=60),
    st.builds(lambda body: "@" + body, st.text(alphabet="abcdeiloprstuvwxyz()[]'.,@{} 0123456789-?", max_size=60)),
    st.sampled_from(["@pipeline().parameters.a", "@{concat('a', 1)}", "@@x", "@item()", "@activity('x').output"]),
)

property_names = st.sampled_from(
    [
        "mlPipelineId",
        "mlPipelineEndpointId",
        "version",
        "experimentName",
        "mlPipelineParameters",
        "dataPathAssignments",
        "mlParentRunId",
        "continueOnStepFailure",
        "mlExecutionType",
        "mlBatchEndpointName",
        "mlBatchDeploymentName",
        "jobInputs",
        "jobOutputs",
        "jobSettings",
        "other",
    ]
)

REGISTRY = LinkedServiceRegistry.from_json(
    json.dumps(
        [
            {
                "name": "AzureMLService",
                "properties": {
                    "type": "AzureMLService",
                    "typeProperties": {
                        "subscriptionId": "s",
                        "resourceGroupName": "r",
                        "mlWorkspaceName": "w",
                        "authentication": "MSI",
                    },
                },
            }
        ]
    ),
    env={},
)
CONTEXT = RequestContext(request_id="prop", received_at=FIXED_TIME)


def outcome(payload: Any) -> None:
    try:
        validated = validate_payload(payload)
    except RequestRejected as rejected:
        assert rejected.issues and all(i.path and i.message for i in rejected.issues)
        return
    if validated.activity.type_properties is None:
        return
    try:
        resolve(validated, CONTEXT, REGISTRY)
    except RequestRejected as rejected:
        assert rejected.issues


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_is_accepted_or_rejected_never_crashes(value: Any) -> None:
    outcome(json.dumps(value))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(property_names, st.one_of(json_values, expression_like), max_size=6))
def test_arbitrary_type_properties_never_crash(props: dict[str, Any]) -> None:
    outcome(activity(**props))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), expression_like, max_size=5), expression_like)
def test_arbitrary_expressions_in_parameters_never_crash(params: dict[str, Any], pipeline_id: str) -> None:
    outcome(
        {
            "activity": activity(mlPipelineId=pipeline_id, mlPipelineParameters=params),
            "pipeline": {"parameters": {"a": 1}},
        }
    )


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    outcome(raw)
