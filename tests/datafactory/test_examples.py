"""examples/datafactory run by Microsoft's data-factory-testing-framework against amlexec's real answers.

Data Factory's side is the framework and its .NET expression engine (``adf_worker.py``, in the oracle interpreter):
it loads the example JSON as Data Factory's git integration stores it, evaluates every expression, follows the
dependency conditions, Until loops and If Conditions. amlexec's side is the Function App's real functions
(``amlexec_app.py``). Every value that crosses between them is produced by one or the other: the request a Web
activity sends is what the engine evaluated from the example; the output the next expression reads is the body
amlexec answered; the trigger body is the event amlexec's Event Grid forwarder publishes. See ``factory.py`` for
what stands in for the Data Factory service (the documented Web, WebHook and custom event trigger behaviour).

Skipped unless the oracle environment exists (``make oracle-env``); run with ``make datafactory`` or ``make oracle``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from datafactory.amlexec_app import APP_URL, FUNCTION_KEY, NAMESPACE, REQUEST_QUEUE, App
from datafactory.factory import EXAMPLES, DataFactory, Engine, PipelineRun, TriggerRun, oracle_python

from amlexec.eventgrid_output import DATA_KEYS

pytestmark = pytest.mark.oracle

RUN_ID = "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f"  # Data Factory run ids are GUIDs
DOWNSTREAM_RUN_ID = "0b6c9a1e-2d3f-4e5a-8b7c-9d0e1f2a3b4c"
ACTIVITY = "Score loan applications"
FUNCTION_PARAMETERS = {"functionAppUrl": APP_URL, "functionKey": FUNCTION_KEY}
QUEUE_PARAMETERS = {**FUNCTION_PARAMETERS, "serviceBusNamespace": NAMESPACE, "requestQueue": REQUEST_QUEUE}
# What the activity's own expressions resolve to, evaluated by amlexec from the envelope Data Factory sent.
LAUNCHED_PARAMETERS = {"scoring_date": "2026-11-21", "threshold": 0.35, "region": "EMEA", "dry_run": False}
SERVICE_ERROR = ("UserError", "Step score failed: KeyError 'income'")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    python = oracle_python()
    if python is None:
        pytest.skip("the oracle environment is missing: make oracle-env")
    engine = Engine(python)
    yield engine
    engine.close()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> App:
    return App.create(monkeypatch, tmp_path)


@pytest.fixture
def local_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> App:
    return App.create(monkeypatch, tmp_path, local=True)


def trigger_json() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / "trigger" / "AmlexecRunFinished.json").read_text())
    return document


def script(*steps: Callable[[], object]) -> Callable[[int], None]:
    """``on_wait``: the n-th time Data Factory waits, do the n-th step (nothing once they run out)."""

    def on_wait(n: int) -> None:
        if n <= len(steps):
            steps[n - 1]()

    return on_wait


def written_body(pipeline: str, activity: str) -> str:
    """The body expression of a top-level activity, as written in the example."""
    document = json.loads((EXAMPLES / "pipeline" / f"{pipeline}.json").read_text())
    (found,) = [a for a in document["properties"]["activities"] if a["name"] == activity]
    body: str = found["typeProperties"]["body"]["value"]
    return body


def then(*actions: Callable[[], object]) -> Callable[[], None]:
    """One step of a script made of several actions, in order."""

    def step() -> None:
        for action in actions:
            action()

    return step


def body_fell_back_only(run: PipelineRun, activity: str) -> None:
    """The framework's pre-parser was bypassed for the request body alone (see adf_worker.py), nowhere else."""
    for step in run.steps:
        expected = [written_body(run.pipeline, activity)] if step.name == activity else []
        assert step.fallbacks == expected, f"{step.name}: {step.fallbacks}"


def launched(app: App) -> dict[str, Any]:
    """The launch request amlexec previewed in its 202 to ``POST /api/runs``."""
    post = next(answer for method, path, answer in app.answers if (method, path) == ("POST", "/api/runs"))
    assert post.status == 202
    request: dict[str, Any] = post.body["request"]
    return request


# ------------------------------------------------------------------------------------ (a) one Web activity


def test_web_activity_sends_what_amlexec_launches_and_reads_its_outcome(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    run = factory.run(
        "AmlexecRunAndWait",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(lambda: None, app.start, lambda: app.finish("Completed")),
    )
    assert run.end == "done", run.error
    submit = run.step("Submit")
    assert submit.properties["url"] == f"{APP_URL}/api/runs"
    assert submit.properties["headers"] == {
        "Content-Type": "application/json",
        "Idempotency-Key": RUN_ID,
        "x-functions-key": FUNCTION_KEY,
    }
    body_fell_back_only(run, "Submit")

    request = launched(app)
    assert request["request_id"] == f"http:{RUN_ID}" and request["pipeline_run_id"] == RUN_ID
    assert request["experiment_name"] == "loan-scoring-emea" and request["correlation_id"] == RUN_ID
    assert request["parameters"] == {**LAUNCHED_PARAMETERS, "batch_label": f"AmlexecRunAndWait/{RUN_ID}"}

    polls = [
        (a.status, (a.body or {}).get("status")) for _m, path, a in app.answers if path.startswith("/api/progress/")
    ]
    assert polls == [(202, "Queued"), (202, "InProgress"), (200, "Succeeded")], "followed with no key, to the end"
    outcome = submit.output
    assert submit.status == "Succeeded" and outcome["status"] == "Succeeded"
    assert run.variables() == {"runName": app.latest_run(), "scoresFolder": ""}
    assert outcome["runId"] == app.latest_run() and outcome["outputs"] == {}, "Azure ML targets report no outputs"


def test_web_activity_reads_the_outputs_a_local_run_reports(engine: Engine, local_app: App) -> None:
    factory = DataFactory(engine, local_app)
    run = factory.run(
        "AmlexecRunAndWait",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(lambda: local_app.wait_until_ended(f"http:{RUN_ID}")),
    )
    assert run.end == "done", run.error
    scores = run.variables()["scoresFolder"]
    assert scores == run.step("Submit").output["outputs"]["scores"]
    assert (Path(scores) / "scores.csv").is_file()


def test_a_failed_run_fails_the_web_activity_and_nothing_after_it_runs(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    run = factory.run(
        "AmlexecRunAndWait",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(
            lambda: app.finish("Failed", error=SERVICE_ERROR),
            then(lambda: app.next_attempt(2), lambda: app.finish("Failed", error=SERVICE_ERROR)),
        ),
    )
    assert run.names() == ["Submit"] and run.step("Submit").status == "Failed"
    assert run.end == "stuck", "the Set Variable activities wait for Succeeded: nothing else runs"
    method, _path, last = app.answers[-1]
    assert (method, last.status) == ("GET", 424)
    assert last.body["error"] == {"code": SERVICE_ERROR[0], "message": SERVICE_ERROR[1]} and last.body["attempt"] == 2


def test_with_amlexec_retrying_the_web_activity_waits_for_the_last_attempt(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    run = factory.run(
        "AmlexecRunAndWait",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(
            lambda: app.finish("Failed", error=SERVICE_ERROR),
            then(lambda: app.next_attempt(2), lambda: app.finish("Completed")),
        ),
    )
    assert run.end == "done", run.error
    assert run.variables()["runName"] == app.latest_run() and app.latest_run().endswith("_2")
    assert run.step("Submit").output["attempt"] == 2


# ------------------------------------------------------------------------------------ (a') the Until loop


def test_the_until_loop_polls_the_status_url_until_it_is_terminal(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    run = factory.run(
        "AmlexecRunAndPoll",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(app.start, lambda: app.finish("Completed")),
    )
    assert run.end == "done" and run.failure() is None, run.error
    submit = run.step("Submit")
    assert submit.output["status"] == "Queued" and submit.output["runName"] == app.latest_run()
    statuses = [s for s in run.steps if s.name == "Status"]
    assert len(statuses) == 2, "one poll while running, one that finds the end"
    assert [s.output["isTerminal"] for s in statuses] == [False, True]
    assert [s.output["status"] for s in statuses] == ["InProgress", "Succeeded"]
    for status in statuses:
        assert status.properties["url"] == submit.output["statusUrl"], "absolute: used as it is"
        assert status.properties["headers"] == {"x-functions-key": FUNCTION_KEY}
    assert run.names()[-1] == "Remember the run", "the If Condition took the success branch"
    assert run.variables() == {
        "runStatus": "Succeeded",
        "errorCode": "",
        "errorMessage": "",
        "runName": app.latest_run(),
    }
    body_fell_back_only(run, "Submit")


def test_the_until_loop_fails_the_pipeline_with_the_run_error(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    run = factory.run(
        "AmlexecRunAndPoll",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(app.start, lambda: app.finish("Failed", error=SERVICE_ERROR)),
    )
    failure = run.failure()
    assert failure is not None and run.end == "done", run.error or "the Fail activity ends the run"
    assert failure.properties["errorCode"] == SERVICE_ERROR[0]
    assert failure.properties["message"] == f"Azure ML run {app.latest_run()} ended Failed: {SERVICE_ERROR[1]}"
    assert "Remember the run" not in run.names()


def test_the_until_loop_follows_one_run_so_its_envelope_asks_for_one_attempt(
    engine: Engine, app: App, tmp_path: Path
) -> None:
    """Why AmlexecRunAndPoll's activity has ``retry: 0``: with amlexec retrying, the loop stops at attempt 1."""
    examples = tmp_path / "datafactory"
    shutil.copytree(EXAMPLES, examples)
    path = examples / "pipeline" / "AmlexecRunAndPoll.json"
    text = path.read_text()
    assert text.count('\\"retry\\": 0') == 1
    path.write_text(text.replace('\\"retry\\": 0', '\\"retry\\": 1'))
    factory = DataFactory(engine, app, examples)
    run = factory.run(
        "AmlexecRunAndPoll",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(app.start, lambda: app.finish("Failed", error=SERVICE_ERROR)),
    )
    assert run.failure() is not None, "the loop reports attempt 1's failure"
    app.next_attempt(2)
    assert app.latest_run().endswith("_2"), "while amlexec goes on with attempt 2"


# ------------------------------------------------------------------------------------ (b) WebHook


def test_webhook_is_answered_at_once_and_reads_the_callback_output(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    answered_before_the_end: list[int] = []

    def run_ends() -> None:
        answered_before_the_end.extend(a.status for _m, path, a in app.answers if path == "/api/runs")
        app.finish("Completed")
        app.settle()

    run = factory.run("AmlexecRunWebHook", FUNCTION_PARAMETERS, run_id=RUN_ID, on_wait=script(run_ends))
    assert answered_before_the_end == [202], "amlexec answered before the run ended"
    assert run.end == "done", run.error
    submit = run.step("Submit")
    assert submit.status == "Succeeded" and submit.output == app.callbacks()[-1]["Output"]
    assert submit.output["status"] == "completed" and submit.output["requestId"] == f"http:{RUN_ID}"
    assert run.variables() == {"runName": app.latest_run(), "scoresFolder": ""}
    assert launched(app)["parameters"] == {**LAUNCHED_PARAMETERS, "batch_label": f"AmlexecRunWebHook/{RUN_ID}"}
    body_fell_back_only(run, "Submit")


def test_webhook_reads_the_outputs_of_a_local_run(engine: Engine, local_app: App) -> None:
    factory = DataFactory(engine, local_app)
    run = factory.run(
        "AmlexecRunWebHook",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(then(lambda: local_app.wait_until_ended(f"http:{RUN_ID}"), local_app.settle)),
    )
    scores = run.variables()["scoresFolder"]
    assert scores and scores == run.step("Submit").output["outputs"]["scores"]
    assert (Path(scores) / "scores.csv").is_file()


def test_a_failed_run_fails_the_webhook(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    run = factory.run(
        "AmlexecRunWebHook",
        FUNCTION_PARAMETERS,
        run_id=RUN_ID,
        on_wait=script(
            then(
                lambda: app.finish("Failed", error=SERVICE_ERROR),
                lambda: app.next_attempt(2),
                lambda: app.finish("Failed", error=SERVICE_ERROR),
                app.settle,
            )
        ),
    )
    assert run.names() == ["Submit"] and run.step("Submit").status == "Failed" and run.end == "stuck"
    callback = app.callbacks()[-1]
    assert callback["StatusCode"] == "500"
    assert callback["Error"] == {"ErrorCode": SERVICE_ERROR[0], "Message": SERVICE_ERROR[1]}


# ------------------------------------------------------------------------------------ (c) the queue


def send_to_queue(factory: DataFactory, app: App, *steps: Callable[[], object], **parameters: Any) -> PipelineRun:
    run = factory.run("AmlexecSendToQueue", {**QUEUE_PARAMETERS, **parameters}, run_id=RUN_ID, on_wait=script(*steps))
    send = run.step("Send request")
    assert send.properties["authentication"] == {"type": "MSI", "resource": "https://servicebus.azure.net"}
    assert json.loads(send.properties["headers"]["BrokerProperties"]) == {"MessageId": RUN_ID, "CorrelationId": RUN_ID}
    assert send.status == "Succeeded"
    body_fell_back_only(run, "Send request")
    return run


def downstream(factory: DataFactory, event: dict[str, Any]) -> tuple[TriggerRun, PipelineRun]:
    fired = factory.fire(trigger_json(), event)
    assert fired is not None, f"the trigger left out {event['eventType']} {event['subject']}"
    assert fired.pipeline == "AmlexecOnRunFinished"
    run = factory.run(fired.pipeline, fired.parameters, run_id=DOWNSTREAM_RUN_ID)
    return fired, run


def test_queue_then_custom_event_trigger_on_completion(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    sender = send_to_queue(factory, app, lambda: app.finish("Completed"))
    assert sender.end == "done", sender.error
    follow = sender.step("Follow the request")
    assert follow.properties["url"] == f"{APP_URL}/api/requests/{RUN_ID}"
    assert follow.output["requestId"] == RUN_ID and follow.output["status"] == "Succeeded"
    assert sender.variables() == {"runName": app.latest_run()}
    assert app.grid_events() == [], "the status checks publish the end, not the progress URL"

    app.settle()
    (event,) = app.grid_events()
    fired, run = downstream(factory, event)
    assert fired.parameters["status"] == "completed" and fired.parameters["runId"] == app.latest_run()
    assert fired.parameters["eventId"] == event["id"], "what a pipeline that must act once dedupes on"
    assert fired.parameters["requestId"] == RUN_ID, "the sender's run id: the downstream pipeline can find it"
    assert fired.parameters["correlationId"] == RUN_ID and fired.parameters["activityName"] == ACTIVITY
    assert fired.parameters["errorCode"] is None and fired.parameters["outputs"] is None
    assert run.end == "done" and run.failure() is None, run.error
    assert run.variables() == {"scoresFolder": ""}


def test_custom_event_trigger_passes_a_local_run_s_outputs(engine: Engine, local_app: App) -> None:
    factory = DataFactory(engine, local_app)
    send_to_queue(factory, local_app, lambda: local_app.wait_until_ended(RUN_ID))
    local_app.settle()
    (event,) = local_app.grid_events()
    fired, run = downstream(factory, event)
    scores = run.variables()["scoresFolder"]
    assert scores == fired.parameters["outputs"]["scores"] and (Path(scores) / "scores.csv").is_file()


def outcome_steps(app: App, outcome: str) -> list[Callable[[], object]]:
    """What the fake workspace does while Data Factory waits, for each way a run can end badly."""
    if outcome == "failed":  # both attempts (the activity's policy.retry is 1)
        return [
            then(lambda: app.finish("Failed", error=SERVICE_ERROR), lambda: app.next_attempt(2)),
            lambda: app.finish("Failed", error=SERVICE_ERROR),
        ]
    if outcome == "canceled":  # in Studio, by someone else
        return [lambda: app.finish("Canceled")]
    # timedOut: amlexec cancels each attempt at the activity's policy.timeout (2 h) and reports timedOut; the
    # progress URL reads the run itself, so it answers once the service has settled the cancellation.
    return [then(app.start, app.settle, lambda: app.finish("Canceled"))]


@pytest.mark.parametrize(
    ("outcome", "error_code"), [("failed", SERVICE_ERROR[0]), ("canceled", None), ("timedOut", None)]
)
def test_custom_event_trigger_takes_the_failure_branch(
    engine: Engine, app: App, outcome: str, error_code: str | None
) -> None:
    factory = DataFactory(engine, app)
    sender = send_to_queue(factory, app, *outcome_steps(app, outcome))
    assert sender.step("Follow the request").status == "Failed" and sender.end == "stuck"

    app.settle()
    (event,) = app.grid_events()
    assert set(event["data"]) == set(DATA_KEYS), "every key, null when absent: the trigger never misses one"
    fired, run = downstream(factory, event)
    assert fired.parameters["status"] == outcome and fired.parameters["requestId"] == RUN_ID
    assert fired.parameters["errorCode"] == error_code
    failure = run.failure()
    assert failure is not None and "Remember the scores" not in run.names()
    assert failure.properties["errorCode"] == (error_code or outcome)
    message = fired.parameters["errorMessage"] or "no message"
    assert failure.properties["message"] == f"amlexec request {RUN_ID} ({ACTIVITY}) ended {outcome}: {message}"


REJECTING = {"runParameters": {"threshold": 0.35, "dryRun": False}}  # no region: the activity cannot resolve


def test_a_rejection_feeds_the_trigger_parameters(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    sender = send_to_queue(factory, app, **REJECTING)
    follow = sender.step("Follow the request")
    assert follow.status == "Failed" and sender.end == "stuck"
    (_method, _path, answer) = app.answers[-1]
    assert answer.status == 424 and answer.body["status"] == "Rejected" and answer.body["activityName"] == ACTIVITY

    (event,) = app.grid_events()
    catch_all = trigger_json()
    catch_all["properties"]["typeProperties"]["subjectBeginsWith"] = ""
    fired = factory.fire(catch_all, event)
    assert fired is not None and fired.parameters["status"] == "rejected" and fired.parameters["runId"] is None
    assert fired.parameters["errorCode"] == answer.body["issues"][0]["code"]
    run = factory.run(fired.pipeline, fired.parameters, run_id=DOWNSTREAM_RUN_ID)
    failure = run.failure()
    assert failure is not None and failure.properties["errorCode"] == fired.parameters["errorCode"]
    assert "property 'region'" in failure.properties["message"]


def test_a_rejection_reaches_the_trigger_of_its_activity(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    send_to_queue(factory, app, **REJECTING)
    (event,) = app.grid_events()
    assert factory.fire(trigger_json(), event) is not None, event["subject"]


def test_the_trigger_leaves_out_other_activities_and_started_events(engine: Engine, app: App) -> None:
    factory = DataFactory(engine, app)
    sender = send_to_queue(factory, app, lambda: app.finish("Completed"))
    envelope = json.loads(sender.step("Send request").properties["body"])
    envelope["activity"]["name"] = "Train model"
    app.flow.deliver_request(json.dumps(envelope).encode(), message_id="another-run")
    app.finish("Completed")
    app.settle()
    ours, theirs = sorted(app.grid_events(), key=lambda e: e["data"]["requestId"] != RUN_ID)
    assert factory.fire(trigger_json(), theirs) is None, theirs["subject"]
    assert factory.fire(trigger_json(), ours) is not None
    assert factory.fire(trigger_json(), {**ours, "eventType": "Amlexec.Run.Started"}) is None
    assert factory.fire(trigger_json(), {**ours, "eventType": ours["eventType"].upper()}) is not None
