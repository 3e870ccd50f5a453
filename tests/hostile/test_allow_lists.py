"""A message may not reach a workspace, pipeline or endpoint that configuration does not allow.

Whatever a message writes in its linked-service reference (unknown names, ARM wrappers, case and
whitespace tricks), its expressions (a target built from ``pipeline().parameters``, ``variables``,
``item()``) or its linked-service parameters (values outside ``amlexec.allowedParameterValues``), a request
that resolves runs in a configured workspace on a target its linked service's allow-list permits; anything
else is a precise rejection. A hypothesis property checks that for arbitrary references, targets and
parameters, and one forbidden request is driven end to end through the request trigger.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXED_TIME
from flow.harness import Flow, make_flow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlexec.bus.base import Destination
from amlexec.errors import RequestRejected
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import (
    BatchEndpointTarget,
    LaunchRequest,
    PipelineComponentTarget,
    PipelineEndpointTarget,
    PublishedPipelineTarget,
    RequestContext,
)
from amlexec.resolve import preview, resolve
from amlexec.validation import validate_payload

SUB = "11111111-2222-3333-4444-555555555555"
OTHER_SUB = "99999999-8888-7777-6666-555555555555"
ALLOWED_GUID = "0a77f445-258e-4349-9895-e555060b32d8"
FORBIDDEN_GUID = "6f1e0c1d-2a11-4f1d-9d43-0b7f5c533a54"
ALLOWED_ENDPOINT = "9d3c0b55-0000-4000-8000-000000000001"
FORBIDDEN_ENDPOINT = "9d3c0b55-0000-4000-8000-000000000002"

LINKED_SERVICES: list[dict[str, Any]] = [
    {
        "name": "Open",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {
                "subscriptionId": SUB,
                "resourceGroupName": "rg-open",
                "mlWorkspaceName": "ws-open",
                "authentication": "MSI",
            },
        },
    },
    {
        "name": "Restricted",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {
                "subscriptionId": SUB,
                "resourceGroupName": "rg-ml",
                "mlWorkspaceName": "ws-restricted",
                "authentication": "MSI",
            },
        },
        "amlexec": {
            "allowedPipelines": [ALLOWED_GUID, "azureml:score@prod"],
            "allowedEndpoints": [ALLOWED_ENDPOINT],
            "allowedBatchEndpoints": ["loan-scoring"],
        },
    },
    {
        "name": "Parameterised",
        "properties": {
            "type": "AzureMLService",
            "parameters": {
                "ws": {"type": "String", "defaultValue": "ws-a"},
                "sub": {"type": "String", "defaultValue": SUB},
                "rg": {"type": "String"},
            },
            "typeProperties": {
                "subscriptionId": "@{linkedService().sub}",
                "resourceGroupName": "rg-param",
                "mlWorkspaceName": "@{linkedService().ws}",
                "authentication": "MSI",
            },
        },
        "amlexec": {"allowedParameterValues": {"ws": ["ws-a", "ws-b"]}, "allowedPipelines": ["azureml:p:1"]},
    },
]
REGISTRY = LinkedServiceRegistry.from_json(json.dumps(LINKED_SERVICES), env={})
CONTEXT = RequestContext(request_id="allow-1", received_at=FIXED_TIME, correlation_id="c")

# (linked service, subscription, resource group, workspace) a request may ever run in.
ALLOWED_WORKSPACES = {
    ("Open", SUB, "rg-open", "ws-open"),
    ("Restricted", SUB, "rg-ml", "ws-restricted"),
    ("Parameterised", SUB, "rg-param", "ws-a"),
    ("Parameterised", SUB, "rg-param", "ws-b"),
}
# Written out independently of AllowList.permits: per service and kind, the lower-cased names allowed. As
# documented, a kind whose list is empty (absent here) is not restricted: Parameterised lists pipelines only.
ALLOWED_TARGETS: dict[str, dict[str, set[str]]] = {
    "Restricted": {
        "pipeline": {ALLOWED_GUID, "azureml:score@prod"},
        "endpoint": {ALLOWED_ENDPOINT},
        "batch": {"loan-scoring"},
    },
    "Parameterised": {"pipeline": {"azureml:p:1"}},
}


def assert_permitted(request: LaunchRequest) -> None:
    ws = request.workspace
    assert ws is not None
    assert (request.linked_service, ws.subscription_id, ws.resource_group, ws.name) in ALLOWED_WORKSPACES, request
    allowed = ALLOWED_TARGETS.get(request.linked_service)
    if allowed is None:
        return
    target = request.target
    if isinstance(target, PublishedPipelineTarget):
        kind, name = "pipeline", target.pipeline_id
    elif isinstance(target, PipelineComponentTarget):
        kind, name = "pipeline", target.reference
    elif isinstance(target, PipelineEndpointTarget):
        kind, name = "endpoint", target.endpoint_id
    else:
        assert isinstance(target, BatchEndpointTarget)
        kind, name = "batch", target.endpoint_name
    if kind in allowed:
        assert name.lower() in allowed[kind], f"{request.linked_service} launched {target!r}"


def activity(
    reference: Any = "Restricted", ref_parameters: dict[str, Any] | None = None, **type_properties: Any
) -> dict[str, Any]:
    link: dict[str, Any] = {"referenceName": reference, "type": "LinkedServiceReference"}
    if ref_parameters is not None:
        link["parameters"] = ref_parameters
    return {
        "name": "Score",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": link,
        "typeProperties": type_properties or {"mlPipelineId": "azureml:score@prod"},
    }


def outcome(payload: dict[str, Any]) -> LaunchRequest | RequestRejected:
    """Resolve a payload; whatever happens, a resolved request must be permitted."""
    try:
        request = resolve(validate_payload(payload), CONTEXT, REGISTRY)
    except RequestRejected as rejected:
        return rejected
    assert_permitted(request)
    return request


def rejected_codes(payload: dict[str, Any]) -> set[str]:
    result = outcome(payload)
    assert isinstance(result, RequestRejected), f"resolved: {result!r}"
    return {issue.code for issue in result.issues}


# ------------------------------------------------------------------------------- linked-service references


@pytest.mark.parametrize(
    "reference",
    [
        "Nope",
        "",
        " ",
        "Restricted ",
        " Restricted",
        "Restricted\u0000",
        "Restricted\n",
        "Re stricted",
        "Restrіcted",  # Cyrillic і
        "RESTRİCTED",  # dotted capital I: lower() is two characters
        "[parameters('Nope')]",
        "[parameters('Restricted')]x",
        '[parameters("Restricted")]',
        "[concat('Restr', 'icted')]",
        "[variables('Restricted')]",
        "[parameters('Restricted', 'Open')]",
        "@pipeline().parameters.ls",
        "@{pipeline().parameters.ls}",
        "@variables('ls')",
        "../Restricted",
        "Restricted/../Open",
        "*",
        "%",
        "Restricted'",
        "[parameters('[parameters('Open')]')]",
    ],
)
def test_unconfigured_or_disguised_references_are_rejected(reference: str) -> None:
    payload = {"activity": activity(reference), "pipeline": {"parameters": {"ls": "Open"}}, "variables": {"ls": "Open"}}
    codes = rejected_codes(payload)
    assert codes & {"unknown_linked_service", "string_too_short", "missing", "string_type"}, codes


@pytest.mark.parametrize(
    ("reference", "service"),
    [
        ("restricted", "Restricted"),
        ("RESTRICTED", "Restricted"),
        ("[parameters('Restricted')]", "Restricted"),
        ("[ parameters( 'restricted' ) ]", "Restricted"),
        (" [parameters('Open')] ", "Open"),
    ],
)
def test_case_and_arm_wrappers_find_only_the_configured_service(reference: str, service: str) -> None:
    request = outcome({"activity": activity(reference, mlPipelineId="azureml:score@prod")})
    assert isinstance(request, LaunchRequest) and request.linked_service == service


@pytest.mark.parametrize(
    "reference",
    [{"value": "@pipeline().parameters.ls", "type": "Expression"}, ["Open"], 7, None, {"referenceName": "Open"}],
)
def test_a_reference_that_is_not_a_plain_name_is_rejected(reference: Any) -> None:
    assert rejected_codes({"activity": activity(reference), "pipeline": {"parameters": {"ls": "Open"}}})


def test_external_reference_forms_are_held_to_the_same_lists() -> None:
    fabric = {
        "name": "F",
        "type": "AzureMLExecutePipeline",
        "externalReferences": {"connection": "Nope"},
        "typeProperties": {"mlPipelineId": "azureml:score@prod"},
    }
    assert "unknown_linked_service" in rejected_codes(fabric)
    fabric["externalReferences"] = {"connection": "Restricted"}
    fabric["typeProperties"] = {"mlPipelineId": "azureml:score:1"}
    assert "not_allowed" in rejected_codes(fabric)


def test_no_reference_and_no_default_is_rejected() -> None:
    bare = {"name": "F", "type": "AzureMLExecutePipeline", "typeProperties": {"mlPipelineId": ALLOWED_GUID}}
    assert "missing" in rejected_codes(bare)


# ---------------------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    "type_properties",
    [
        {"mlPipelineId": FORBIDDEN_GUID},
        {"mlPipelineId": FORBIDDEN_GUID.upper()},
        {"mlPipelineId": " " + ALLOWED_GUID},
        {"mlPipelineId": ALLOWED_GUID + "\u200b"},
        {"mlPipelineId": "azureml:score:1"},
        {"mlPipelineId": "azureml:score"},
        {"mlPipelineId": "azureml:score@latest"},
        {"mlPipelineId": "azureml:score@prod "},
        {"mlPipelineId": "azureml:score@prod:1"},
        {"mlPipelineId": "azureml:other@prod"},
        {"mlPipelineId": "azureml://registries/r/components/score/labels/prod"},
        {"mlPipelineId": "@pipeline().parameters.forbidden"},
        {"mlPipelineId": "@{pipeline().parameters.forbidden}"},
        {"mlPipelineId": {"value": "@variables('forbidden')", "type": "Expression"}},
        {"mlPipelineId": "@concat('azureml:score', '@', 'staging')"},
        {"mlPipelineId": "@{'azureml:score'}@staging"},
        {"mlPipelineId": "@replace(pipeline().parameters.allowed, 'prod', 'dev')"},
        {"mlPipelineId": "@if(equals(1, 1), pipeline().parameters.forbidden, 'azureml:score@prod')"},
        {"mlPipelineId": "@item().pid"},
        {"mlPipelineId": "@activity('Lookup').output.firstRow.pid"},
        {"mlPipelineId": "@toLower(pipeline().parameters.forbidden)"},
        {"mlPipelineEndpointId": FORBIDDEN_ENDPOINT},
        {"mlPipelineEndpointId": "@pipeline().parameters.forbiddenEndpoint", "version": "1"},
        {"mlPipelineEndpointId": ALLOWED_GUID},  # a pipeline id is not an endpoint
        {"mlPipelineId": ALLOWED_ENDPOINT},  # nor the other way round
        {"mlBatchEndpointName": "scoring"},
        {"mlBatchEndpointName": "loan-scoring ", "mlBatchDeploymentName": "blue"},
        {"mlBatchEndpointName": "@concat('loan', '-', 'scoring-v2')"},
        {"mlExecutionType": "batchEndpoint", "mlPipelineId": "loan-scoring"},
        {"mlPipelineId": "@''", "mlBatchEndpointName": "@pipeline().parameters.forbidden"},
        {"mlPipelineId": "@createArray('azureml:score@prod')"},
        {"mlPipelineId": '@json(\'{"id": "azureml:score@prod"}\')'},
    ],
)
def test_a_forbidden_target_is_rejected_whatever_builds_it(type_properties: dict[str, Any]) -> None:
    payload = {
        "activity": activity("Restricted", **type_properties),
        "pipeline": {
            "parameters": {
                "forbidden": "azureml:score@staging",
                "allowed": "azureml:score@prod",
                "forbiddenEndpoint": FORBIDDEN_ENDPOINT,
            }
        },
        "variables": {"forbidden": FORBIDDEN_GUID},
        "item": {"pid": "azureml:score:2"},
        "activityOutputs": {"Lookup": {"firstRow": {"pid": FORBIDDEN_GUID}}},
    }
    assert rejected_codes(payload)


@pytest.mark.parametrize(
    "type_properties",
    [
        {"mlPipelineId": ALLOWED_GUID.upper()},
        {"mlPipelineId": "@pipeline().parameters.allowed"},
        {"mlPipelineId": "@concat('azureml:', 'score', '@prod')"},
        {"mlPipelineEndpointId": ALLOWED_ENDPOINT, "version": "@string(add(1, 1))"},
        {"mlBatchEndpointName": "@toLower('LOAN-SCORING')", "mlBatchDeploymentName": "@pipeline().parameters.any"},
        {"mlExecutionType": "batchEndpoint", "mlBatchEndpointName": "loan-scoring"},
    ],
)
def test_an_allowed_target_built_by_an_expression_resolves(type_properties: dict[str, Any]) -> None:
    payload = {
        "activity": activity("Restricted", **type_properties),
        "pipeline": {"parameters": {"allowed": "azureml:score@prod", "any": "blue"}},
    }
    assert isinstance(outcome(payload), LaunchRequest)


def test_a_previewed_run_time_target_is_checked_when_it_resolves() -> None:
    payload = {"activity": activity("Restricted", mlPipelineId="@item().pid")}
    previewed = preview(validate_payload(payload), CONTEXT, REGISTRY)  # validation cannot know item() yet
    assert previewed.deferred
    assert "not_allowed" in rejected_codes({**payload, "item": {"pid": "azureml:score:2"}})
    assert isinstance(outcome({**payload, "item": {"pid": "azureml:score@prod"}}), LaunchRequest)


# ------------------------------------------------------------------------- parameterised linked services


@pytest.mark.parametrize(
    "ref_parameters",
    [
        {"ws": "ws-c"},
        {"ws": "WS-B"},
        {"ws": "ws-b "},
        {"ws": ["ws-b"]},
        {"ws": {"value": "ws-b", "extra": 1}},
        {"ws": 7},
        {"ws": None},
        {"ws": "@pipeline().parameters.target"},
        {"ws": "@{pipeline().parameters.target}"},
        {"ws": {"value": "@variables('target')", "type": "Expression"}},
        {"ws": "@@{linkedService().sub}"},
        {"ws": "@linkedService().sub"},
        {"sub": OTHER_SUB},
        {"sub": "@pipeline().parameters.sub"},
        {"rg": "rg-other"},
        {"region": "westeurope"},
        {"ws": "ws-b", "sub": OTHER_SUB},
    ],
)
def test_linked_service_parameters_outside_the_allowed_values_are_rejected(ref_parameters: dict[str, Any]) -> None:
    payload = {
        "activity": activity("Parameterised", ref_parameters, mlPipelineId="azureml:p:1"),
        "pipeline": {"parameters": {"target": "ws-evil", "sub": OTHER_SUB}},
        "variables": {"target": "ws-evil"},
    }
    codes = rejected_codes(payload)
    assert codes & {"not_allowed", "unknown_parameter", "evaluation_failed", "linked_service"}, codes


@pytest.mark.parametrize(
    ("ref_parameters", "workspace"),
    [
        (None, "ws-a"),
        ({}, "ws-a"),
        ({"ws": "ws-b"}, "ws-b"),
        ({"ws": "@pipeline().parameters.pick"}, "ws-b"),
        ({"ws": "ws-a", "sub": SUB}, "ws-a"),
        ({"WS": "ws-b"}, "ws-a"),
    ],
)
def test_allowed_linked_service_parameters_pick_an_allowed_workspace(
    ref_parameters: dict[str, Any] | None, workspace: str
) -> None:
    payload = {
        "activity": activity("Parameterised", ref_parameters, mlPipelineId="azureml:p:1"),
        "pipeline": {"parameters": {"pick": "ws-b"}},
    }
    request = outcome(payload)
    assert isinstance(request, LaunchRequest)
    assert request.workspace is not None and request.workspace.name == workspace


def test_the_envelope_cannot_supply_linked_service_values() -> None:
    payload = {
        "activity": activity("Parameterised", {"ws": "@linkedService().ws"}, mlPipelineId="azureml:p:1"),
        "linkedService": {"ws": "ws-evil"},
        "pipeline": {"parameters": {"linkedService": {"ws": "ws-evil"}}},
    }
    result = outcome(payload)
    if isinstance(result, LaunchRequest):
        assert result.workspace is not None and result.workspace.name in {"ws-a", "ws-b"}


# --------------------------------------------------------------------------------------------- property

_NAMES = ["Open", "Restricted", "Parameterised", "Nope", "open", "RESTRICTED", "parameterised "]
references = st.one_of(
    st.sampled_from(_NAMES),
    st.builds(lambda n: f"[parameters('{n}')]", st.sampled_from(_NAMES)),
    st.builds(lambda n, pad: pad + n + pad, st.sampled_from(_NAMES), st.sampled_from(["", " ", "\t", "\u00a0"])),
    st.text(min_size=1, max_size=20),
)
target_names = st.one_of(
    st.sampled_from(
        [
            ALLOWED_GUID,
            FORBIDDEN_GUID,
            ALLOWED_ENDPOINT,
            FORBIDDEN_ENDPOINT,
            "azureml:score@prod",
            "azureml:score:1",
            "azureml:p:1",
            "azureml:p@prod",
            "loan-scoring",
            "scoring",
            "AZUREML:P:1",
            ALLOWED_GUID.upper(),
            "azureml:score@PROD",
        ]
    ),
    st.text(max_size=30),
)
expressions = st.one_of(
    target_names,
    st.just("@pipeline().parameters.x"),
    st.just("@{pipeline().parameters.x}"),
    st.builds(lambda t: f"@toLower('{t}')", st.sampled_from(["AZUREML:P:1", "Loan-Scoring", ALLOWED_GUID.upper()])),
    st.builds(lambda t: {"value": t, "type": "Expression"}, st.just("@variables('x')")),
)
target_properties = st.sampled_from(["mlPipelineId", "mlPipelineEndpointId", "mlBatchEndpointName"])
ws_values = st.one_of(
    st.sampled_from(["ws-a", "ws-b", "ws-c", "WS-A", "@pipeline().parameters.w", SUB, OTHER_SUB, "@variables('x')"]),
    st.text(max_size=10),
)
ref_params = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(["ws", "sub", "rg", "WS", "other"]), ws_values, max_size=3)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.tuples(references, target_properties, expressions), target_names, ref_params, ws_values)
def test_any_resolved_request_is_in_a_configured_workspace_on_an_allowed_target(
    message: tuple[str, str, Any], context_value: str, parameters: dict[str, Any] | None, w: str
) -> None:
    reference, prop, value = message
    payload = {
        "activity": activity(reference, parameters, **{prop: value}),
        "pipeline": {"parameters": {"x": context_value, "w": w}},
        "variables": {"x": context_value},
    }
    outcome(payload)  # asserts the invariant whenever it resolves


# ------------------------------------------------------------------------------------------- end to end


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    flow = make_flow(monkeypatch, tmp_path)
    from fakes.workspace import RG, WS
    from fakes.workspace import SUB as FAKE_SUB

    flow.world.registry.extend(
        [
            {
                "name": "ScoringOnly",
                "properties": {
                    "type": "AzureMLService",
                    "typeProperties": {
                        "subscriptionId": FAKE_SUB,
                        "resourceGroupName": RG,
                        "mlWorkspaceName": WS,
                        "authentication": "MSI",
                    },
                },
                "amlexec": {"allowedPipelines": ["azureml:score_pipeline@prod"]},
            }
        ],
        source="test",
        env={},
    )
    return flow


def test_a_forbidden_pipeline_never_reaches_the_workspace_end_to_end(flow: Flow) -> None:
    body = {
        "activity": {
            "name": "Score",
            "type": "AzureMLExecutePipeline",
            "linkedServiceName": {"referenceName": "[parameters('ScoringOnly')]", "type": "LinkedServiceReference"},
            "typeProperties": {"mlPipelineId": "@pipeline().parameters.pid", "mlPipelineParameters": {"n": 1}},
        },
        "pipeline": {"parameters": {"pid": "azureml:score_pipeline:3"}},
    }  # registered in the fake workspace
    raw = json.dumps(body).encode()
    flow.deliver_request(raw, message_id="forbidden-1")
    flow.pump()

    assert flow.world.fake.jobs == {}
    assert not [c for c in flow.world.router.calls if c.method in ("PUT", "POST")], "nothing may be submitted"
    events = flow.events()
    assert [e["type"] for e in events] == ["com.amlexec.run.rejected"]
    assert {i["code"] for i in events[0]["data"]["issues"]} == {"not_allowed"}
    rejected = flow.bus.sent[Destination.REJECTED]
    assert len(rejected) == 1 and rejected[0].body == raw
    assert rejected[0].application_properties["amlexec.originalMessageId"] == "forbidden-1"
    assert "not_allowed" in str(rejected[0].application_properties["amlexec.issues"])
