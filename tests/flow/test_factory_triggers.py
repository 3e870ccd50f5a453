"""Data Factory triggers, verbatim, through the Function App: the timer fires schedule and tumbling window
triggers, and events Event Grid delivers to the request queue fire storage and custom event triggers.

Each trigger's ``pipelines[].parameters`` are evaluated over the trigger and reach the activity as
``@pipeline().parameters.x``, as in Data Factory; every firing is one request, launched once.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from flow.harness import START, Flow, activity, make_flow

from amlexec.bus.base import Destination

STORAGE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/landing"
TOPIC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventGrid/topics/upstream"


def scoring(**parameters: str) -> dict[str, Any]:
    """The activity a trigger launches: it reads the pipeline parameters the trigger sets."""
    return activity(mlPipelineParameters={"n": 1, **parameters})


def flow_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *triggers: dict[str, Any]) -> Flow:
    return make_flow(monkeypatch, tmp_path, triggers_json=json.dumps(list(triggers)))


def tick(flow: Flow, last: str | None = None) -> None:
    status = {"Last": last} if last else None
    flow.functions["scheduler"](func.timer.TimerRequest(past_due=False, schedule_status=status))


def finish_everything(flow: Flow) -> None:
    def finish(_step: int) -> None:
        for name, job in flow.world.fake.jobs.items():
            if job["properties"]["status"] not in ("Completed", "Failed", "Canceled"):
                flow.world.fake.finish(name, "Completed")

    flow.pump(on_check=finish)


def inputs(flow: Flow) -> list[dict[str, Any]]:
    return [{k: v["value"] for k, v in job["properties"]["inputs"].items()} for job in flow.world.fake.jobs.values()]


# ------------------------------------------------------------------------------------------------ schedules


def test_a_schedule_trigger_fires_its_pipeline_with_the_parameters_it_evaluates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trigger = {
        "name": "EveryDayAt2",
        "properties": {
            "type": "ScheduleTrigger",
            "runtimeState": "Started",
            "typeProperties": {
                "recurrence": {
                    "frequency": "Day",
                    "interval": 1,
                    "startTime": "2026-01-01T00:00:00Z",
                    "timeZone": "UTC",
                    "schedule": {"hours": [2], "minutes": [0]},
                }
            },
            "pipelines": [
                {
                    "pipelineReference": {"referenceName": "ScoreDaily", "type": "PipelineReference"},
                    "parameters": {"runDate": "@formatDateTime(trigger().scheduledTime, 'yyyy-MM-dd')"},
                }
            ],
        },
        "amlexec": {"payload": scoring(label="@pipeline().parameters.runDate")},
    }
    flow = flow_with(monkeypatch, tmp_path, trigger)
    flow.world.clock.advance(5)  # the tick a few seconds after 02:00
    tick(flow, "2026-11-21T01:59:00+00:00")
    tick(flow, "2026-11-21T01:59:00+00:00")  # a second instance: the same occurrence, the same request
    finish_everything(flow)
    assert inputs(flow) == [{"n": "1", "label": "2026-11-21"}]
    (completed,) = flow.terminal_events()
    assert completed["data"]["requestId"] == "schedule:EveryDayAt2:2026-11-21T02:00:00Z"


def test_a_stopped_trigger_never_fires(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    trigger = {
        "name": "Paused",
        "properties": {
            "type": "ScheduleTrigger",
            "runtimeState": "Stopped",
            "typeProperties": {
                "recurrence": {"frequency": "Minute", "interval": 1, "startTime": "2026-01-01T00:00:00Z"}
            },
        },
        "amlexec": {"payload": scoring()},
    }
    flow = flow_with(monkeypatch, tmp_path, trigger)
    flow.world.clock.advance(60)
    tick(flow)
    assert flow.bus.sent[Destination.REQUESTS] == []


# ------------------------------------------------------------------------------------------------ tumbling windows


def hourly_windows(**type_properties: Any) -> dict[str, Any]:
    return {
        "name": "HourlyScoring",
        "properties": {
            "type": "TumblingWindowTrigger",
            "runtimeState": "Started",
            "typeProperties": {
                "frequency": "Hour",
                "interval": 1,
                "startTime": (START - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "delay": "00:00:00",
                "maxConcurrency": 2,
                "retryPolicy": {"count": 1, "intervalInSeconds": 30},
                **type_properties,
            },
            "pipeline": {
                "pipelineReference": {"referenceName": "ScoreHour", "type": "PipelineReference"},
                "parameters": {
                    "from": "@trigger().outputs.windowStartTime",
                    "to": "@trigger().outputs.windowEndTime",
                },
            },
        },
        "amlexec": {"payload": scoring(label="@concat(pipeline().parameters.from, '/', pipeline().parameters.to)")},
    }


def test_tumbling_windows_backfill_each_window_once_within_max_concurrency(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = flow_with(monkeypatch, tmp_path, hourly_windows())
    tick(flow)
    tick(flow)  # a repeated tick sends nothing more: both slots are taken
    assert [m.message_id for m in flow.bus.sent[Destination.REQUESTS]] == [
        "window:HourlyScoring:2026-11-20T23:00:00Z:1",
        "window:HourlyScoring:2026-11-21T00:00:00Z:1",
    ]
    finish_everything(flow)  # the runs end; each terminal event records its window's end
    tick(flow)
    finish_everything(flow)
    tick(flow)
    finish_everything(flow)
    labels = sorted(i["label"] for i in inputs(flow))
    assert labels == [
        "2026-11-20T23:00:00.0000000Z/2026-11-21T00:00:00.0000000Z",
        "2026-11-21T00:00:00.0000000Z/2026-11-21T01:00:00.0000000Z",
        "2026-11-21T01:00:00.0000000Z/2026-11-21T02:00:00.0000000Z",
    ], "three windows had ended by 02:00, each ran once"
    assert flow.worker.windows is not None
    assert flow.worker.windows.unfinished("HourlyScoring") == []


def test_a_failed_window_is_retried_as_a_new_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    flow = flow_with(monkeypatch, tmp_path, hourly_windows(maxConcurrency=1))
    tick(flow)

    def fail_everything(_step: int) -> None:
        for name, job in flow.world.fake.jobs.items():
            if job["properties"]["status"] != "Failed":
                flow.world.fake.finish(name, "Failed", error=("UserError", "bad data"))

    flow.pump(on_check=fail_everything)
    tick(flow)
    assert len(flow.bus.sent[Destination.REQUESTS]) == 1, "the failed window keeps its slot until its retry"
    flow.world.clock.advance(30)
    tick(flow)  # retryPolicy.intervalInSeconds has passed
    assert [m.message_id for m in flow.bus.sent[Destination.REQUESTS]] == [
        "window:HourlyScoring:2026-11-20T23:00:00Z:1",
        "window:HourlyScoring:2026-11-20T23:00:00Z:2",
    ]
    flow.pump(on_check=fail_everything)
    flow.world.clock.advance(30)
    tick(flow)  # retryPolicy.count (1) is spent: the window is given up, the next one takes the slot
    assert flow.bus.sent[Destination.REQUESTS][-1].message_id == "window:HourlyScoring:2026-11-21T00:00:00Z:1"
    assert len(flow.world.fake.jobs) == 2


# ------------------------------------------------------------------------------------------------ events


def landing_trigger() -> dict[str, Any]:
    return {
        "name": "OnNewCsv",
        "properties": {
            "type": "BlobEventsTrigger",
            "runtimeState": "Started",
            "typeProperties": {
                "blobPathBeginsWith": "/landing/blobs/scores/",
                "blobPathEndsWith": ".csv",
                "ignoreEmptyBlobs": True,
                "scope": STORAGE,
                "events": ["Microsoft.Storage.BlobCreated"],
            },
            "pipelines": [
                {
                    "pipelineReference": {"referenceName": "ScoreFile", "type": "PipelineReference"},
                    "parameters": {"file": "@triggerBody().fileName", "folder": "@triggerBody().folderPath"},
                }
            ],
        },
        "amlexec": {"payload": scoring(label="@concat(pipeline().parameters.folder, '|', pipeline().parameters.file)")},
    }


def blob_created(event_id: str, api: str, length: int, name: str = "scores/2026/11/day.csv") -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": STORAGE,
        "subject": f"/blobServices/default/containers/landing/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2026-11-21T02:00:01Z",
        "data": {"api": api, "contentLength": length, "url": f"https://landing.blob.core.windows.net/landing/{name}"},
        "dataVersion": "",
        "metadataVersion": "1",
    }


def test_a_file_landing_fires_once_however_often_event_grid_delivers_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = flow_with(monkeypatch, tmp_path, landing_trigger())
    # ADLS Gen2 writes one file as CreateFile (empty) then FlushWithClose; Event Grid may deliver each twice.
    create, flush = blob_created("e-create", "CreateFile", 0), blob_created("e-flush", "FlushWithClose", 2048)
    for event, message_id in ((create, "sb-1"), (flush, "sb-2"), (flush, "sb-3")):
        flow.deliver_request(json.dumps(event).encode(), message_id=message_id)
    finish_everything(flow)
    assert inputs(flow) == [{"n": "1", "label": "landing/scores/2026/11|day.csv"}]
    (completed,) = flow.terminal_events()
    assert completed["data"]["requestId"] == "event:OnNewCsv:e-flush"


def test_an_event_no_trigger_matches_is_dropped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    flow = flow_with(monkeypatch, tmp_path, landing_trigger())
    flow.deliver_request(json.dumps(blob_created("e-1", "PutBlob", 10, "other/readme.txt")).encode())
    assert flow.bus.sent[Destination.REQUESTS] == [] and flow.bus.sent[Destination.REJECTED] == []


def custom_trigger() -> dict[str, Any]:
    return {
        "name": "AfterUpstream",
        "properties": {
            "type": "CustomEventsTrigger",
            "runtimeState": "Started",
            "typeProperties": {
                "events": ["Amlexec.Run.Completed"],
                "subjectBeginsWith": "/activities/Prepare/",
                "scope": TOPIC,
            },
            "pipelines": [
                {
                    "pipelineReference": {"referenceName": "ScoreAfterPrepare", "type": "PipelineReference"},
                    "parameters": {"upstreamRun": "@triggerBody().event.data.runId"},
                }
            ],
        },
        "amlexec": {"payload": scoring(label="@pipeline().parameters.upstreamRun")},
    }


def upstream_event(event_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": TOPIC,
        "subject": "/activities/Prepare/experiments/prep/requests/r-1/completed",
        "eventType": "Amlexec.Run.Completed",
        "eventTime": "2026-11-21T02:00:01Z",
        "data": data,
        "dataVersion": "1",
    }


def test_one_run_ending_starts_the_next_through_a_custom_event_trigger(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = flow_with(monkeypatch, tmp_path, custom_trigger())
    flow.deliver_request(json.dumps([upstream_event("u-1", {"runId": "prep_run_1"})]).encode())
    finish_everything(flow)
    assert inputs(flow) == [{"n": "1", "label": "prep_run_1"}]


def test_a_parameter_reading_a_key_the_event_lacks_rejects_that_firing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = flow_with(monkeypatch, tmp_path, custom_trigger())
    flow.deliver_request(json.dumps(upstream_event("u-2", {"status": "completed"})).encode())
    assert flow.world.fake.jobs == {}
    (rejected,) = flow.terminal_events()
    assert rejected["type"] == "com.amlexec.run.rejected"
    (issue,) = rejected["data"]["issues"]
    assert issue["path"] == "triggers.AfterUpstream.pipelines.ScoreAfterPrepare.parameters.upstreamRun"
    assert "runId" in issue["message"]


def test_a_body_that_looks_like_an_event_but_is_not_one_is_rejected_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = flow_with(monkeypatch, tmp_path, custom_trigger())
    broken = upstream_event("", {"runId": "x"})
    flow.deliver_request(json.dumps(broken).encode(), message_id="sb-broken")
    (kept,) = flow.bus.sent[Destination.REJECTED]
    assert kept.body == json.dumps(broken).encode(), "the body is kept byte for byte"


def test_events_out_of_order_and_redelivered_start_one_run_per_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = flow_with(monkeypatch, tmp_path, landing_trigger())
    a_create, a_flush = (
        blob_created("a-1", "CreateFile", 0, "scores/a.csv"),
        blob_created("a-2", "FlushWithClose", 9, "scores/a.csv"),
    )
    b_put = blob_created("b-1", "PutBlob", 5, "scores/b.csv")
    # Event Grid promises no order: the flush before the create, the other file in between, and repeats.
    for number, event in enumerate([a_flush, b_put, a_create, a_flush, b_put, a_create]):
        flow.deliver_request(json.dumps(event).encode(), message_id=f"sb-{number}")
    finish_everything(flow)
    assert sorted(i["label"] for i in inputs(flow)) == ["landing/scores|a.csv", "landing/scores|b.csv"]
    assert sorted(e["data"]["requestId"] for e in flow.terminal_events()) == [
        "event:OnNewCsv:a-2",
        "event:OnNewCsv:b-1",
    ]
