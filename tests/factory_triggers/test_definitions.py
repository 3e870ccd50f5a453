"""Trigger definitions as Data Factory exports them: every trigger people wrote loads, or is refused with a
reason a user would agree with; the amlexec block; several pipelines; dependencies; the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_dir

from amlexec.cli import main
from amlexec.errors import ConfigurationError
from amlexec.factory_triggers.definitions import (
    TriggerDefinitionError,
    dependency_issues,
    load_triggers,
    parse_triggers,
)

_SHARED = shared_dir()
# The public trigger corpus beside the checkout (../shared, or AMLEXEC_SHARED_DIR); its tests skip without it.
CORPUS = _SHARED / "corpus" / "triggers" if _SHARED is not None else Path("/nonexistent")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PAYLOAD = {"name": "Score", "type": "AzureMLExecutePipeline", "typeProperties": {"mlPipelineId": "p"}}

# The corpus triggers amlexec refuses, and the words of the reason.
REFUSED = {
    "004-navneku_navneku-MGL_Test1.json": ["frequency is Day, not Daily", "no such time zone"],
    # ARM template exports: the scope is "[parameters('…')]", which only a template deployment resolves.
    "084-himakshivyas861_AMIMNC-eventbasetriggerstorageevents.json": ["ARM template expression"],
    "085-chanley54_azuretraining-EventTrigger.json": ["ARM template expression"],
    "096-kromerm_makadfwestus2-customEventTrigger.json": ["ARM template expression"],
    "097-altra-msft_abcdefg-custom_events.json": ["ARM template expression"],
}


def with_payload(document: dict[str, Any]) -> dict[str, Any]:
    pipelines = document.get("properties", {}).get("pipelines") or []
    if len(pipelines) > 1:
        names = [p["pipelineReference"]["referenceName"] for p in pipelines]
        return {**document, "amlexec": {"pipelines": {n: {"payload": PAYLOAD} for n in names}}}
    return {**document, "amlexec": {"payload": PAYLOAD}}


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda p: p.name[:45])
def test_every_trigger_people_wrote_loads_or_is_refused_with_its_reason(path: Path) -> None:
    document = with_payload(json.loads(path.read_text(encoding="utf-8-sig")))
    if path.name in REFUSED:
        with pytest.raises(TriggerDefinitionError) as refused:
            parse_triggers(document, path.name)
        messages = " | ".join(str(i) for i in refused.value.issues)
        for words in REFUSED[path.name]:
            assert words in messages
        assert all(i.path.startswith(f"{path.name}.properties.") for i in refused.value.issues)
        return
    (definition,) = parse_triggers(document, path.name)
    assert definition.name == document["name"]
    assert definition.started == (document["properties"].get("runtimeState", "Started") == "Started")
    rules = [definition.recurrence, definition.window, definition.blob, definition.custom]
    assert sum(rule is not None for rule in rules) == 1


def test_the_corpus_keeps_every_kind_of_trigger(corpus_dir: Path) -> None:
    files = (corpus_dir / "triggers").glob("*.json")
    kinds = {json.loads(p.read_text(encoding="utf-8-sig"))["properties"]["type"] for p in files}
    assert kinds == {"ScheduleTrigger", "TumblingWindowTrigger", "BlobEventsTrigger", "CustomEventsTrigger"}


def schedule(name: str = "t", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "type": "ScheduleTrigger",
            "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1, "startTime": "2026-01-01T00:00:00Z"}},
            "pipelines": [{"pipelineReference": {"referenceName": "Score"}, "parameters": {"x": "@trigger().name"}}],
        },
        **extra,
    }


def test_every_problem_in_every_definition_is_reported_at_once() -> None:
    broken = [
        schedule("a"),  # no amlexec block
        {"name": "b", "properties": {"type": "RerunTumblingWindowTrigger"}},
        {"properties": {}},
        schedule("c", amlexec={"payloadFile": "missing.json"}),
        schedule("d", amlexec={"payload": PAYLOAD}),
        schedule("d", amlexec={"payload": PAYLOAD}),
    ]
    with pytest.raises(TriggerDefinitionError) as refused:
        parse_triggers(broken, "triggers.json", EXAMPLES)
    assert [i.path for i in refused.value.issues] == [
        "triggers.json[0].amlexec",
        "triggers.json[1].properties.type",
        "triggers.json[2].name",
        "triggers.json[3].amlexec.payloadFile",
        "triggers.json[5].name",
    ]


def test_several_pipelines_need_one_payload_each() -> None:
    document = schedule()
    document["properties"]["pipelines"].append({"pipelineReference": {"referenceName": "Publish"}})
    with pytest.raises(TriggerDefinitionError, match="name one payload for each"):
        parse_triggers({**document, "amlexec": {"payload": PAYLOAD}}, "t.json")
    (definition,) = parse_triggers(
        {**document, "amlexec": {"pipelines": {"Score": {"payload": PAYLOAD}, "Publish": {"payload": PAYLOAD}}}},
        "t.json",
    )
    assert [t.reference for t in definition.targets] == ["Score", "Publish"]
    assert definition.targets[0].parameters == {"x": "@trigger().name"}


def test_a_name_in_both_the_file_and_the_setting_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "triggers.json"
    file.write_text(json.dumps([schedule("nightly", amlexec={"payload": PAYLOAD})]), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="trigger name 'nightly' is defined twice"):
        load_triggers(file, json.dumps([schedule("nightly", amlexec={"payload": PAYLOAD})]))
    assert [t.name for t in load_triggers(file, json.dumps([schedule("hourly", amlexec={"payload": PAYLOAD})]))] == [
        "nightly",
        "hourly",
    ]


def window(name: str, depends_on: str | None = None) -> dict[str, Any]:
    dependencies = (
        [{"type": "TumblingWindowTriggerDependencyReference", "referenceTrigger": {"referenceName": depends_on}}]
        if depends_on
        else []
    )
    return {
        "name": name,
        "properties": {
            "type": "TumblingWindowTrigger",
            "typeProperties": {
                "frequency": "Hour",
                "interval": 1,
                "startTime": "2026-01-01T00:00:00Z",
                "maxConcurrency": 1,
                "dependsOn": dependencies,
            },
        },
        "amlexec": {"payload": PAYLOAD},
    }


def test_dependencies_must_name_a_tumbling_window_trigger_and_form_no_cycle() -> None:
    definitions = parse_triggers([window("a", "b"), window("b", "c"), window("c", "a"), window("d", "x")], "w.json")
    issues = dependency_issues(definitions)
    assert [i.path for i in issues] == [
        "d.properties.typeProperties.dependsOn[0].referenceTrigger",
        "a.properties.typeProperties.dependsOn",
    ]
    assert issues[1].got == 'string "a -> b -> c -> a"'
    assert dependency_issues(parse_triggers([window("a", "b"), window("b")], "w.json")) == []


def test_the_file_and_the_setting_both_contribute(tmp_path: Path) -> None:
    file = tmp_path / "triggers.json"
    file.write_text(json.dumps([schedule("from-file", amlexec={"payload": PAYLOAD})]))
    inline = json.dumps(schedule("from-setting", amlexec={"payload": PAYLOAD}))
    assert [d.name for d in load_triggers(file, inline)] == ["from-file", "from-setting"]


# ------------------------------------------------------------------------------------------------ the CLI


def test_triggers_validate_checks_definitions_and_their_payloads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["triggers", "validate", str(EXAMPLES / "triggers.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("valid    ") == 4 and "HourlyLoanScoring: TumblingWindowTrigger, stopped" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([schedule(amlexec={"payload": {"name": "x", "type": "AzureMLExecutePipeline"}})]))
    assert main(["triggers", "validate", str(bad)]) == 2
    assert "amlexec.payload(Score).typeProperties" in capsys.readouterr().out


def test_triggers_next_lists_occurrences_in_the_triggers_time_zone(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["triggers", "next", str(EXAMPLES / "triggers.json"), "--count", "2", "--after", "2026-11-27T12:00:00Z"]
    assert main([*args, "--name", "NightlyLoanScoring"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  2026-11-30T02:00:00+01:00  (W. Europe Standard Time; 2026-11-30T01:00:00+00:00 UTC)",
        "  2026-12-01T02:00:00+01:00  (W. Europe Standard Time; 2026-12-01T01:00:00+00:00 UTC)",
    ]
    assert main([*args, "--name", "HourlyLoanScoring"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "  [2026-11-27T11:00:00+00:00, 2026-11-27T12:00:00+00:00)  runs from 2026-11-27T12:05:00+00:00 (UTC)"
    )
