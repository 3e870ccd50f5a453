"""ServiceBusConnection as a connection string (the Service Bus emulator's): settings, the worker's bus, the
real azure-servicebus sender end to end against the AMQP test broker, and the startup warning for the
in-memory bus under a real Functions host."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage
from fakes.amqp_broker import AmqpTestBroker, run_with_deadline
from fakes.workspace import World, make_world, seed_pipeline_component

import function_app
from amlexec import triggers
from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.bus.memory import MemoryBus
from amlexec.bus.servicebus import ServiceBusBus
from amlexec.callbacks import MemoryCallbackSender
from amlexec.errors import ConfigurationError
from amlexec.handlers import Worker
from amlexec.settings import SETTING_NAMES, Settings, configured_bus

ROOT = Path(function_app.__file__).resolve().parent
SECRET = "c2VjcmV0LWtleS1uZXZlci1sb2dnZWQ="  # a SAS key that must never show up anywhere
EMULATOR = (
    "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;"
    "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
)
NAMESPACE = "sb-amlexec-dev.servicebus.windows.net"
HOST = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsScriptRoot": "/home/site/wwwroot"}


def secret_connection_string(endpoint: str = "sb://localhost", **extra: str) -> str:
    parts = {"Endpoint": endpoint, "SharedAccessKeyName": "amlexec", "SharedAccessKey": SECRET, **extra}
    return ";".join(f"{key}={value}" for key, value in parts.items())


# -------------------------------------------------------------------------------------------- settings


def test_the_emulators_connection_string_selects_service_bus_and_stays_out_of_the_repr() -> None:
    settings = Settings.from_env({"ServiceBusConnection": EMULATOR})
    assert settings.bus == "servicebus"
    assert settings.service_bus_connection_string == EMULATOR.strip()
    assert settings.service_bus_namespace is None
    assert settings.service_bus_emulator is True
    assert "SAS_KEY_VALUE" not in repr(settings)
    assert "ServiceBusConnection" in SETTING_NAMES


def test_a_real_connection_string_is_a_secret_kept_out_of_the_repr() -> None:
    settings = Settings.from_env({"ServiceBusConnection": secret_connection_string(f"sb://{NAMESPACE}/")})
    assert settings.bus == "servicebus" and settings.service_bus_emulator is False
    assert SECRET not in repr(settings)


def test_identity_based_stays_the_default_and_a_blank_connection_string_is_no_connection() -> None:
    # local.settings.sample.json carries "ServiceBusConnection": "" beside the namespace; the host ignores a blank one.
    settings = Settings.from_env(
        {"ServiceBusConnection__fullyQualifiedNamespace": NAMESPACE, "ServiceBusConnection": " "}
    )
    assert (settings.bus, settings.service_bus_namespace) == ("servicebus", NAMESPACE)
    assert settings.service_bus_connection_string is None and settings.service_bus_emulator is False
    assert Settings.from_env({}).bus == "memory"


def test_both_connections_are_refused_because_the_host_would_silently_use_the_connection_string() -> None:
    env = {
        "ServiceBusConnection__fullyQualifiedNamespace": NAMESPACE,
        "ServiceBusConnection": secret_connection_string(),
    }
    with pytest.raises(ConfigurationError, match="not both") as error:
        Settings.from_env(env)
    assert "ServiceBusConnection__fullyQualifiedNamespace" in str(error.value)
    assert SECRET not in str(error.value)


def test_service_bus_without_either_connection_names_both_settings() -> None:
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env({"AMLEXEC_BUS": "servicebus"})
    assert "ServiceBusConnection__fullyQualifiedNamespace" in str(error.value)
    assert "ServiceBusConnection (a connection string" in str(error.value)


@pytest.mark.parametrize(
    ("connection_string", "expected"),
    [
        (f"SharedAccessKeyName=amlexec;SharedAccessKey={SECRET}", "needs Endpoint="),
        (f"Endpoint=localhost;SharedAccessKeyName=amlexec;SharedAccessKey={SECRET}", "needs Endpoint="),
        (SECRET.rstrip("="), "is not a connection string"),
        ("Endpoint=sb://localhost;SharedAccessKeyName=amlexec", "needs SharedAccessKeyName and SharedAccessKey"),
        (secret_connection_string(SharedAccessSignature=f"sr=x&sig={SECRET}"), "or else SharedAccessSignature"),
        (secret_connection_string(EntityPath="amlexec-requests"), "without EntityPath"),
        (secret_connection_string(UseDevelopmentEmulator="True"), "exactly 'true' or 'false' in lower case"),
        (secret_connection_string(UseDevelopmentEmulator="yes"), "exactly 'true' or 'false' in lower case"),
    ],
)
def test_a_connection_string_the_sdk_would_reject_or_misread_is_refused_without_quoting_it(
    connection_string: str, expected: str
) -> None:
    with pytest.raises(ConfigurationError, match=expected) as error:
        Settings.from_env({"ServiceBusConnection": connection_string})
    assert SECRET.rstrip("=") not in str(error.value)
    assert "ServiceBusConnection" in str(error.value)


def test_an_explicit_memory_bus_wins_over_a_configured_connection(tmp_path: Path) -> None:
    env = {"AMLEXEC_BUS": "memory", "ServiceBusConnection": EMULATOR, "AMLEXEC_LOCAL_RUNS_DIR": str(tmp_path)}
    assert configured_bus(env) == "memory"
    assert isinstance(Worker.create(Settings.from_env(env)).bus, MemoryBus)
    assert configured_bus({"ServiceBusConnection": EMULATOR}) == "servicebus"
    assert configured_bus({"AMLEXEC_BUS": " ServiceBus "}) == "servicebus"


# ------------------------------------------------------------------------------------ the worker's bus


def test_the_identity_based_bus_stays_the_default() -> None:
    settings = Settings(bus="servicebus", service_bus_namespace=NAMESPACE)
    bus = Worker.create(settings).bus
    assert isinstance(bus, ServiceBusBus)
    assert (bus._namespace, bus._connection_string) == (NAMESPACE, None)


def test_a_connection_string_that_is_not_the_emulators_keeps_the_full_sender_pool() -> None:
    connection = secret_connection_string(f"sb://{NAMESPACE}/")
    bus = Worker.create(Settings.from_env({"ServiceBusConnection": connection})).bus
    assert isinstance(bus, ServiceBusBus)
    assert (bus._namespace, bus._connection_string) == (None, connection)
    assert bus._max_senders == ServiceBusBus({}, connection_string=connection)._max_senders


def test_the_bus_takes_a_namespace_or_a_connection_string_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        ServiceBusBus({}, fully_qualified_namespace=NAMESPACE, connection_string=EMULATOR)


def test_a_connection_string_the_sdk_cannot_parse_is_a_configuration_error_without_the_key() -> None:
    # Settings refuse this before a bus is built; the bus still never echoes what it was given.
    bus = ServiceBusBus({Destination.EVENTS: "amlexec-events"}, connection_string=f"SharedAccessKey={SECRET}")
    message = OutgoingMessage(body=b"{}", message_id="m-1")
    with pytest.raises(ConfigurationError, match="not a usable connection string") as error:
        bus.send(Destination.EVENTS, [message])
    assert SECRET not in str(error.value)


# ------------------------------------------------------------------------- end to end through the SDK


@pytest.fixture
def broker() -> Iterator[AmqpTestBroker]:
    with AmqpTestBroker() as running:
        yield running


def worker_from_env(env: dict[str, str], world: World) -> Worker:
    # Settings read from the environment as the host hands it over; everything else is the app's defaults,
    # except Azure ML (the fake workspace behind the real SDK) and WebHook callbacks.
    return Worker.create(
        Settings.from_env(env),
        clock=world.clock,
        connector=world.connector,
        registry=world.registry,
        callbacks=MemoryCallbackSender(),
    )


def delivery(body: dict[str, Any], message_id: str, world: World) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=json.dumps(body).encode(),
        message_id=message_id,
        correlation_id=f"corr-{message_id}",
        delivery_count=1,
        enqueued_time_utc=world.clock.now(),
        application_properties={},
        user_properties={},
    )


def activity(**type_properties: Any) -> dict[str, Any]:
    return {
        "name": "Score",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "typeProperties": {
            "mlPipelineId": "azureml:score_pipeline:3",
            "experimentName": "scoring",
            "mlPipelineParameters": {"n": 1},
            **type_properties,
        },
    }


def test_a_request_delivered_by_the_trigger_emits_its_messages_through_the_connection_string(
    broker: AmqpTestBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="amlexec")
    world = make_world()
    seed_pipeline_component(world.fake)
    connection = secret_connection_string(broker.endpoint, UseDevelopmentEmulator="true")
    env = {"ServiceBusConnection": connection, "AMLEXEC_LOCAL_RUNS_DIR": str(tmp_path)}
    worker = worker_from_env(env, world)
    assert isinstance(worker.bus, ServiceBusBus)
    assert worker.bus._max_senders == 2, "the emulator allows 10 connections per namespace"
    monkeypatch.setattr(triggers, "_worker", lambda: worker)
    function_app.app.functions_bindings = {}
    functions = {str(f.get_function_name()): f.get_user_function() for f in function_app.app.get_functions()}
    function_app.app.functions_bindings = {}

    def deliver() -> None:
        try:
            functions["requests"](delivery(activity(), "msg-ok", world))
            functions["requests"](delivery(activity(mlPipelineId=42), "msg-bad", world))
        finally:
            worker.bus.close()

    run_with_deadline(deliver, 30)

    started, rejected_event = broker.messages("amlexec-events")
    assert (started.subject, started.correlation_id) == ("com.amlexec.run.started", "corr-msg-ok")
    assert json.loads(started.body)["data"]["runId"] == world.fake.jobs[next(iter(world.fake.jobs))]["name"]
    (check,) = broker.scheduled("amlexec-status")
    assert check.scheduled_enqueue_time == world.clock.now() + worker.settings.poll_initial
    assert json.loads(check.body)["request"]["request_id"] == "msg-ok"
    assert rejected_event.subject == "com.amlexec.run.rejected"
    (rejected,) = broker.messages("amlexec-rejected")
    assert json.loads(rejected.body)["typeProperties"]["mlPipelineId"] == 42
    assert rejected.application_properties["amlexec.originalMessageId"] == "msg-bad"
    assert len(world.fake.jobs) == 1
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.args)


# ---------------------------------------------------------------------- the in-memory bus under a host


@pytest.mark.parametrize(
    "marker", ["FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsScriptRoot", "FUNCTIONS_APPLICATION_DIRECTORY"]
)
def test_the_memory_bus_under_a_functions_host_is_one_loud_warning(
    marker: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="amlexec.triggers")
    assert triggers._warn_if_memory_bus_under_host({marker: "python", "AMLEXEC_BUS": "memory"})
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.name == "amlexec.triggers"
    text = record.getMessage()
    assert "IN-MEMORY BUS UNDER A FUNCTIONS HOST (AMLEXEC_BUS=memory)" in text
    assert "only the HTTP functions serve" in text
    assert "nothing delivers them" in text
    assert "ServiceBusConnection" in text


def test_no_service_bus_connection_under_a_host_is_the_memory_bus_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="amlexec.triggers")
    assert triggers._warn_if_memory_bus_under_host(dict(HOST))
    assert "(no ServiceBusConnection is set)" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    "env",
    [
        {**HOST, "ServiceBusConnection": EMULATOR},
        {**HOST, "ServiceBusConnection__fullyQualifiedNamespace": NAMESPACE},
        {**HOST, "AMLEXEC_BUS": "servicebus"},  # misconfigured, but not the memory bus: Settings says what is missing
        {**HOST, "AMLEXEC_BUS": "rabbit"},  # Settings.from_env names the bad value; indexing must not fail on it
        {"AMLEXEC_BUS": "memory"},  # make demo, amlexec run, the tests: no host, nothing to warn about
        {"FUNCTIONS_WORKER_RUNTIME": " ", "AMLEXEC_BUS": "memory"},
    ],
)
def test_no_warning_with_service_bus_or_without_a_host(env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="amlexec.triggers")
    assert not triggers._warn_if_memory_bus_under_host(env)
    assert caplog.records == []


def index_the_app(extra: dict[str, str]) -> str:
    """Import function_app in a fresh interpreter, as the host's worker does once per process; its stderr."""
    drop = {"AMLEXEC_BUS", "ServiceBusConnection", "ServiceBusConnection__fullyQualifiedNamespace", *HOST}
    drop.add("FUNCTIONS_APPLICATION_DIRECTORY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "-c", "import function_app, amlexec.triggers"],
        cwd=ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stderr


def test_indexing_the_app_under_a_host_with_the_memory_bus_warns_once() -> None:
    stderr = index_the_app({**HOST, "AMLEXEC_BUS": "memory"})
    assert stderr.count("IN-MEMORY BUS UNDER A FUNCTIONS HOST") == 1
    assert index_the_app({"AMLEXEC_BUS": "memory"}) == ""
    assert index_the_app({**HOST, "ServiceBusConnection": EMULATOR}) == ""
