"""Completion events on Event Grid: the real azure-eventgrid SDK publishing to a TLS server on loopback.

The server stands in for an Event Grid custom topic (``POST /api/events?api-version=2018-01-01``, 200 with an
empty body); the CloudEvents are built by amlexec.events exactly as the status checks and the request handler
build them, and go through the Service Bus message body they travel in.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.credential import FakeCredential
from fakes.https_server import HttpsFake
from fakes.transport import Call, Reply, Router

from amlexec.errors import ConfigurationError, Issue, PermanentError, TransientError
from amlexec.eventgrid_output import (
    DATA_KEYS,
    EVENTGRID_SCOPE,
    EventGridForwarder,
    NotAnAmlexecEvent,
    event_type,
    to_eventgrid,
)
from amlexec.events import CloudEvent, EventKind, event_message, rejected_event, run_event, terminal_event_id
from amlexec.launch.base import RunHandle, RunState, RunStatus
from amlexec.runs import EventContext

pytest.importorskip("azure.eventgrid", reason="azure-eventgrid publishes the events")

EVENTS_PATH = "/api/events"
WHEN = datetime(2026, 11, 21, 2, 7, 36, 81224, tzinfo=UTC)
STARTED_AT = datetime(2026, 11, 21, 2, 0, 5, 123000, tzinfo=UTC)
REQUEST_ID = "adf-run-7c2f"
RUN_ID = "amlexec_score_loan_applications_8d86794ecd522979a58d_1"
ACTIVITY = "Score loan applications"
EXPERIMENT = "loan-scoring-emea"
SECRET_PARAMETER = "p@ss-in-a-parameter"
SECRET_OUTPUT = "abfss://secret-container@lake/scores"
SECRET_MESSAGE = "connection string Password=hunter2 was rejected"


# ------------------------------------------------------------------------------------------------ the events


def context(**overrides: Any) -> EventContext:
    values: dict[str, Any] = {
        "request_id": REQUEST_ID,
        "correlation_id": "corr-1",
        "activity_name": ACTIVITY,
        "linked_service": "AzureMLService",
        "target": {"kind": "pipeline_component", "name": "loan_scoring", "version": "3", "label": None},
        "experiment_name": EXPERIMENT,
        "parameters": {"threshold": 0.35, "region": "EMEA", "token": SECRET_PARAMETER},
        "max_attempts": 2,
    }
    values.update(overrides)
    return EventContext(**values)


def handle(attempt: int = 1) -> RunHandle:
    return RunHandle(
        target_kind="pipeline_component",
        run_id=RUN_ID.removesuffix("_1") + f"_{attempt}",
        experiment_name=EXPERIMENT,
        linked_service="AzureMLService",
        attempt=attempt,
        studio_url=f"https://ml.azure.com/runs/{RUN_ID}?wsid=x",
    )


def status(state: RunState, raw: str, **extra: Any) -> RunStatus:
    return RunStatus(state=state, raw_status=raw, started_at=STARTED_AT, ended_at=WHEN - timedelta(seconds=1), **extra)


def cloud(kind: EventKind, *, secure_input: bool = False, secure_output: bool = False, **extra: Any) -> CloudEvent:
    """The CloudEvent amlexec publishes for ``kind`` (the terminal ones with a run status, as the checks do)."""
    ctx = context(secure_output=secure_output, **({"parameters": None} if secure_input else {}))
    if kind is EventKind.REJECTED:
        issues = [
            Issue("activity.typeProperties.mlPipelineId", "unknown pipeline", "a published pipeline", code="not_found"),
            Issue("activity.typeProperties.mlPipelineParameters.n", "unknown parameter", code="invalid"),
        ]
        return rejected_event(REQUEST_ID, "corr-1", issues, time=WHEN, activity_name=ACTIVITY)
    if kind is EventKind.STARTED:
        return run_event(kind, ctx, handle(2), None, time=WHEN)
    statuses = {
        EventKind.COMPLETED: status(RunState.COMPLETED, "Completed", outputs={"scores": SECRET_OUTPUT}),
        EventKind.FAILED: status(RunState.FAILED, "Failed", error_code="UserError", error_message=SECRET_MESSAGE),
        EventKind.CANCELED: status(RunState.CANCELED, "Canceled"),
        EventKind.TIMED_OUT: status(RunState.CANCELED, "Canceled"),
    }
    return run_event(kind, ctx, handle(), extra.get("status", statuses[kind]), time=WHEN)


def body(event: CloudEvent) -> bytes:
    """What the forwarder receives: the body of the event's Service Bus message."""
    return event_message(event).body


# ------------------------------------------------------------------------------------------------ the topic


@pytest.fixture
def topic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HttpsFake, Router]]:
    router = Router()
    router.add("POST", EVENTS_PATH, lambda call: Reply(200, None))
    with HttpsFake(router, tmp_path) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert))
        yield server, router


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


def forwarder(server: HttpsFake, credential: FakeCredential, **options: Any) -> EventGridForwarder:
    options.setdefault("retry_total", 0)
    return EventGridForwarder(server.base_url + EVENTS_PATH, credential=credential, **options)


def posts(router: Router) -> list[Call]:
    return router.calls_to("POST", EVENTS_PATH)


def jwt_claims(authorization: str) -> dict[str, Any]:
    scheme, _, token = authorization.partition(" ")
    assert scheme == "Bearer"
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


# ------------------------------------------------------------------------------------------------ the shape


EXPECTED = {
    EventKind.STARTED: ("Amlexec.Run.Started", "started", None),
    EventKind.COMPLETED: ("Amlexec.Run.Completed", "completed", None),
    EventKind.FAILED: ("Amlexec.Run.Failed", "failed", "UserError"),
    EventKind.CANCELED: ("Amlexec.Run.Canceled", "canceled", None),
    EventKind.TIMED_OUT: ("Amlexec.Run.TimedOut", "timedOut", None),
    EventKind.REJECTED: ("Amlexec.Run.Rejected", "rejected", "not_found"),
}


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_maps_to_an_event_grid_schema_event(kind: EventKind) -> None:
    source = cloud(kind)
    event = to_eventgrid(json.loads(body(source)))
    expected_type, outcome, error_code = EXPECTED[kind]
    assert set(event) == {"id", "subject", "eventType", "eventTime", "data", "dataVersion"}
    assert event["id"] == source.id == event["data"]["eventId"]
    assert event["eventType"] == expected_type == event_type(kind)
    assert event["eventTime"] == "2026-11-21T02:07:36.081224Z"
    assert event["dataVersion"] == "1"
    experiment = "-" if kind is EventKind.REJECTED else EXPERIMENT
    assert event["subject"] == f"/activities/{ACTIVITY}/experiments/{experiment}/requests/{REQUEST_ID}/{outcome}"
    data = event["data"]
    assert tuple(data) == DATA_KEYS  # every key, every time, in one order
    assert data["status"] == outcome and data["requestId"] == REQUEST_ID and data["correlationId"] == "corr-1"
    assert data["activityName"] == ACTIVITY
    assert data["errorCode"] == error_code
    assert data["truncatedKeys"] == []
    # Flat where people filter: no key with a dot, and only outputs, parameters and issues hold JSON values.
    assert not [key for key in data if "." in key]
    assert not [
        k
        for k, v in data.items()
        if isinstance(v, dict | list) and k not in ("outputs", "parameters", "issues", "truncatedKeys")
    ]


def test_a_run_event_carries_the_run() -> None:
    data = to_eventgrid(json.loads(body(cloud(EventKind.COMPLETED))))["data"]
    assert data == {
        "status": "completed",
        "eventId": terminal_event_id(REQUEST_ID),
        "runId": RUN_ID,
        "requestId": REQUEST_ID,
        "correlationId": "corr-1",
        "activityName": ACTIVITY,
        "experimentName": EXPERIMENT,
        "linkedService": "AzureMLService",
        "targetKind": "pipeline_component",
        "attempt": 1,
        "maxAttempts": 2,
        "startedAt": "2026-11-21T02:00:05.123000+00:00",
        "endedAt": "2026-11-21T02:07:35.081224+00:00",
        "durationSeconds": 449.958,
        "studioUrl": f"https://ml.azure.com/runs/{RUN_ID}?wsid=x",
        "errorCode": None,
        "errorMessage": None,
        "outputs": {"scores": SECRET_OUTPUT},
        "parameters": {"threshold": 0.35, "region": "EMEA", "token": SECRET_PARAMETER},
        "issues": None,
        "truncatedKeys": [],
    }


def test_a_rejection_has_every_key_null_but_its_reasons() -> None:
    data = to_eventgrid(json.loads(body(cloud(EventKind.REJECTED))))["data"]
    present = {key for key, value in data.items() if value not in (None, [])}
    assert present == {
        "status",
        "eventId",
        "requestId",
        "correlationId",
        "activityName",
        "errorCode",
        "errorMessage",
        "issues",
    }
    assert data["errorMessage"] == (
        "activity.typeProperties.mlPipelineId: unknown pipeline; "
        "activity.typeProperties.mlPipelineParameters.n: unknown parameter"
    )
    assert [issue["code"] for issue in data["issues"]] == ["not_found", "invalid"]


def test_every_terminal_event_of_a_request_has_one_id_and_started_one_per_attempt() -> None:
    ids = {kind: to_eventgrid(json.loads(body(cloud(kind))))["id"] for kind in EventKind}
    assert {ids[kind] for kind in EventKind if kind.terminal} == {terminal_event_id(REQUEST_ID)}
    assert ids[EventKind.STARTED] != terminal_event_id(REQUEST_ID)


def test_names_with_a_slash_cannot_fake_a_subject_segment() -> None:
    source = run_event(
        EventKind.FAILED,
        context(activity_name="a/failed", request_id="50%/x"),
        handle(),
        status(RunState.FAILED, "Failed"),
        time=WHEN,
    )
    subject = to_eventgrid(json.loads(body(source)))["subject"]
    assert subject == f"/activities/a%2Ffailed/experiments/{EXPERIMENT}/requests/50%25%2Fx/failed"
    assert subject.count("/") == 7


def test_secure_input_and_output_stay_out() -> None:
    for kind in (EventKind.COMPLETED, EventKind.FAILED):
        source = cloud(kind, secure_input=True, secure_output=True)
        event = to_eventgrid(json.loads(body(source)))
        data = event["data"]
        assert data["parameters"] is None and data["outputs"] is None and data["errorMessage"] is None
        text = json.dumps(event)
        assert SECRET_PARAMETER not in text and SECRET_OUTPUT not in text and SECRET_MESSAGE not in text
    assert (
        to_eventgrid(json.loads(body(cloud(EventKind.FAILED, secure_output=True))))["data"]["errorCode"] == "UserError"
    )


def test_large_outputs_are_cut_with_a_marker_far_below_one_megabyte() -> None:
    big = {f"output_{i}": "x" * 1000 for i in range(600)}  # ~0.6 MB of outputs
    source = cloud(EventKind.COMPLETED, status=status(RunState.COMPLETED, "Completed", outputs=big))
    event = to_eventgrid(json.loads(body(source)))
    assert event["data"]["outputs"] == {"truncated": True, "sizeBytes": len(json.dumps(big, separators=(",", ":")))}
    assert event["data"]["truncatedKeys"] == ["outputs"]
    assert len(json.dumps(event).encode()) < 64 * 1024


@pytest.mark.parametrize(
    "document",
    [
        "not an object",
        {"type": "com.example.other", "id": "1", "time": "2026-11-21T00:00:00Z", "data": {}},
        {"type": "com.amlexec.run.exploded", "id": "1", "time": "2026-11-21T00:00:00Z", "data": {}},
        {"type": "com.amlexec.run.completed", "time": "2026-11-21T00:00:00Z", "data": {}},
        {"type": "com.amlexec.run.completed", "id": "1", "time": "yesterday", "data": {}},
        {"type": "com.amlexec.run.completed", "id": "1", "time": "2026-11-21T00:00:00Z", "data": []},
    ],
)
def test_anything_else_is_not_an_amlexec_event(document: Any) -> None:
    with pytest.raises(NotAnAmlexecEvent):
        to_eventgrid(document)


# ------------------------------------------------------------------------------------------------ publishing


def test_what_arrives_at_the_topic(topic: tuple[HttpsFake, Router], credential: FakeCredential) -> None:
    server, router = topic
    source = cloud(EventKind.COMPLETED)
    publisher = forwarder(server, credential)
    publisher.forward(body(source))
    publisher.close()

    (call,) = posts(router)
    assert call.query == {"api-version": ["2018-01-01"]}
    headers = {k.lower(): v for k, v in call.headers.items()}
    assert headers["content-type"] == "application/json; charset=utf-8"
    # Identity only: a bearer token for Event Grid, never a key or SAS header.
    assert jwt_claims(headers["authorization"])["aud"] == "https://eventgrid.azure.net"
    assert credential.scopes == [EVENTGRID_SCOPE]
    assert not {"aeg-sas-key", "aeg-sas-token", "aeg-channel-name"} & set(headers)
    # The Event Grid schema: a JSON array of events, exactly what to_eventgrid says.
    assert call.body == [to_eventgrid(json.loads(body(source)))]
    (event,) = call.body
    assert event["eventType"] == "Amlexec.Run.Completed"
    assert event["subject"] == f"/activities/{ACTIVITY}/experiments/{EXPERIMENT}/requests/{REQUEST_ID}/completed"
    assert event["data"]["runId"] == RUN_ID and event["data"]["errorCode"] is None


def test_a_republished_terminal_event_keeps_its_id_and_the_client_is_reused(
    topic: tuple[HttpsFake, Router], credential: FakeCredential
) -> None:
    server, router = topic
    publisher = forwarder(server, credential)
    publisher.forward(body(cloud(EventKind.COMPLETED)))  # a Service Bus redelivery publishes again:
    publisher.forward(body(cloud(EventKind.COMPLETED)))
    publisher.forward(body(cloud(EventKind.FAILED)))  # another path's terminal event of the same request
    publisher.close()
    assert [call.body[0]["id"] for call in posts(router)] == [terminal_event_id(REQUEST_ID)] * 3
    assert credential.scopes == [EVENTGRID_SCOPE]  # one client, its token cached: not one client per event


def test_started_is_published_only_when_asked(topic: tuple[HttpsFake, Router], credential: FakeCredential) -> None:
    server, router = topic
    forwarder(server, credential).forward(body(cloud(EventKind.STARTED)))
    assert posts(router) == []
    asked = forwarder(server, credential, publish_started=True)
    asked.forward(body(cloud(EventKind.STARTED)))
    asked.close()
    (call,) = posts(router)
    assert call.body[0]["eventType"] == "Amlexec.Run.Started" and call.body[0]["data"]["attempt"] == 2


def test_secure_values_never_reach_the_topic(topic: tuple[HttpsFake, Router], credential: FakeCredential) -> None:
    server, router = topic
    publisher = forwarder(server, credential)
    for kind in (EventKind.COMPLETED, EventKind.FAILED):
        publisher.forward(body(cloud(kind, secure_input=True, secure_output=True)))
    publisher.close()
    sent = json.dumps([call.body for call in posts(router)])
    assert len(posts(router)) == 2
    assert SECRET_PARAMETER not in sent and SECRET_OUTPUT not in sent and SECRET_MESSAGE not in sent


def test_a_503_is_retried_inside_the_sdk_then_transient(
    topic: tuple[HttpsFake, Router], credential: FakeCredential
) -> None:
    server, router = topic
    router.fail("POST", EVENTS_PATH, status=503, times=1)
    retrying = forwarder(server, credential, retry_total=1)
    retrying.forward(body(cloud(EventKind.COMPLETED)))  # one 503, then 200
    assert [call.body[0]["id"] for call in posts(router)] == [terminal_event_id(REQUEST_ID)] * 2

    router.fail("POST", EVENTS_PATH, status=503, times=1)
    with pytest.raises(TransientError) as raised:
        forwarder(server, credential).forward(body(cloud(EventKind.COMPLETED)))
    assert raised.value.retryable and "503" in str(raised.value)


def test_throttling_is_transient_with_the_wait_asked_for(
    topic: tuple[HttpsFake, Router], credential: FakeCredential
) -> None:
    server, router = topic
    router.fail("POST", EVENTS_PATH, status=429, headers={"Retry-After": "7"})
    with pytest.raises(TransientError) as raised:
        forwarder(server, credential).forward(body(cloud(EventKind.COMPLETED)))
    assert raised.value.retry_after == 7.0


def test_a_lost_connection_is_transient(credential: FakeCredential) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    publisher = EventGridForwarder(f"https://127.0.0.1:{port}{EVENTS_PATH}", credential=credential, retry_total=0)
    with pytest.raises(TransientError, match="connection failed"):
        publisher.forward(body(cloud(EventKind.COMPLETED)))


@pytest.mark.parametrize("code", [401, 403])
def test_a_refused_identity_names_the_role_to_grant(
    code: int, topic: tuple[HttpsFake, Router], credential: FakeCredential, caplog: pytest.LogCaptureFixture
) -> None:
    server, router = topic
    router.fail("POST", EVENTS_PATH, status=code)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigurationError) as raised:
        forwarder(server, credential).forward(body(cloud(EventKind.COMPLETED)))
    assert not raised.value.retryable
    assert "'EventGrid Data Sender' role on the topic" in str(raised.value) and "127.0.0.1" in str(raised.value)
    token = posts(router)[0].headers["Authorization"].split(" ", 1)[1]
    assert token not in str(raised.value) and token not in caplog.text


def test_a_missing_topic_names_the_setting(topic: tuple[HttpsFake, Router], credential: FakeCredential) -> None:
    server, router = topic
    router.fail("POST", EVENTS_PATH, status=404)
    with pytest.raises(ConfigurationError, match="AMLEXEC_EVENTGRID_TOPIC_ENDPOINT"):
        forwarder(server, credential).forward(body(cloud(EventKind.COMPLETED)))


def test_a_malformed_event_is_permanent(topic: tuple[HttpsFake, Router], credential: FakeCredential) -> None:
    server, router = topic
    router.fail("POST", EVENTS_PATH, status=400, body={"error": {"code": "BadRequest", "message": "bad event"}})
    with pytest.raises(PermanentError) as raised:
        forwarder(server, credential).forward(body(cloud(EventKind.COMPLETED)))
    assert not isinstance(raised.value, ConfigurationError) and not raised.value.retryable
    assert terminal_event_id(REQUEST_ID) in str(raised.value) and "400" in str(raised.value)


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe not json", b"[]", b'"completed"', b'{"type": "com.example.other"}', b'{"type": "com.amlexec.run.x"}'],
)
def test_a_message_that_is_not_an_event_is_logged_once_and_dropped(
    payload: bytes, topic: tuple[HttpsFake, Router], credential: FakeCredential, caplog: pytest.LogCaptureFixture
) -> None:
    server, router = topic
    caplog.set_level(logging.WARNING, logger="amlexec.eventgrid_output")
    forwarder(server, credential).forward(payload)  # never raises: it would only come back
    assert posts(router) == []
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "not an amlexec event" in record.getMessage()


def test_concurrent_publishes_never_share_a_client(
    topic: tuple[HttpsFake, Router], credential: FakeCredential, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.eventgrid

    server, router = topic
    created: list[Any] = []

    class Watched(azure.eventgrid.EventGridPublisherClient):
        """The real client, counting the threads inside send at once (each stays 40 ms)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.inside, self.most, self.guard = 0, 0, threading.Lock()
            created.append(self)

        def send(self, *args: Any, **kwargs: Any) -> None:
            with self.guard:
                self.inside += 1
                self.most = max(self.most, self.inside)
            try:
                time.sleep(0.04)  # longer than the gap between arrivals: a client handed out twice overlaps
                super().send(*args, **kwargs)
            finally:
                with self.guard:
                    self.inside -= 1

    monkeypatch.setattr(azure.eventgrid, "EventGridPublisherClient", Watched)
    publisher = forwarder(server, credential, max_clients=3)
    requests = [
        run_event(EventKind.COMPLETED, context(request_id=f"r{i}"), handle(), None, time=WHEN) for i in range(14)
    ]
    threads = [threading.Thread(target=publisher.forward, args=(body(event),)) for event in requests]
    # A burst (more publishes than clients: they queue for the next client back), then a trickle slower than the
    # three clients publish (each finds clients back in the pool): either way the one taken is never still sending.
    for number, thread in enumerate(threads):
        thread.start()
        time.sleep(0.005 if number < 6 else 0.04)
    for thread in threads:
        thread.join(30)
    publisher.close()
    assert sorted(call.body[0]["data"]["requestId"] for call in posts(router)) == sorted(f"r{i}" for i in range(14))
    assert 1 <= len(created) <= 3
    assert [client.most for client in created] == [1] * len(created)


def test_the_default_credential_is_the_apps_managed_identity(
    topic: tuple[HttpsFake, Router], monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.identity

    server, router = topic
    made: list[dict[str, Any]] = []

    def default_credential(**kwargs: Any) -> FakeCredential:
        made.append(kwargs)
        return FakeCredential()

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", default_credential)
    publisher = EventGridForwarder(
        server.base_url + EVENTS_PATH, managed_identity_client_id="11111111-0000-0000-0000-000000000000", retry_total=0
    )
    publisher.forward(body(cloud(EventKind.COMPLETED)))
    publisher.forward(body(cloud(EventKind.FAILED)))
    publisher.close()
    assert made == [{"managed_identity_client_id": "11111111-0000-0000-0000-000000000000"}]
    assert len(posts(router)) == 2


@pytest.mark.parametrize("endpoint", ["http://topic.westeurope-1.eventgrid.azure.net/api/events", "topic/api/events"])
def test_only_an_https_endpoint_is_accepted(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="AMLEXEC_EVENTGRID_TOPIC_ENDPOINT"):
        EventGridForwarder(endpoint, credential=FakeCredential())


def test_importing_the_module_loads_no_azure_sdk() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import amlexec.eventgrid_output"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "amlexec.eventgrid_output" in loaded
    assert sorted(m for m in loaded if m.startswith("azure")) == []


# ------------------------------------------------------------------------------------------------ settings


def test_the_settings_build_the_forwarder_the_worker_uses(tmp_path: Path) -> None:
    from amlexec.handlers import Worker
    from amlexec.settings import Settings, eventgrid_output_configured

    env = {
        "AMLEXEC_EVENTGRID_TOPIC_ENDPOINT": "https://evgt.westeurope-1.eventgrid.azure.net/api/events",
        "AMLEXEC_EVENTGRID_SUBSCRIPTION": "eventgrid-forwarder",
        "AMLEXEC_EVENTGRID_PUBLISH_STARTED": "true",
        "AMLEXEC_LOCAL_RUNS_DIR": str(tmp_path),
    }
    assert eventgrid_output_configured(env)
    assert not eventgrid_output_configured({**env, "AMLEXEC_EVENTGRID_SUBSCRIPTION": " "})
    worker = Worker.create(Settings.from_env(env))
    assert worker.eventgrid is not None and worker.eventgrid.publish_started
    assert Worker.create(Settings.from_env({"AMLEXEC_LOCAL_RUNS_DIR": str(tmp_path)})).eventgrid is None


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_flag_that_is_not_true_or_false_names_the_setting(value: str) -> None:
    from amlexec.settings import Settings

    with pytest.raises(ConfigurationError, match="AMLEXEC_EVENTGRID_PUBLISH_STARTED must be true or false"):
        Settings.from_env({"AMLEXEC_EVENTGRID_PUBLISH_STARTED": value})
