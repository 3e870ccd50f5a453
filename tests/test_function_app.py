"""The Function App as the host indexes it, and its HTTP validate endpoint called directly."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import azure.functions as func
import pytest
from conftest import EXAMPLES

import function_app
from amlexec.handlers import linked_services_for
from amlexec.settings import get_settings


@pytest.fixture(autouse=True)
def example_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLEXEC_LINKED_SERVICES_FILE", str(EXAMPLES / "linked_services.json"))
    get_settings.cache_clear()
    linked_services_for.cache_clear()


def functions() -> dict[str, dict[str, object]]:
    function_app.app.functions_bindings = {}
    return {fn.get_function_name(): json.loads(fn.get_function_json()) for fn in function_app.app.get_functions()}


def test_host_indexes_validate_endpoint() -> None:
    indexed = functions()
    validate = indexed["validate"]
    bindings = validate["bindings"]
    assert isinstance(bindings, list)
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    assert trigger["route"] == "validate"
    assert trigger["methods"] == ["POST"]
    assert trigger["authLevel"] == "FUNCTION"


def call(body: bytes) -> func.HttpResponse:
    request = func.HttpRequest(method="POST", url="http://localhost/api/validate", body=body, headers={})
    function_app.app.functions_bindings = {}
    fn = next(f for f in function_app.app.get_functions() if f.get_function_name() == "validate")
    response = fn.get_user_function()(request)
    function_app.app.functions_bindings = {}
    assert isinstance(response, func.HttpResponse)
    return response


def test_validate_endpoint_previews_the_request() -> None:
    response = call((EXAMPLES / "payloads" / "loan_scoring.json").read_bytes())
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["valid"] is True
    assert body["request"]["target"]["kind"] == "local_pipeline"


def test_validate_endpoint_lists_every_issue() -> None:
    response = call(json.dumps({"name": "x", "type": "AzureMLExecutePipeline",
                                "typeProperties": {"mlPipelineId": 1}}).encode())
    assert response.status_code == 422
    body = json.loads(response.get_body())
    assert body["valid"] is False
    assert body["issues"][0]["path"] == "typeProperties.mlPipelineId"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_trigger_module_imports_azure_functions() -> None:
    core = Path(function_app.__file__).parent / "amlexec"
    offenders = [p.name for p in core.rglob("*.py")
                 if any(m.startswith("azure.functions") for m in imported_modules(p)) and p.name != "triggers.py"]
    assert offenders == []
    assert imported_modules(Path(function_app.__file__)) == {"azure.functions", "amlexec.triggers"}
