"""Every answer the HTTP functions give matches the OpenAPI document, and every documented answer is given.

Each scenario calls a function the way the host does and checks the body against the schema the document
declares for that path, method and status code (OpenAPI 3.1 schemas are JSON Schema 2020-12).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import jsonschema
import pytest
from fakes.workspace import LINKED_SERVICES
from flow.harness import Flow, activity, make_flow

from amlexec.http_api import openapi_document

DOCUMENT = openapi_document()
Scenario = Callable[[Flow], func.HttpResponse]


def _submit(flow: Flow, body: Any, key: str = "k-1") -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return flow.http("runs_submit", "POST", "http://localhost/api/runs", body=raw, headers={"Idempotency-Key": key})


def _status(flow: Flow, run_ref: str) -> func.HttpResponse:
    return flow.http("runs_status", "GET", f"http://localhost/api/runs/{run_ref}", route_params={"run_id": run_ref})


def _submitted_ref(flow: Flow) -> str:
    return str(json.loads(_submit(flow, activity(), key="k-status").get_body())["runId"])


def _conflict(flow: Flow) -> func.HttpResponse:
    _submit(flow, activity(), key="k-dup")
    return _submit(flow, activity(mlPipelineParameters={"n": 9}), key="k-dup")


def _forbidden_submit(flow: Flow) -> func.HttpResponse:
    flow.world.router.fail("GET", r"/jobs/", status=403, times=50)
    return _submit(flow, activity())


def _throttled_submit(flow: Flow) -> func.HttpResponse:
    flow.world.router.fail("PUT", r"/jobs/", status=429, headers={"Retry-After": "20"}, times=50)
    return _submit(flow, activity())


def _status_after(fault: dict[str, Any]) -> Scenario:
    def scenario(flow: Flow) -> func.HttpResponse:
        run_ref = _submitted_ref(flow)
        flow.world.router.fail("GET", r"/jobs/", times=50, **fault)
        return _status(flow, run_ref)

    return scenario


def _validate(flow: Flow, body: Any, linked_services: str = json.dumps(LINKED_SERVICES)) -> func.HttpResponse:
    """``POST /validate`` reads the app's settings (not the worker's registry): give it these linked services."""
    from amlexec import handlers
    from amlexec.settings import get_settings

    handlers.linked_services_for.cache_clear()
    get_settings.cache_clear()
    flow.monkeypatch.setenv("AMLEXEC_LINKED_SERVICES", linked_services)
    try:
        return flow.http("validate", "POST", "http://localhost/api/validate", body=json.dumps(body).encode())
    finally:
        handlers.linked_services_for.cache_clear()
        get_settings.cache_clear()


def _broken_configuration(flow: Flow) -> func.HttpResponse:
    return _validate(flow, activity(), linked_services="{not json")


def _progress_of(
    flow: Flow, *, finish: tuple[str, tuple[str, str] | None] | None = None, fault: dict[str, Any] | None = None
) -> func.HttpResponse:
    submitted = _submit(flow, activity(), key="k-progress")
    location = submitted.headers["Location"]
    if finish is not None:
        flow.world.fake.finish(json.loads(submitted.get_body())["runName"], finish[0], error=finish[1])
    if fault is not None:
        flow.world.router.fail("GET", r"/jobs/", times=50, **fault)
    token = location.rsplit("/", 1)[1]
    return flow.http("progress", "GET", location, route_params={"token": token})


def _forged_progress(flow: Flow) -> func.HttpResponse:
    return flow.http("progress", "GET", "https://x/api/progress/p1.e30.AAAA", route_params={"token": "p1.e30.AAAA"})


def _request_lookup(
    flow: Flow,
    *,
    finish: tuple[str, tuple[str, str] | None] | None = None,
    fault: dict[str, Any] | None = None,
    index: bool = True,
) -> func.HttpResponse:
    flow.deliver_request(activity(), message_id="adf-lookup")
    if finish is not None:
        flow.world.fake.finish(flow.job()["name"], finish[0], error=finish[1])
    if fault is not None:
        flow.world.router.fail("GET", r"/jobs/", times=50, **fault)
    if not index:
        flow.worker.index = None
    return flow.http(
        "requests_status", "GET", "https://x/api/requests/adf-lookup", route_params={"request_id": "adf-lookup"}
    )


SCENARIOS: dict[tuple[str, str, int], Scenario] = {
    ("/requests/{requestId}", "get", 200): lambda flow: _request_lookup(flow, finish=("Completed", None)),
    ("/requests/{requestId}", "get", 202): _request_lookup,
    ("/requests/{requestId}", "get", 424): lambda flow: _request_lookup(flow, finish=("Failed", ("UserError", "x"))),
    ("/requests/{requestId}", "get", 500): lambda flow: _request_lookup(flow, index=False),
    ("/requests/{requestId}", "get", 503): lambda flow: _request_lookup(flow, fault={"status": 503}),
    ("/progress/{token}", "get", 200): lambda flow: _progress_of(flow, finish=("Completed", None)),
    ("/progress/{token}", "get", 202): _progress_of,
    ("/progress/{token}", "get", 404): _forged_progress,
    ("/progress/{token}", "get", 424): lambda flow: _progress_of(flow, finish=("Failed", ("UserError", "boom"))),
    ("/progress/{token}", "get", 500): lambda flow: _progress_of(flow, fault={"status": 403}),
    ("/progress/{token}", "get", 503): lambda flow: _progress_of(
        flow, fault={"status": 503, "headers": {"Retry-After": "2"}}
    ),
    ("/runs", "post", 202): lambda flow: _submit(flow, activity()),
    ("/runs", "post", 400): lambda flow: _submit(flow, activity(mlPipelineId=7)),
    ("/runs", "post", 409): _conflict,
    ("/runs", "post", 500): _forbidden_submit,
    ("/runs", "post", 503): _throttled_submit,
    ("/runs/{runId}", "get", 200): lambda flow: _status(flow, _submitted_ref(flow)),
    ("/runs/{runId}", "get", 400): lambda flow: _status(flow, "forged"),
    ("/runs/{runId}", "get", 500): _status_after({"status": 403}),
    ("/runs/{runId}", "get", 503): _status_after({"status": 503, "headers": {"Retry-After": "3"}}),
    ("/validate", "post", 200): lambda flow: _validate(flow, activity()),
    ("/validate", "post", 422): lambda flow: _validate(flow, activity(experimentName=42)),
    ("/validate", "post", 500): _broken_configuration,
}


def _documented() -> set[tuple[str, str, int]]:
    return {
        (path, method, int(code))
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        for code in operation["responses"]
    }


def test_every_documented_answer_has_a_scenario() -> None:
    assert set(SCENARIOS) == _documented()


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    return make_flow(monkeypatch, tmp_path)


@pytest.mark.parametrize("key", sorted(SCENARIOS), ids=lambda k: f"{k[1].upper()} {k[0]} {k[2]}")
def test_each_answer_matches_the_document(flow: Flow, key: tuple[str, str, int]) -> None:
    path, method, code = key
    response = SCENARIOS[key](flow)
    assert response.status_code == code, response.get_body()[:300]
    documented = DOCUMENT["paths"][path][method]["responses"][str(code)]
    schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(
        json.loads(response.get_body()),
        {**schema, "components": DOCUMENT["components"]},
        cls=jsonschema.Draft202012Validator,
    )
    for header in documented.get("headers", {}):
        assert header in response.headers, f"{header} is documented for {code}"


def test_the_document_itself_is_served_as_committed(flow: Flow) -> None:
    response = flow.http("openapi", "GET", "http://localhost/api/openapi.json")
    assert json.loads(response.get_body()) == DOCUMENT
