"""The Function App as the host indexes it: every function's bindings, settings names and connections."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import app_indexed_with

import function_app


def indexed() -> dict[str, dict[str, Any]]:
    function_app.app.functions_bindings = {}
    try:
        return {
            str(fn.get_function_name()): dict(json.loads(fn.get_function_json()))
            for fn in function_app.app.get_functions()
        }
    finally:
        function_app.app.functions_bindings = {}


def trigger(function: dict[str, Any]) -> dict[str, Any]:
    (found,) = [b for b in function["bindings"] if b["direction"] == "IN" and b["type"].endswith("Trigger")]
    return dict(found)


def test_the_host_indexes_exactly_these_functions() -> None:
    assert set(indexed()) == {
        "requests",
        "status_checks",
        "scheduler",
        "runs_submit",
        "runs_status",
        "validate",
        "openapi",
        "progress",
        "requests_status",
        "run_events",
    }


def test_service_bus_triggers_use_settings_and_the_identity_based_connection() -> None:
    functions = indexed()
    requests, checks = trigger(functions["requests"]), trigger(functions["status_checks"])
    for binding in (requests, checks):
        assert binding["type"] == "serviceBusTrigger"
        assert binding["connection"] == "ServiceBusConnection"
    assert requests["queueName"] == "%AMLEXEC_REQUEST_QUEUE%"
    assert checks["queueName"] == "%AMLEXEC_STATUS_QUEUE%"


def test_timer_ticks_on_a_setting_and_uses_the_schedule_monitor() -> None:
    timer = trigger(indexed()["scheduler"])
    assert timer["type"] == "timerTrigger"
    assert timer["schedule"] == "%AMLEXEC_SCHEDULER_TICK%"
    assert timer["useMonitor"] is True and timer["runOnStartup"] is False


def test_http_routes_methods_and_function_keys() -> None:
    functions = indexed()
    expected = {
        "runs_submit": ("runs", ["POST"]),
        "runs_status": ("runs/{run_id}", ["GET"]),
        "requests_status": ("requests/{request_id}", ["GET"]),
        "validate": ("validate", ["POST"]),
        "openapi": ("openapi.json", ["GET"]),
    }
    for name, (route, methods) in expected.items():
        binding = trigger(functions[name])
        assert binding["type"] == "httpTrigger"
        assert (binding["route"], binding["methods"]) == (route, methods)
        assert binding["authLevel"] == "FUNCTION"
        assert any(b["type"] == "http" and b["direction"] == "OUT" for b in functions[name]["bindings"])


def test_the_progress_url_is_anonymous_because_it_authenticates_itself() -> None:
    binding = trigger(indexed()["progress"])
    assert (binding["route"], binding["methods"], binding["authLevel"]) == ("progress/{token}", ["GET"], "ANONYMOUS")


def test_event_grid_trigger() -> None:
    assert trigger(indexed()["run_events"])["type"] == "eventGridTrigger"


def test_topic_subscription_trigger_is_registered_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    topic = {"AMLEXEC_REQUEST_TOPIC": "amlexec-requests-topic", "AMLEXEC_REQUEST_SUBSCRIPTION": "amlexec"}
    with app_indexed_with(monkeypatch, topic):
        binding = trigger(indexed()["requests_topic"])
        assert binding["type"] == "serviceBusTrigger"
        assert binding["topicName"] == "%AMLEXEC_REQUEST_TOPIC%"
        assert binding["subscriptionName"] == "%AMLEXEC_REQUEST_SUBSCRIPTION%"
        assert binding["connection"] == "ServiceBusConnection"
    assert "requests_topic" not in indexed()


def test_the_event_grid_forwarder_is_registered_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "events_to_eventgrid" not in indexed()
    forwarder = {
        "AMLEXEC_EVENTGRID_TOPIC_ENDPOINT": "https://evgt.westeurope-1.eventgrid.azure.net/api/events",
        "AMLEXEC_EVENTGRID_SUBSCRIPTION": "eventgrid-forwarder",
    }
    with app_indexed_with(monkeypatch, forwarder):
        binding = trigger(indexed()["events_to_eventgrid"])
        assert binding["type"] == "serviceBusTrigger"
        assert binding["topicName"] == "%AMLEXEC_EVENTS_TOPIC%"
        assert binding["subscriptionName"] == "%AMLEXEC_EVENTGRID_SUBSCRIPTION%"
        assert binding["connection"] == "ServiceBusConnection"
    assert "events_to_eventgrid" not in indexed()


def test_every_binding_setting_is_in_the_local_settings_sample() -> None:
    sample = json.loads((Path(function_app.__file__).parent / "local.settings.sample.json").read_text())["Values"]
    for function in indexed().values():
        for binding in function["bindings"]:
            for value in binding.values():
                if isinstance(value, str) and value.startswith("%") and value.endswith("%"):
                    assert value.strip("%") in sample, value
            if "connection" in binding:
                assert f"{binding['connection']}__fullyQualifiedNamespace" in sample


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_trigger_module_imports_azure_functions() -> None:
    core = Path(function_app.__file__).parent / "amlexec"
    offenders = [
        p.name
        for p in core.rglob("*.py")
        if any(m.startswith("azure.functions") for m in imported_modules(p)) and p.name != "triggers.py"
    ]
    assert offenders == []
    assert imported_modules(Path(function_app.__file__)) == {"azure.functions", "amlexec.triggers"}


def test_cold_import_loads_no_azure_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, function_app; heavy = [m for m in sys.modules if m.startswith(('azure.ai', 'azure.identity',"
        " 'azure.servicebus', 'azure.core', 'yaml'))]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(function_app.__file__).parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert out == "[]"
