"""examples/datafactory, checked without .NET: Data Factory JSON whose expressions read only what amlexec sends.

The full proof runs the pipelines in Microsoft's engine (test_examples.py, ``make datafactory``). This part runs in
``make test``: the JSON has the shape Data Factory stores (as in the corpus of real factories), every name an
expression uses is declared, and every field an expression reads from ``activity('…').output`` or
``triggerBody().event`` is in the bodies amlexec really answers with, generated here by its own code. Rename a
field in amlexec or misspell one in an example and this fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from datafactory.amlexec_app import APP_URL, CALLBACK_URI, FUNCTION_KEY, App

from amlexec.eventgrid_output import DATA_KEYS, event_type
from amlexec.events import EventKind
from amlexec.expressions import evaluate
from amlexec.validation import validate_payload

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "datafactory"
RUN_ID = "5d0f2c1a-7b3e-4f6a-9c8d-1e2f3a4b5c6d"
SERVICE_ERROR = ("UserError", "Step score failed: KeyError 'income'")
ACTIVITY_TYPES = {"WebActivity", "WebHook", "Until", "IfCondition", "Wait", "SetVariable", "Fail"}
PARAMETER_TYPES = {"String", "Int", "Float", "Bool", "Array", "Object", "SecureString"}
VARIABLE_TYPES = {"String", "Bool", "Array"}
CONDITIONS = {"Succeeded", "Failed", "Skipped", "Completed"}
CHILDREN = ("activities", "ifTrueActivities", "ifFalseActivities")
TIMESPAN = re.compile(r"^(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})$")
OUTPUT_REFERENCE = re.compile(r"activity\('(?P<name>[^']+)'\)\.output(?P<path>(?:\??\.[A-Za-z_]\w*)*)")
TRIGGER_REFERENCE = re.compile(r"triggerBody\(\)\.event(?P<path>(?:\??\.[A-Za-z_]\w*)*)")
# Which amlexec answer becomes which activity's output (only answers that succeed the activity have one).
BODY_KINDS = {
    ("AmlexecRunAndWait", "Submit"): "progress 200",
    ("AmlexecRunAndPoll", "Submit"): "submitted 202",
    ("AmlexecRunAndPoll", "Status"): "run status",
    ("AmlexecRunWebHook", "Submit"): "callback Output",
    ("AmlexecSendToQueue", "Follow the request"): "request 200",
}


def load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    assert isinstance(document, dict)
    return document


def pipelines() -> dict[str, dict[str, Any]]:
    return {path.stem: load(path) for path in sorted((EXAMPLES / "pipeline").glob("*.json"))}


def trigger() -> dict[str, Any]:
    (path,) = sorted((EXAMPLES / "trigger").glob("*.json"))
    return load(path)


def activities(container: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every activity, nested ones too, with the list it belongs to (its dependencies' scope)."""
    for activity in container:
        yield activity, container
        for key in CHILDREN:
            yield from activities(activity.get("typeProperties", {}).get(key, []))


INTERPOLATION = re.compile(r"@\{[^}]*\}")


def strings(node: Any, key: str = "") -> Iterator[str]:
    """Every string Data Factory evaluates. Of a request body, only its ``@{…}`` parts: the rest of that text is
    the Azure ML activity with its own expressions, which amlexec evaluates against the envelope."""
    if isinstance(node, str):
        yield from (INTERPOLATION.findall(node) if key == "body" else [node])
    elif isinstance(node, dict):
        expression_of = node.get("type") == "Expression" and set(node) == {"value", "type"}
        for name, value in node.items():
            yield from strings(value, key if expression_of else name)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value, key)


def seconds(timespan: str) -> float:
    match = TIMESPAN.match(timespan)
    assert match, f"not a d.hh:mm:ss timespan: {timespan!r}"
    return timedelta(
        days=int(match["d"] or 0), hours=int(match["h"]), minutes=int(match["m"]), seconds=int(match["s"])
    ).total_seconds()


def expression(value: Any) -> str:
    assert isinstance(value, dict) and set(value) == {"value", "type"} and value["type"] == "Expression", value
    text: str = value["value"]
    return text


def envelope(pipeline: str, activity: dict[str, Any]) -> dict[str, Any]:
    """The body Data Factory sends, evaluated by amlexec's own evaluator (proven against the engine)."""
    declared = pipelines()[pipeline]["properties"]["parameters"]
    context = {
        "pipeline": {
            "parameters": {"runParameters": declared["runParameters"]["defaultValue"]},
            "RunId": RUN_ID,
            "Pipeline": pipeline,
            "DataFactory": "adf-amlexec-demo",
            "TriggerTime": "2026-11-21T02:00:00.1234567Z",
            "TriggerName": "Sandbox",
            "TriggerType": "Manual",
        }
    }
    body = json.loads(evaluate(expression(activity["typeProperties"]["body"]), context))
    assert isinstance(body, dict)
    return body


# ------------------------------------------------------------------------------------ the JSON itself


@pytest.mark.parametrize("name", sorted(pipelines()))
def test_each_pipeline_is_data_factory_json(name: str) -> None:
    document = pipelines()[name]
    assert document["name"] == name and set(document) == {"name", "properties"}
    properties = document["properties"]
    assert {p["type"] for p in properties["parameters"].values()} <= PARAMETER_TYPES
    assert {v["type"] for v in properties.get("variables", {}).values()} <= VARIABLE_TYPES
    names = [a["name"] for a, _ in activities(properties["activities"])]
    assert len(names) == len(set(names)), "activity names are unique in a pipeline, nested ones included"
    for activity, scope in activities(properties["activities"]):
        assert activity["type"] in ACTIVITY_TYPES
        assert isinstance(activity["typeProperties"], dict) and activity["userProperties"] == []
        siblings = {a["name"] for a in scope}
        for dependency in activity["dependsOn"]:
            assert dependency["activity"] in siblings, "a dependency lives in the same container"
            assert set(dependency["dependencyConditions"]) <= CONDITIONS
        if activity["type"] in ("WebActivity", "WebHook"):
            check_http_activity(activity)
        if activity["type"] == "Until":
            assert seconds(activity["typeProperties"]["timeout"]) > 0
            expression(activity["typeProperties"]["expression"])
        if activity["type"] == "IfCondition":
            expression(activity["typeProperties"]["expression"])
    text = "\n".join(strings(properties))
    for parameter in re.findall(r"pipeline\(\)\.parameters\.(\w+)", text):
        assert parameter in properties["parameters"], f"undeclared parameter {parameter}"
    for variable in re.findall(r"variables\('([^']+)'\)", text):
        assert variable in properties["variables"], f"undeclared variable {variable}"
    for variable in (
        a["typeProperties"]["variableName"]
        for a, _ in activities(properties["activities"])
        if a["type"] == "SetVariable"
    ):
        assert variable in properties["variables"], f"undeclared variable {variable}"
    for referenced in re.findall(r"activity\('([^']+)'\)", text):
        assert referenced in names, f"no activity {referenced!r}"


def check_http_activity(activity: dict[str, Any]) -> None:
    properties = activity["typeProperties"]
    assert properties["method"] in ("GET", "POST")
    url = expression(properties["url"])
    headers = properties.get("headers", {})
    if "servicebus" not in url:
        assert "x-functions-key" in headers, "amlexec's HTTP functions need the function key"
        assert activity["policy"]["secureInput"] is True, "keep the key out of the run's recorded input"
    if properties["method"] == "POST":
        assert headers["Content-Type"] == "application/json"
        expression(properties["body"])
    if activity["type"] == "WebHook":
        assert properties["reportStatusOnCallBack"] is True, "without it a failed run looks like success"
        assert seconds(properties["timeout"]) > seconds("00:10:00"), "the default 10 minutes is shorter than a run"
        assert set(activity["policy"]) == {"secureInput", "secureOutput"}
    else:
        assert 60 <= seconds(properties["httpRequestTimeout"]) <= 600, "Data Factory allows 1 to 10 minutes"
        assert seconds(activity["policy"]["timeout"]) > 0


@pytest.mark.parametrize(
    ("pipeline", "activity"),
    [
        ("AmlexecRunAndWait", "Submit"),
        ("AmlexecRunAndPoll", "Submit"),
        ("AmlexecRunWebHook", "Submit"),
        ("AmlexecSendToQueue", "Send request"),
    ],
)
def test_the_body_is_an_envelope_amlexec_accepts_and_the_wait_outlasts_its_attempts(
    pipeline: str, activity: str
) -> None:
    (found,) = [a for a in pipelines()[pipeline]["properties"]["activities"] if a["name"] == activity]
    body = envelope(pipeline, found)
    validated = validate_payload(body)  # raises, with every issue, if amlexec would reject it
    assert validated.warnings == [] and not validated.bare_activity
    inner = body["activity"]
    assert body["pipeline"]["runId"] == RUN_ID and body["pipeline"]["parameters"]["region"] == "emea"
    for parameter in re.findall(r"pipeline\(\)\.parameters\.(\w+)", json.dumps(inner)):
        assert parameter in body["pipeline"]["parameters"], f"amlexec could not resolve the activity's {parameter}"
    policy = inner["policy"]
    longest = (policy["retry"] + 1) * seconds(policy["timeout"]) + policy["retry"] * policy["retryIntervalInSeconds"]
    properties = found["typeProperties"]
    waits = {
        "AmlexecRunAndWait": lambda: seconds(found["policy"]["timeout"]),
        "AmlexecRunWebHook": lambda: seconds(properties["timeout"]),
        "AmlexecRunAndPoll": lambda: seconds(until(pipeline)["typeProperties"]["timeout"]),
        "AmlexecSendToQueue": lambda: seconds(follow(pipeline)["policy"]["timeout"]),
    }
    assert waits[pipeline]() > longest, "amlexec's own timeout must end the run before Data Factory stops waiting"
    if pipeline == "AmlexecRunAndPoll":
        assert policy["retry"] == 0, "the Until loop follows one run: amlexec's retries would start runs it never sees"


def until(pipeline: str) -> dict[str, Any]:
    return next(a for a, _ in activities(pipelines()[pipeline]["properties"]["activities"]) if a["type"] == "Until")


def follow(pipeline: str) -> dict[str, Any]:
    return next(
        a for a, _ in activities(pipelines()[pipeline]["properties"]["activities"]) if a["name"] == "Follow the request"
    )


def test_the_trigger_is_a_custom_events_trigger_on_amlexec_s_events() -> None:
    document = trigger()
    properties = document["properties"]
    assert properties["type"] == "CustomEventsTrigger" and properties["runtimeState"] == "Stopped"
    filters = properties["typeProperties"]
    assert re.fullmatch(
        r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.EventGrid/topics/[^/]+", filters["scope"]
    )
    assert set(filters["events"]) == {event_type(kind) for kind in EventKind if kind.terminal}
    assert filters["subjectBeginsWith"].startswith("/activities/") and filters["subjectEndsWith"] == ""
    (target,) = properties["pipelines"]
    downstream = pipelines()[target["pipelineReference"]["referenceName"]]["properties"]
    assert set(target["parameters"]) == set(downstream["parameters"]), "every parameter, none left to its default"
    for value in target["parameters"].values():
        assert isinstance(value, str) and value.startswith("@triggerBody().event.data."), value


# ------------------------------------------------------------------------------------ against amlexec's real bodies


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """amlexec's real answers, per kind, to the examples' own request bodies (Azure ML target and local runner)."""
    found: dict[str, list[Any]] = {kind: [] for kind in (*BODY_KINDS.values(), "event")}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for local in (False, True):
            app = App.create(monkeypatch, tmp_path_factory.mktemp("app"), local=local)
            record_http(app, found, "AmlexecRunAndWait", "http-wait")
            record_http(app, found, "AmlexecRunWebHook", "http-hook", callback=True)
            record_queue(app, found)
            if not local:
                record_failures(app, found)
            app.settle()
            found["event"].extend(app.grid_events())
    return found


def submit_body(pipeline: str, activity: str = "Submit") -> dict[str, Any]:
    (found,) = [a for a in pipelines()[pipeline]["properties"]["activities"] if a["name"] == activity]
    return envelope(pipeline, found)


KEYED = {"x-functions-key": FUNCTION_KEY}


def record_http(app: App, found: dict[str, list[Any]], pipeline: str, key: str, *, callback: bool = False) -> None:
    body = submit_body(pipeline)
    if callback:
        body["callBackUri"] = CALLBACK_URI
    accepted = app.http("POST", f"{APP_URL}/api/runs", {**KEYED, "Idempotency-Key": key}, json.dumps(body))
    assert accepted.status == 202
    found["submitted 202"].append(accepted.body)
    if app.local:
        app.wait_until_ended(f"http:{key}")
    else:
        app.start()
        found["run status"].append(app.http("GET", accepted.body["statusUrl"], KEYED, None).body)
        app.finish("Completed")
        found["run status"].append(app.http("GET", accepted.body["statusUrl"], KEYED, None).body)
    done = app.http("GET", accepted.headers["Location"], {}, None)
    assert done.status == 200
    found["progress 200"].append(done.body)
    if callback:
        app.settle()
        found["callback Output"].append(app.callbacks()[-1]["Output"])


def record_queue(app: App, found: dict[str, list[Any]]) -> None:
    body = json.dumps(submit_body("AmlexecSendToQueue", "Send request"))
    app.enqueue(body, message_id="queue-done")
    if app.local:
        app.wait_until_ended("queue-done")
    else:
        app.finish("Completed")
    answer = app.http("GET", f"{APP_URL}/api/requests/queue-done", KEYED, None)
    assert answer.status == 200
    found["request 200"].append(answer.body)


def record_failures(app: App, found: dict[str, list[Any]]) -> None:
    """A failed run (its status, then its event), a canceled one and a rejected one."""
    body = submit_body("AmlexecRunAndWait")
    accepted = app.http("POST", f"{APP_URL}/api/runs", {**KEYED, "Idempotency-Key": "http-failed"}, json.dumps(body))
    app.finish("Failed", error=SERVICE_ERROR)
    found["run status"].append(app.http("GET", accepted.body["statusUrl"], KEYED, None).body)
    app.next_attempt(2)
    app.finish("Failed", error=SERVICE_ERROR)
    queued = submit_body("AmlexecSendToQueue", "Send request")
    app.enqueue(json.dumps(queued), message_id="queue-canceled")
    app.finish("Canceled")
    del queued["pipeline"]["parameters"]["region"]
    app.enqueue(json.dumps(queued), message_id="queue-rejected")


def fields(path: str) -> tuple[list[str], list[str]]:
    """``.a.b?.c.d`` -> (["a", "b"], ["c", "d"]): what must always be there, what may be missing."""
    required, _, optional = path.partition("?")
    return [p for p in required.split(".") if p], [p.strip("?") for p in optional.split(".") if p.strip("?")]


def has(body: Any, path: list[str]) -> bool:
    for name in path:
        if not isinstance(body, dict) or name not in body:
            return False
        body = body[name]
    return True


def test_the_real_bodies_cover_every_outcome(bodies: dict[str, list[Any]]) -> None:
    statuses = {(b.get("status"), b.get("isTerminal")) for b in bodies["run status"]}
    assert statuses == {("InProgress", False), ("Succeeded", True), ("Failed", True)}
    assert {e["data"]["status"] for e in bodies["event"]} == {"completed", "failed", "canceled", "rejected"}
    assert any(has(b, ["outputs", "scores"]) for b in bodies["progress 200"]), "a local run reports its outputs"


@pytest.mark.parametrize("name", sorted(pipelines()))
def test_every_activity_output_an_expression_reads_is_in_amlexec_s_answers(
    name: str, bodies: dict[str, list[Any]]
) -> None:
    for text in strings(pipelines()[name]["properties"]["activities"]):
        for match in OUTPUT_REFERENCE.finditer(text):
            kind = BODY_KINDS.get((name, match["name"]))
            assert kind is not None, f"{name}: say which amlexec answer {match['name']!r} outputs (BODY_KINDS)"
            required, optional = fields(match["path"])
            for body in bodies[kind]:
                assert has(body, required), f"{name}: {match[0]}: no {'.'.join(required)} in {kind}: {body}"
            if optional:
                assert any(has(body, required + optional) for body in bodies[kind]), f"{name}: {match[0]}: never sent"


def test_every_trigger_body_field_is_in_every_event(bodies: dict[str, list[Any]]) -> None:
    references = [m for text in strings(trigger()) for m in TRIGGER_REFERENCE.finditer(text)]
    assert references
    for match in references:
        required, optional = fields(match["path"])
        assert not optional, "a missing key fails the trigger run: read only keys every event has"
        for event in bodies["event"]:
            assert has(event, required), f"{match[0]}: not in the {event['eventType']} event"
            if required[0] == "data":
                assert required[1] in DATA_KEYS
