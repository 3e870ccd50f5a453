"""emulator/Config.json: the Service Bus emulator's entities are amlexec's, mirror infra/app/servicebus.bicep
within the emulator's documented limits, and use only what the emulator reads (a misspelt FilterType is
silently dropped by it, leaving a subscription that receives everything)."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from amlexec.settings import Settings

pytest.importorskip("pycep", reason="pycep-parser is needed to parse the Bicep templates")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
import infra_checks as checks  # lives beside the infra tests

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "emulator" / "Config.json"
COMPOSE = ROOT / "emulator" / "docker-compose.yml"

# The emulator's limits (its Config-schema.json and "Usage quotas" in Microsoft's emulator overview).
MAX_TTL = timedelta(hours=1)
MIN_TTL = timedelta(minutes=5)
DUPLICATE_WINDOW = (timedelta(seconds=5), timedelta(minutes=5))
QUEUE_LOCK = (timedelta(seconds=5), timedelta(minutes=5))
SUBSCRIPTION_LOCK = (timedelta(minutes=1), timedelta(minutes=5))
MAX_DELIVERY_COUNT = range(1, 11)
MAX_ENTITIES = 50
ENTITY_NAME = re.compile(r"^[A-Za-z0-9]$|^[A-Za-z0-9][\w\-./]*[A-Za-z0-9]$")
DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration(text: str) -> timedelta:
    match = DURATION.match(text)
    assert match and text not in ("P", "PT"), f"not an ISO 8601 duration the emulator reads: {text!r}"
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def namespace() -> dict[str, Any]:
    (only,) = json.loads(CONFIG.read_text())["UserConfig"]["Namespaces"]
    return dict(only)


def sample() -> dict[str, str]:
    return dict(json.loads((ROOT / "local.settings.sample.json").read_text())["Values"])


def bicep_entities() -> dict[str, dict[str, Any]]:
    """servicebus.bicep's queues, topic and subscriptions by their name as deployed, with their properties."""
    templates = checks.load(checks.INFRA)
    names = checks.entity_names(templates)
    main = templates["main.bicep"].tree
    assert main is not None
    forwarder = main["variables"]["eventGridForwarderSubscription"]["value"]
    entities: dict[str, dict[str, Any]] = {}
    by_symbol: dict[str, str] = {}
    rules: dict[str, dict[str, Any]] = {}
    for _, symbol, resource in checks.resources({"app/servicebus.bicep": templates["app/servicebus.bicep"]}):
        config = checks.body(resource)
        if resource["type"].endswith("/rules"):
            rules[config["parent"]] = config["properties"]
            continue
        if "/queues" not in resource["type"] and "/topics" not in resource["type"]:
            continue  # the namespace
        name = config["name"]
        if isinstance(name, dict):  # entityNames.<key>
            name = names[name["operator"]["operands"]["operand_2"]]
        elif name == "eventGridForwarderSubscription":
            name = forwarder
        by_symbol[symbol] = name
        entities[name] = dict(config["properties"])
    for parent, rule in rules.items():
        entities[by_symbol[parent]]["rule"] = rule
    return entities


def emulator_entities() -> dict[str, dict[str, Any]]:
    space = namespace()
    found: dict[str, dict[str, Any]] = {q["Name"]: {"kind": "queue", **q} for q in space["Queues"]}
    for topic in space["Topics"]:
        found[topic["Name"]] = {"kind": "topic", **topic}
        for subscription in topic["Subscriptions"]:
            found[subscription["Name"]] = {"kind": "subscription", **subscription}
    return found


def test_the_entities_are_the_ones_amlexec_and_the_local_sample_name() -> None:
    space = namespace()
    assert space["Name"] == "sbemulatorns", "the only namespace name the emulator accepts"
    defaults, values = Settings(), sample()
    queues = [q["Name"] for q in space["Queues"]]
    assert queues == [defaults.request_queue, defaults.status_queue, defaults.rejected_queue]
    assert queues == [values[s] for s in ("AMLEXEC_REQUEST_QUEUE", "AMLEXEC_STATUS_QUEUE", "AMLEXEC_REJECTED_QUEUE")]
    (topic,) = space["Topics"]
    assert topic["Name"] == defaults.events_topic == values["AMLEXEC_EVENTS_TOPIC"]
    subscriptions = {s["Name"] for s in topic["Subscriptions"]}
    assert subscriptions == {"all-events", "failures", values["AMLEXEC_EVENTGRID_SUBSCRIPTION"]}


def test_every_entity_mirrors_the_bicep_within_the_emulators_limits() -> None:
    deployed, local = bicep_entities(), emulator_entities()
    assert set(local) == set(deployed)
    for name, azure in deployed.items():
        emulated = local[name]["Properties"]
        for bicep_key, key in (
            ("lockDuration", "LockDuration"),
            ("maxDeliveryCount", "MaxDeliveryCount"),
            ("deadLetteringOnMessageExpiration", "DeadLetteringOnMessageExpiration"),
            ("requiresDuplicateDetection", "RequiresDuplicateDetection"),
            ("requiresSession", "RequiresSession"),
        ):
            if bicep_key in azure:
                assert emulated[key] == azure[bicep_key], (name, key)
        assert duration(emulated["DefaultMessageTimeToLive"]) == min(
            duration(azure["defaultMessageTimeToLive"]), MAX_TTL
        ), name
        if azure.get("requiresDuplicateDetection"):
            window = min(duration(azure["duplicateDetectionHistoryTimeWindow"]), DUPLICATE_WINDOW[1])
            assert duration(emulated["DuplicateDetectionHistoryTimeWindow"]) == window, name
    assert local["amlexec-events"]["Properties"]["RequiresDuplicateDetection"] is True  # one terminal event


def test_the_failures_subscription_filters_as_in_azure_and_the_others_take_everything() -> None:
    deployed, local = bicep_entities(), emulator_entities()
    expression = deployed["failures"]["rule"]["sqlFilter"]["sqlExpression"].replace("\\'", "'")
    assert expression == "status IN ('failed', 'timedOut')"
    (rule,) = local["failures"]["Rules"]
    assert rule["Properties"] == {"FilterType": "Sql", "SqlFilter": {"SqlExpression": expression}}
    assert ENTITY_NAME.match(rule["Name"]), "'$Default' is not a name the emulator's schema allows"
    assert "Rules" not in local["all-events"] and "Rules" not in local[sample()["AMLEXEC_EVENTGRID_SUBSCRIPTION"]]


def test_every_value_is_one_the_emulator_accepts() -> None:
    local = emulator_entities()
    assert sum(e["kind"] in ("queue", "topic") for e in local.values()) <= MAX_ENTITIES
    for name, entity in local.items():
        assert ENTITY_NAME.match(name), name
        properties = entity["Properties"]
        assert MIN_TTL <= duration(properties["DefaultMessageTimeToLive"]) <= MAX_TTL, name
        if "DuplicateDetectionHistoryTimeWindow" in properties:
            low, high = DUPLICATE_WINDOW
            assert low <= duration(properties["DuplicateDetectionHistoryTimeWindow"]) <= high, name
        if entity["kind"] != "topic":
            low, high = QUEUE_LOCK if entity["kind"] == "queue" else SUBSCRIPTION_LOCK
            assert low <= duration(properties["LockDuration"]) <= high, name
            assert properties["MaxDeliveryCount"] in MAX_DELIVERY_COUNT, name
            assert properties["ForwardTo"] == properties["ForwardDeadLetteredMessagesTo"] == "", name
        for rule in entity.get("Rules", []):
            assert rule["Properties"]["FilterType"] in ("Correlation", "Sql"), (name, "silently dropped otherwise")
    assert json.loads(CONFIG.read_text())["UserConfig"]["Logging"]["Type"] in ("File", "Console", "File,Console")


def test_the_compose_file_mounts_this_config_and_publishes_the_amqp_port() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    emulator = services["emulator"]
    assert "./Config.json:/ServiceBus_Emulator/ConfigFiles/Config.json" in emulator["volumes"]
    assert "5672:5672" in emulator["ports"]
    assert emulator["environment"]["SQL_SERVER"] in services
    # The license terms are the user's to accept: compose refuses to start without ACCEPT_EULA set.
    assert emulator["environment"]["ACCEPT_EULA"].startswith("${ACCEPT_EULA:?")
