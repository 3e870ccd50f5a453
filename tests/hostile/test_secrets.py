"""Secrets never leak: secureInput / secureOutput values and service-principal secrets are absent from log
records (every logger at DEBUG, the azure SDK's included), events, error messages and issue dicts, HTTP
responses and the rejected queue's application properties.

Each test plants distinctive secret values, drives amlexec (directly, or through the Function App's
triggers with ``flow.harness.make_flow``), then scans everything captured for those values.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXED_TIME
from fakes.workspace import RG, SUB, WS
from flow.harness import Flow, make_flow

from amlexec import triggers
from amlexec.bus.base import Destination
from amlexec.errors import ConfigurationError, RequestRejected
from amlexec.linked_services import LinkedServiceRegistry, secret_setting_name
from amlexec.request import RequestContext
from amlexec.resolve import preview, resolve
from amlexec.settings import Settings
from amlexec.validation import validate_payload

SP_SECRET = "sp-Secret-4f9Q~zX"
INLINE_SECRET = "inline-Secret-K3y8"
INPUT_SECRET = "in-Secret-7c1e"
OUTPUT_SECRET = "out-Secret-9b2f"
SECRETS = (SP_SECRET, INLINE_SECRET, INPUT_SECRET, OUTPUT_SECRET)

SP_SERVICE = {
    "name": "SecureML",
    "properties": {
        "type": "AzureMLService",
        "typeProperties": {
            "subscriptionId": SUB,
            "resourceGroupName": RG,
            "mlWorkspaceName": WS,
            "servicePrincipalId": "00000000-0000-0000-0000-0000000000aa",
            "tenant": "contoso.onmicrosoft.com",
        },
    },
}
INLINE_SERVICE = {
    "name": "InlineML",
    "properties": {
        "type": "AzureMLService",
        "typeProperties": {
            "subscriptionId": SUB,
            "resourceGroupName": RG,
            "mlWorkspaceName": WS,
            "servicePrincipalId": "00000000-0000-0000-0000-0000000000bb",
            "tenant": "contoso.onmicrosoft.com",
            "servicePrincipalKey": {"type": "SecureString", "value": INLINE_SECRET},
        },
    },
}
SP_ENV = {secret_setting_name("SecureML"): SP_SECRET}


def leaks(*captured: Any) -> list[str]:
    """The secrets found in anything captured (text, bytes, dicts, exceptions, log records)."""
    found = []
    for item in _flatten(captured):
        for secret in SECRETS:
            if secret in item:
                found.append(f"{secret!r} in {item[:300]!r}")
    return found


def _flatten(items: Iterable[Any]) -> Iterable[str]:
    for item in items:
        if isinstance(item, logging.LogRecord):
            yield item.getMessage()
            yield repr(item.args)
            if item.exc_info and item.exc_info[1] is not None:
                yield repr(item.exc_info[1])
        elif isinstance(item, bytes):
            yield item.decode("utf-8", "replace")
        elif isinstance(item, BaseException):
            yield str(item)
            yield repr(item)
            if isinstance(item, RequestRejected):
                yield json.dumps(item.to_dict())
                yield from (str(i) for i in item.issues)
        elif isinstance(item, str):
            yield item
        elif isinstance(item, list | tuple):
            yield from _flatten(item)
        else:
            yield repr(item)
            with contextlib.suppress(TypeError, ValueError):
                yield json.dumps(item, default=repr)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in (
        "amlexec",
        "azure",
        "azure.core.pipeline.policies.http_logging_policy",
        "azure.identity",
        "azure.ai.ml",
        "azure.servicebus",
    ):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def secure_activity(**type_properties: Any) -> dict[str, Any]:
    return {
        "name": "Score",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "policy": {"secureInput": True, "secureOutput": True},
        "typeProperties": {"mlPipelineId": "azureml:score_pipeline:3", **type_properties},
    }


CONTEXT = RequestContext(request_id="secret-1", received_at=FIXED_TIME, correlation_id="c")


def registry(*entries: dict[str, Any]) -> LinkedServiceRegistry:
    base = {
        "name": "AzureMLService",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {
                "subscriptionId": SUB,
                "resourceGroupName": RG,
                "mlWorkspaceName": WS,
                "authentication": "MSI",
            },
        },
    }
    return LinkedServiceRegistry.from_json(json.dumps([base, *entries]), env=SP_ENV)


def rejection(payload: Any, *, lenient: bool = False) -> RequestRejected:
    try:
        validated = validate_payload(payload)
        if lenient:
            preview(validated, CONTEXT, registry())
        else:
            resolve(validated, CONTEXT, registry())
    except RequestRejected as rejected:
        return rejected
    raise AssertionError("expected a rejection")


# ----------------------------------------------------------------------------- secureInput in validation


@pytest.mark.parametrize(
    "type_properties",
    [
        {"experimentName": {"nested": INPUT_SECRET}},
        {"experimentName": [INPUT_SECRET]},
        {"mlPipelineParameters": [INPUT_SECRET]},
        {
            "mlPipelineParameters": {
                "password": {"value": INPUT_SECRET, "type": "SecureString"},
                "n": {"x": 1},
                "t": True,
                "bad": {"value": 5, "type": "Expression"},
            }
        },
        {"mlPipelineEndpointId": INPUT_SECRET, "version": 3},
        {"mlExecutionType": INPUT_SECRET},
        {"jobInputs": {"x": {"value": [INPUT_SECRET], "type": "Expression"}}},
        {"dataPathAssignments": {"p": {"DataStoreName": [INPUT_SECRET]}}},
        {"continueOnStepFailure": INPUT_SECRET},
        {"mlParentRunId": {"value": INPUT_SECRET, "type": "Nope"}},
    ],
)
def test_validation_issues_redact_what_was_found(type_properties: dict[str, Any], logs: Any) -> None:
    rejected = rejection({"activity": secure_activity(**type_properties)})
    assert any(i.got == "<redacted: secureInput>" for i in rejected.issues) or all(
        i.got is None for i in rejected.issues
    )
    assert not leaks(rejected, logs.records)


@pytest.mark.parametrize(
    "type_properties",
    [
        {"experimentName": INPUT_SECRET + "!"},  # not a valid experiment name
        {"experimentName": "@concat('" + INPUT_SECRET + "', '!')"},
        {"mlPipelineId": "azureml:" + INPUT_SECRET + ":1:2"},
        {"mlBatchDeploymentName": INPUT_SECRET},
        {"mlPipelineParameters": "@createArray('" + INPUT_SECRET + "')"},
        {"continueOnStepFailure": "@concat('" + INPUT_SECRET + "')"},
        {"dataPathAssignments": {"p": {"RelativePath": INPUT_SECRET}}},
    ],
)
def test_resolution_issues_redact_what_was_found(type_properties: dict[str, Any], logs: Any) -> None:
    rejected = rejection({"activity": secure_activity(**type_properties)})
    assert not leaks(rejected, logs.records)


@pytest.mark.parametrize(
    "text", [f"@concat('{INPUT_SECRET}'", f"@{INPUT_SECRET}(", f"@{{'{INPUT_SECRET}'", "@" + INPUT_SECRET * 800]
)
def test_expression_syntax_errors_do_not_quote_secure_input(text: str) -> None:
    rejected = rejection({"activity": secure_activity(mlPipelineParameters={"p": text})})
    assert not leaks(rejected)


def test_evaluation_errors_do_not_quote_secure_input() -> None:
    rejected = rejection(
        {
            "activity": secure_activity(mlPipelineParameters={"p": "@int(pipeline().parameters.pwd)"}),
            "pipeline": {"parameters": {"pwd": INPUT_SECRET}},
        }
    )
    assert not leaks(rejected)


def test_preview_under_secure_input_hides_parameters() -> None:
    payload = {
        "activity": secure_activity(
            mlPipelineParameters={"p": INPUT_SECRET, "q": "@item().x"}, jobInputs={"j": INPUT_SECRET}
        ),
        "pipeline": {"parameters": {"pwd": INPUT_SECRET}},
    }
    resolution = preview(validate_payload(payload), CONTEXT, registry())
    assert not leaks(resolution.request.public_view(), [str(i) for i in resolution.deferred + resolution.warnings])


# ------------------------------------------------------------------------ service-principal secrets


def test_service_principal_secrets_stay_out_of_reprs_and_errors(logs: Any) -> None:
    reg = registry(SP_SERVICE, INLINE_SERVICE)
    env_service, inline_service = reg.get("SecureML"), reg.get("InlineML")
    assert env_service is not None and inline_service is not None
    assert env_service.credential.secret is not None
    assert env_service.credential.secret.get_secret_value() == SP_SECRET
    assert inline_service.credential.secret is not None
    assert inline_service.credential.secret.get_secret_value() == INLINE_SECRET
    credential = reg.credential(env_service)
    inline_credential = reg.credential(inline_service)
    assert not leaks(
        repr(env_service),
        str(env_service),
        repr(env_service.credential),
        repr(inline_service),
        repr(inline_service.credential),
        repr(reg),
        reg.names(),
        repr(credential),
        str(credential),
        repr(inline_credential),
        logs.records,
    )


def test_configuration_errors_never_carry_the_secret(logs: Any) -> None:
    broken = json.loads(json.dumps(INLINE_SERVICE))
    broken["name"] = "Broken"
    del broken["properties"]["typeProperties"]["tenant"]
    reg = LinkedServiceRegistry.from_json(json.dumps([broken]), env={secret_setting_name("Broken"): SP_SECRET})
    service = reg.get("Broken")
    assert service is not None and service.problems
    with pytest.raises(ConfigurationError) as error:
        reg.credential(service)
    duplicated = json.dumps([INLINE_SERVICE, INLINE_SERVICE])
    with pytest.raises(ConfigurationError) as twice:
        LinkedServiceRegistry.from_json(duplicated, env=SP_ENV)
    with pytest.raises(ConfigurationError) as not_json:
        LinkedServiceRegistry.from_json(duplicated[:-40], env=SP_ENV)
    assert not leaks(error.value, twice.value, not_json.value, service.problems, logs.records)


def test_settings_repr_hides_inline_linked_service_secrets() -> None:
    settings = Settings.from_env({"AMLEXEC_LINKED_SERVICES": json.dumps([INLINE_SERVICE])})
    assert not leaks(repr(settings))


# ------------------------------------------------------------------------------------- end to end


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    flow = make_flow(monkeypatch, tmp_path)
    flow.world.registry.extend([SP_SERVICE, INLINE_SERVICE], source="test", env=SP_ENV)
    settings = Settings(linked_services_json=json.dumps([SP_SERVICE, INLINE_SERVICE]))
    monkeypatch.setenv(secret_setting_name("SecureML"), SP_SECRET)
    monkeypatch.setattr(triggers, "get_settings", lambda: settings)  # what POST /api/validate reads
    return flow


def everything(flow: Flow, logs: pytest.LogCaptureFixture, *responses: Any) -> list[Any]:
    rejected = flow.bus.sent[Destination.REJECTED]
    return [
        logs.records,
        [m.body for m in flow.bus.published],
        [json.dumps(m.application_properties, default=str) for m in flow.bus.published],
        [json.dumps(m.application_properties, default=str) for m in rejected],
        [(m.subject, m.correlation_id, m.message_id) for m in rejected + flow.bus.published],
        *[(r.get_body(), dict(r.headers)) for r in responses],
    ]


@pytest.mark.parametrize("reference", ["SecureML", "InlineML"])
def test_a_secure_run_that_fails_leaks_nothing_end_to_end(flow: Flow, logs: Any, reference: str) -> None:
    payload = secure_activity(mlPipelineParameters={"n": 1, "label": INPUT_SECRET}, jobInputs={"flag": True})
    payload["linkedServiceName"]["referenceName"] = reference
    payload["userProperties"] = [{"name": "u", "value": INPUT_SECRET}]
    submitted = flow.http(
        "runs_submit",
        "POST",
        "http://localhost/api/runs",
        body=json.dumps(payload).encode(),
        headers={"Idempotency-Key": f"secure-{reference}"},
    )
    assert submitted.status_code == 202, submitted.get_body()
    ref = json.loads(submitted.get_body())
    flow.world.fake.finish(ref["runName"], "Failed", error=("UserError", f"step failed: {OUTPUT_SECRET}"))
    flow.pump()
    events = flow.events()
    assert [e["type"] for e in events] == ["com.amlexec.run.started", "com.amlexec.run.failed"]
    assert "errorMessage" not in events[-1]["data"] and "parameters" not in events[-1]["data"]
    validated = flow.http("validate", "POST", "http://localhost/api/validate", body=json.dumps(payload).encode())
    assert validated.status_code == 200, validated.get_body()
    assert not leaks(everything(flow, logs, submitted, validated))


def test_run_status_of_a_secure_output_run_hides_the_error_message(flow: Flow, logs: Any) -> None:
    payload = secure_activity(mlPipelineParameters={"n": 1})
    submitted = flow.http(
        "runs_submit",
        "POST",
        "http://localhost/api/runs",
        body=json.dumps(payload).encode(),
        headers={"Idempotency-Key": "secure-status"},
    )
    ref = json.loads(submitted.get_body())
    flow.world.fake.finish(ref["runName"], "Failed", error=("UserError", f"step failed: {OUTPUT_SECRET}"))
    status = flow.http(
        "runs_status", "GET", f"http://localhost/api/runs/{ref['runId']}", route_params={"run_id": ref["runId"]}
    )
    assert json.loads(status.get_body())["status"] == "Failed"
    assert not leaks(everything(flow, logs, status))


@pytest.mark.parametrize(
    "body",
    [
        {"experimentName": {"nested": INPUT_SECRET}},
        {
            "mlPipelineParameters": {"n": "@pipeline().parameters.missing", "x": INPUT_SECRET},
            "experimentName": INPUT_SECRET + "!",
        },
        {"mlPipelineParameters": {"unknown_input": INPUT_SECRET}},  # the component signature rejects it
        pytest.param({"mlPipelineParameters": {"n": f"@int('{INPUT_SECRET}')"}}, id="evaluation-error"),
    ],
)
def test_a_rejected_secure_request_leaks_nothing_end_to_end(flow: Flow, logs: Any, body: dict[str, Any]) -> None:
    payload = secure_activity(**body)
    payload["linkedServiceName"]["referenceName"] = "SecureML"
    raw = json.dumps(payload).encode()
    flow.deliver_request(raw, message_id="secure-rejected")
    response = flow.http(
        "runs_submit",
        "POST",
        "http://localhost/api/runs",
        body=raw,
        headers={"Idempotency-Key": "secure-rejected-http"},
    )
    validated = flow.http("validate", "POST", "http://localhost/api/validate", body=raw)
    assert response.status_code == 400 and validated.status_code in (200, 422)
    assert [e["type"] for e in flow.events()] == ["com.amlexec.run.rejected"] * 2
    rejected = flow.bus.sent[Destination.REJECTED]
    assert len(rejected) == 2 and rejected[0].body == raw  # the body itself is kept, byte for byte, by design
    assert not leaks(everything(flow, logs, response, validated))
