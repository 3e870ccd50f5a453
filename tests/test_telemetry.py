"""Telemetry: each log record of a request carries that request's fields, the SDK loggers stay quiet unless
asked, and only the Functions worker exports (host.json's OpenTelemetry mode).

The fields are checked on the records a request makes end to end through the real trigger functions (the
flow harness), on two requests handled at once on two threads, and on a pool thread reused by the next
invocation. That nothing is exported twice is proven with real exporters in ``test_telemetry_export.py``.
"""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from flow.harness import Flow, activity, make_flow

from amlexec import telemetry
from amlexec.callbacks import CallbackUrlPolicy, MemoryCallbackSender
from amlexec.launch.base import RunHandle
from amlexec.request import LaunchRequest

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("amlexec.tests.telemetry")


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in telemetry.FIELD_NAMES if hasattr(record, name)}


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    return make_flow(monkeypatch, tmp_path)


@pytest.fixture
def sdk_levels() -> Iterator[None]:
    """Put the SDK loggers' levels back as they were (they are process-wide)."""
    names = {*telemetry.SDK_LOGGERS, *QUIETED}
    names |= {n for n, found in logging.Logger.manager.loggerDict.items() if isinstance(found, logging.Logger)}
    saved = {name: logging.getLogger(name).level for name in names if name.startswith(("azure", "uamqp", "urllib3"))}
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def finish_on_second_check(flow: Flow) -> Any:
    def on_check(step: int) -> None:
        if step == 1:
            flow.world.fake.finish(flow.job()["name"], "Completed")

    return on_check


# ------------------------------------------------------------------------------------------ end to end


def test_every_record_of_a_request_carries_its_fields_end_to_end(flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    flow.deliver_request(activity(), message_id="msg-fields", correlation_id="corr-fields")
    flow.pump(on_check=finish_on_second_check(flow))
    run = flow.job()["name"]
    records = caplog.records
    assert len(records) >= 4, "receipt, launch, two status checks at least"
    # Every record made while the request was handled (Azure SDK records included) names the request.
    for record in records:
        assert (
            fields(record).items() >= {"requestId": "msg-fields", "correlationId": "corr-fields", "attempt": 1}.items()
        )
    # Its activity from validation on (only the trigger's receipt line comes before it), its run once launched.
    assert [r.getMessage() for r in records if not hasattr(r, "activityName")] == [
        "request msg-fields (correlation corr-fields, delivery 1) from amlexec-requests"
    ]
    assert {r.activityName for r in records if hasattr(r, "activityName")} == {"Score"}
    first_with_run = next(i for i, r in enumerate(records) if hasattr(r, "runId"))
    launch_line = records[first_with_run]
    assert launch_line.name == "amlexec.handlers" and "launched" in launch_line.getMessage(), "the first to name it"
    assert all(getattr(r, "runId", None) == run for r in records[first_with_run:])
    decisions = [r for r in records if r.name == "amlexec.handlers" and "run completed" in r.getMessage()]
    assert decisions and fields(decisions[0])["runId"] == run


def test_a_rejected_request_names_itself_on_its_warning(flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = activity()
    del body["typeProperties"]["mlPipelineId"]
    flow.deliver_request(body, message_id="msg-bad", correlation_id="corr-bad")
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "amlexec.handlers"]
    assert "rejected" in warning.getMessage()
    assert fields(warning) == {
        "requestId": "msg-bad",
        "correlationId": "corr-bad",
        "activityName": "Score",
        "attempt": 1,
    }


def test_an_event_grid_notification_names_the_request_and_run(flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    flow.deliver_request(activity(), message_id="msg-eg-fields", correlation_id="corr-eg")
    job = flow.job()
    flow.world.fake.finish(job["name"], "Completed")
    data = {"runId": job["name"], "runStatus": "Completed", "runProperties": job["properties"]["properties"]}
    caplog.set_level(logging.INFO)
    caplog.clear()
    flow.grid_event("Microsoft.MachineLearningServices.RunStatusChanged", data)
    (line,) = [r for r in caplog.records if "(from Event Grid)" in r.getMessage()]
    assert fields(line) == {
        "requestId": "msg-eg-fields",
        "correlationId": "corr-eg",
        "activityName": "Score",
        "runId": job["name"],
        "attempt": 1,
    }


def test_a_webhook_callback_names_the_request_it_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flow = make_flow(monkeypatch, tmp_path, status_url_keys=(b"w" * 40,))
    flow.worker.callback_policy = CallbackUrlPolicy(resolver=lambda host, port: ["20.50.2.10"])
    flow.worker.callbacks = MemoryCallbackSender(flow.worker.callback_policy)
    secret = "sig=Zm9yIHRoZSBjYWxsYmFjayBvbmx5"
    sent = {"activity": activity(), "callBackUri": f"https://adf.example.net/callback?id=abc&{secret}"}
    caplog.set_level(logging.INFO)
    answer = flow.http(
        "runs_submit",
        "POST",
        "https://app.example/api/runs",
        body=json.dumps(sent).encode(),
        headers={"Idempotency-Key": "adf-wh-fields", "x-correlation-id": "corr-wh"},
    )
    assert answer.status_code == 202
    flow.pump(on_check=finish_on_second_check(flow))
    (delivered,) = [r for r in caplog.records if "callback delivered" in r.getMessage()]
    assert fields(delivered) == {
        "requestId": "http:adf-wh-fields",
        "correlationId": "corr-wh",
        "activityName": "Score",
        "runId": flow.job()["name"],
        "attempt": 1,
    }
    assert all(secret not in str(value) for r in caplog.records for value in fields(r).values())


def test_each_request_a_tick_sends_is_logged_under_its_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    schedules = json.dumps([{"name": "nightly", "schedule": "0 0 2 * * *", "payload": activity()}])
    flow = make_flow(monkeypatch, tmp_path, schedules_json=schedules)
    flow.world.clock.advance(5)
    caplog.set_level(logging.INFO)
    flow.functions["scheduler"](
        func.timer.TimerRequest(past_due=False, schedule_status={"Last": "2026-11-21T01:59:00Z"})
    )
    (sent,) = [r for r in caplog.records if "request schedule:nightly:" in r.getMessage()]
    request_id = "schedule:nightly:2026-11-21T02:00:00Z"
    assert fields(sent) == {"requestId": request_id, "correlationId": request_id}


# ------------------------------------------------------------------------------------------------ threads


def test_two_requests_handled_at_once_on_two_threads_never_mix_fields(
    flow: Flow, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Both requests are inside their launch at the same moment (a barrier holds each until the other
    arrives), so their records interleave; each record still carries only its own request's fields."""
    caplog.set_level(logging.INFO)
    both_launching = threading.Barrier(2, timeout=30)
    one_at_a_time = threading.Lock()  # the fake workspace is driven one call at a time; the scopes overlap
    launch = flow.worker.launchers.launch

    def overlapping_launch(request: LaunchRequest, *, attempt: int = 1) -> RunHandle:
        logger.info("launching %s", request.request_id)
        both_launching.wait()
        with one_at_a_time:
            handle = launch(request, attempt=attempt)
        both_launching.wait()
        logger.info("launched %s", request.request_id)
        return handle

    monkeypatch.setattr(flow.worker.launchers, "launch", overlapping_launch)
    errors: list[BaseException] = []

    def deliver(message_id: str) -> None:
        try:
            flow.deliver_request(activity(), message_id=message_id, correlation_id=f"corr-{message_id}")
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(m,), name=m) for m in ("msg-a", "msg-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    ours = [r for r in caplog.records if r.threadName in ("msg-a", "msg-b")]
    switches = sum(1 for before, after in itertools.pairwise(ours) if before.threadName != after.threadName)
    assert switches >= 2, "the two requests' records interleave"
    runs: dict[str, set[Any]] = {"msg-a": set(), "msg-b": set()}
    for record in ours:
        request, got = str(record.threadName), fields(record)
        assert got["requestId"] == request and got["correlationId"] == f"corr-{request}", record.getMessage()
        assert got.get("activityName") == "Score" or record.name == "amlexec.triggers"
        if "runId" in got:
            runs[request].add(got["runId"])
    assert runs["msg-a"] and runs["msg-b"] and runs["msg-a"].isdisjoint(runs["msg-b"])
    assert runs["msg-a"] | runs["msg-b"] == set(flow.world.fake.jobs), "each names its own run, one run each"


def test_a_pool_thread_carries_nothing_into_the_next_invocation(caplog: pytest.LogCaptureFixture) -> None:
    """The worker runs sync functions on a thread pool without copying contexts (run_in_executor): what one
    invocation sets must be gone when the same thread runs the next, even if the first one raised."""
    caplog.set_level(logging.INFO, logger=logger.name)

    @telemetry.log_context()
    def failing_invocation() -> None:
        telemetry.bind(request_id="req-1", run_id="run-1", attempt=2)
        logger.info("first")
        raise RuntimeError("boom")

    def next_invocation() -> str:
        logger.info("second")
        return threading.current_thread().name

    with ThreadPoolExecutor(max_workers=1) as pool:
        first_thread = pool.submit(lambda: threading.current_thread().name).result()
        with pytest.raises(RuntimeError):
            pool.submit(failing_invocation).result()
        assert pool.submit(next_invocation).result() == first_thread
    first, second = caplog.records
    assert fields(first) == {"requestId": "req-1", "runId": "run-1", "attempt": 2}
    assert fields(second) == {}


def test_scopes_nest_and_restore_and_bind_needs_a_scope() -> None:
    telemetry.bind(request_id="nowhere")
    assert telemetry.current_fields() == {}, "outside a scope nothing would ever restore it"
    with telemetry.log_context(request_id="r", correlation_id="c"):
        with telemetry.log_context(attempt=2):
            telemetry.bind(run_id="run-2", activity_name="", correlation_id=None)
            assert telemetry.current_fields() == {
                "requestId": "r",
                "correlationId": "c",
                "attempt": 2,
                "runId": "run-2",
            }
        assert telemetry.current_fields() == {"requestId": "r", "correlationId": "c"}
        telemetry.bind(request_id="x" * 1000)
        assert telemetry.current_fields()["requestId"] == "x" * 256, "a field is bounded"
    assert telemetry.current_fields() == {}


def test_a_reimported_module_keeps_one_factory_and_the_same_fields(caplog: pytest.LogCaptureFixture) -> None:
    """A worker that imports the app again (or a test reloading modules) must neither stack record factories
    nor lose the fields set through references taken before the re-import."""
    caplog.set_level(logging.INFO, logger=logger.name)
    old_log_context = telemetry.log_context
    with old_log_context():
        pass  # the factory is installed
    factory = logging.getLogRecordFactory()
    importlib.reload(telemetry)
    telemetry.configure()
    with old_log_context(request_id="before-reload"):
        logger.info("old reference")
    with telemetry.log_context(request_id="after-reload"):
        logger.info("new reference")
    assert logging.getLogRecordFactory() is factory
    assert [fields(r) for r in caplog.records] == [{"requestId": "before-reload"}, {"requestId": "after-reload"}]


# ------------------------------------------------------------------------------------------------ SDK levels


# The loggers that must be quiet: the Azure SDKs, and by name those that log per message or per request.
QUIETED = (
    "azure",
    "azure.servicebus",
    "azure.servicebus._pyamqp",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "azure.ai.ml",
    "uamqp",
    "urllib3",
)


@pytest.mark.parametrize(
    ("setting", "level"),
    [(None, logging.WARNING), ("INFO", logging.INFO), ("debug", logging.DEBUG), ("40", logging.ERROR)],
)
@pytest.mark.usefixtures("sdk_levels")
def test_sdk_loggers_are_at_warning_unless_the_setting_asks(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, level: int
) -> None:
    if setting is None:
        monkeypatch.delenv(telemetry.SDK_LOG_LEVEL_SETTING, raising=False)
    else:
        monkeypatch.setenv(telemetry.SDK_LOG_LEVEL_SETTING, setting)
    for name in (*telemetry.SDK_LOGGERS, *QUIETED):
        logging.getLogger(name).setLevel(logging.NOTSET)
    monkeypatch.setattr(telemetry, "_configured", False)
    telemetry.configure()
    assert {name: logging.getLogger(name).level for name in QUIETED} == dict.fromkeys(QUIETED, level)
    assert logging.getLogger("azure.data.tables").getEffectiveLevel() == level, "every Azure SDK"
    # What flooded the function's log: the AMQP layer of azure-servicebus at INFO.
    chatty = logging.getLogger("azure.servicebus._pyamqp.aio._connection_async")
    assert chatty.isEnabledFor(logging.INFO) is (level <= logging.INFO)
    assert logging.getLogger("azure.core.pipeline.policies.http_logging_policy").isEnabledFor(logging.INFO) is (
        level <= logging.INFO
    )
    # azure-ai-ml sets INFO on its loggers when it is imported, on the first launch, after the first configure:
    # the next invocation's configure sets them back.
    import azure.ai.ml  # noqa: F401 - loads its loggers

    ml_loggers = [logging.getLogger("azure.ai.ml"), logging.getLogger("azure.ai.ml._utils._endpoint_utils")]
    for ml_logger in ml_loggers:
        ml_logger.setLevel(logging.INFO if level != logging.INFO else logging.DEBUG)
    telemetry.configure()
    assert [ml_logger.level for ml_logger in ml_loggers] == [level, level]
    assert logging.getLogger("azure.ai.ml._utils").getEffectiveLevel() == level


@pytest.mark.usefixtures("sdk_levels")
def test_a_setting_that_names_no_level_keeps_warning_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(telemetry.SDK_LOG_LEVEL_SETTING, "loud")
    assert telemetry.quiet_sdk_loggers() == logging.WARNING
    assert logging.getLogger("azure").level == logging.WARNING
    assert f"{telemetry.SDK_LOG_LEVEL_SETTING}='loud' is not a log level" in caplog.text


# ------------------------------------------------------------------------------------------------ export


@pytest.mark.parametrize(("worker_setting", "warns"), [(None, True), ("false", True), ("true", False), ("1", False)])
@pytest.mark.usefixtures("sdk_levels")
def test_export_is_left_to_the_worker_and_a_missing_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, worker_setting: str | None, warns: bool
) -> None:
    monkeypatch.setenv(
        "APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=00000000-0000-0000-0000-000000000000"
    )
    if worker_setting is None:
        monkeypatch.delenv(telemetry.WORKER_TELEMETRY_SETTING, raising=False)
    else:
        monkeypatch.setenv(telemetry.WORKER_TELEMETRY_SETTING, worker_setting)
    monkeypatch.setattr(telemetry, "_configured", False)
    root_handlers = list(logging.getLogger().handlers)
    telemetry.configure()
    telemetry.configure()
    assert (telemetry.WORKER_TELEMETRY_SETTING in caplog.text) is warns
    assert caplog.text.count(telemetry.WORKER_TELEMETRY_SETTING) <= 2, "said once per worker"
    assert logging.getLogger().handlers == root_handlers and logging.getLogger("amlexec").handlers == []


def test_host_json_turns_on_open_telemetry_mode() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["telemetryMode"] == "OpenTelemetry"
    assert "applicationInsights" not in host["logging"], "ignored in OpenTelemetry mode: it would only mislead"


def test_importing_the_app_and_configuring_load_no_telemetry_sdk() -> None:
    code = (
        "import sys, function_app; from amlexec import telemetry; telemetry.configure();"
        " print([m for m in sys.modules if m.startswith(('opentelemetry', 'azure.monitor'))])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "[]"
