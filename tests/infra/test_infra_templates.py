"""infra/ checked offline: every Bicep file parses, and its structure matches what amlexec reads.

The checks themselves live in infra_checks.py; the tests at the end break a copy of the templates in each
way the checks guard against and assert that the break is reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("pycep", reason="pycep-parser is needed to parse the Bicep templates")

import infra_checks as checks

from amlexec.events import EventKind
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.settings import SETTING_NAMES, Settings

ROOT = checks.ROOT
INFRA = checks.INFRA


@pytest.fixture(scope="module")
def templates() -> dict[str, checks.Template]:
    return checks.load(INFRA)


def resource(templates: dict[str, checks.Template], rel: str, symbol: str) -> dict[str, Any]:
    tree = templates[rel].tree
    assert tree is not None
    return checks.body(tree["resources"][symbol])


def module(templates: dict[str, checks.Template], symbol: str) -> dict[str, Any]:
    tree = templates["main.bicep"].tree
    assert tree is not None
    return checks.body(tree["modules"][symbol])


# ----------------------------------------------------------------------------------------- the real infra


def test_the_templates_pass_every_structural_check() -> None:
    assert checks.check_all(INFRA) == []


def test_every_template_is_found_and_parses(templates: dict[str, checks.Template]) -> None:
    assert {
        "main.bicep",
        "rbac.bicep",
        "rbac-workspace.bicep",
        "app/function.bicep",
        "app/servicebus.bicep",
        "app/eventgrid.bicep",
        "app/eventgrid-output.bicep",
        "core/identity.bicep",
        "core/storage.bicep",
        "core/monitoring.bicep",
    } <= set(templates)
    assert all(t.tree is not None for t in templates.values())
    assert not (INFRA / ".gitkeep").exists()


def test_deployed_settings_are_what_amlexec_reads_plus_the_host_identity_settings(
    templates: dict[str, checks.Template],
) -> None:
    deployed = checks.deployed_settings(templates)
    assert deployed >= checks.DEPLOYED_SETTINGS
    assert deployed - checks.HOST_SETTINGS <= set(SETTING_NAMES)
    assert "AMLEXEC_SCHEDULES" in deployed  # only when schedulesJson is given
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} & deployed  # Flex sets the runtime


def indexed_functions() -> dict[str, dict[str, Any]]:
    import function_app

    function_app.app.functions_bindings = {}
    try:
        return {
            str(fn.get_function_name()): dict(json.loads(fn.get_function_json()))
            for fn in function_app.app.get_functions()
        }
    finally:
        function_app.app.functions_bindings = {}


def test_every_trigger_binding_reads_a_provisioned_setting(templates: dict[str, checks.Template]) -> None:
    deployed = checks.deployed_settings(templates)
    referenced, connections = set(), set()
    for function in indexed_functions().values():
        for binding in function["bindings"]:
            for value in binding.values():
                if isinstance(value, str) and value.startswith("%") and value.endswith("%"):
                    referenced.add(value.strip("%"))
            if binding.get("connection"):
                connections.add(binding["connection"])
    assert referenced == {"AMLEXEC_REQUEST_QUEUE", "AMLEXEC_STATUS_QUEUE", "AMLEXEC_SCHEDULER_TICK"}
    assert referenced <= deployed
    assert connections == {"ServiceBusConnection"}
    for connection in connections:
        assert {
            f"{connection}__fullyQualifiedNamespace",
            f"{connection}__credential",
            f"{connection}__clientId",
        } <= deployed


def test_entity_names_are_amlexecs_defaults_and_the_local_samples(templates: dict[str, checks.Template]) -> None:
    names = checks.entity_names(templates)
    defaults = Settings()
    assert names == {
        "requestQueue": defaults.request_queue,
        "statusQueue": defaults.status_queue,
        "rejectedQueue": defaults.rejected_queue,
        "eventsTopic": defaults.events_topic,
    }
    sample = json.loads(checks.LOCAL_SAMPLE.read_text())["Values"]
    for key, setting in checks.ENTITY_SETTINGS.items():
        assert sample[setting] == names[key]


def test_scheduler_tick_is_every_minute(templates: dict[str, checks.Template]) -> None:
    union = module(templates, "functionApp")["params"]["appSettings"]["function"]["parameters"]
    assert union["arg_1"] == "extraAppSettings"  # first, so it cannot replace a provisioned setting
    settings = union["arg_2"]
    assert settings["AMLEXEC_SCHEDULER_TICK"] == "0 * * * * *"
    assert settings["AMLEXEC_BUS"] == "servicebus"


def test_service_bus_entities_keep_the_promises_amlexec_relies_on(templates: dict[str, checks.Template]) -> None:
    bus = "app/servicebus.bicep"
    requests = resource(templates, bus, "requestQueue")["properties"]
    assert requests["lockDuration"].startswith("PT") and requests["maxDeliveryCount"] >= 5
    assert requests["deadLetteringOnMessageExpiration"] is True
    assert requests["requiresDuplicateDetection"] is True
    assert resource(templates, bus, "statusQueue")["properties"]["requiresDuplicateDetection"] is True
    topic = resource(templates, bus, "eventsTopic")["properties"]
    # "One terminal event per request" holds through the topic's duplicate detection (README).
    assert topic["requiresDuplicateDetection"] is True and topic["duplicateDetectionHistoryTimeWindow"] == "P7D"
    assert resource(templates, bus, "allEvents")["name"] == "all-events"
    rule = resource(templates, bus, "failuresRule")
    assert rule["name"] == "$Default"  # replaces the true filter, so the subscription really filters
    assert rule["properties"]["filterType"] == "SqlFilter"
    expression = rule["properties"]["sqlFilter"]["sqlExpression"].replace("\\'", "'")
    assert expression == f"status IN ('{EventKind.FAILED.value}', '{EventKind.TIMED_OUT.value}')"
    namespace = resource(templates, bus, "namespace")
    assert namespace["properties"]["disableLocalAuth"] is True


def test_event_grid_subscribes_run_events_to_azure_ml_run_events(templates: dict[str, checks.Template]) -> None:
    functions = indexed_functions()
    params = module(templates, "eventGrid")["params"]
    assert params["functionName"] == "run_events"
    assert any(b["type"] == "eventGridTrigger" for b in functions[params["functionName"]]["bindings"])
    tree = templates["main.bicep"].tree
    assert tree is not None
    assert tree["modules"]["eventGrid"]["config"]["condition"] == "enableEventGrid"
    subscription = resource(templates, "app/eventgrid.bicep", "subscription")["properties"]
    assert subscription["destination"]["endpointType"] == "AzureFunction"
    assert subscription["destination"]["properties"]["resourceId"] == "${functionAppId}/functions/${functionName}"
    assert set(subscription["filter"]["includedEventTypes"]) == {
        "Microsoft.MachineLearningServices.RunStatusChanged",
        "Microsoft.MachineLearningServices.RunCompleted",
    }
    topic = resource(templates, "app/eventgrid.bicep", "systemTopic")
    assert topic["properties"]["topicType"] == "Microsoft.MachineLearningServices.Workspaces"


def test_event_grid_output_is_off_by_default(templates: dict[str, checks.Template]) -> None:
    main = templates["main.bicep"].tree
    assert main is not None
    assert main["parameters"]["enableEventGridOutput"]["default"] is False
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert params["enableEventGridOutput"]["value"] == "${AMLEXEC_ENABLE_EVENTGRID_OUTPUT=false}"
    # Everything it adds is conditional on the one flag: with it off, none of it is deployed or configured.
    assert main["modules"]["eventGridOutput"]["config"]["condition"] == "enableEventGridOutput"
    bus, rbac = templates["app/servicebus.bicep"].tree, templates["rbac.bicep"].tree
    assert bus is not None and rbac is not None
    assert bus["resources"]["eventGridForwarder"]["config"]["condition"] == "enableEventGridOutput"
    assert rbac["resources"]["eventGridForwarderReceiver"]["config"]["condition"] == "enableEventGridOutput"
    settings = main["variables"]["eventGridOutputSettings"]["value"]["operator"]
    assert settings["type"] == "conditional" and settings["operands"]["condition"] == "enableEventGridOutput"
    assert settings["operands"]["false_value"] == {}
    variables = main["variables"]
    appsettings = module(templates, "functionApp")["params"]["appSettings"]
    assert not checks.EVENTGRID_OUTPUT_SETTINGS & checks._definite_setting_keys(appsettings, variables)
    assert checks.deployed_settings(templates) >= checks.EVENTGRID_OUTPUT_SETTINGS
    for output in ("AMLEXEC_EVENTGRID_TOPIC_ENDPOINT", "AMLEXEC_EVENTGRID_SUBSCRIPTION", "EVENTGRID_TOPIC_ID"):
        value = main["outputs"][output]["value"]["operator"]
        assert (value["type"], value["operands"]["condition"], value["operands"]["false_value"]) == (
            "conditional",
            "enableEventGridOutput",
            "",
        )


def test_event_grid_output_topic_subscription_and_settings(templates: dict[str, checks.Template]) -> None:
    topic = resource(templates, "app/eventgrid-output.bicep", "topic")
    assert topic["properties"] == {
        "inputSchema": "EventGridSchema",  # Data Factory custom event triggers read no other schema
        "disableLocalAuth": True,  # no keys, no SAS: Entra only
        "minimumTlsVersionAllowed": "1.2",
        "publicNetworkAccess": resource(templates, "app/servicebus.bicep", "namespace")["properties"][
            "publicNetworkAccess"
        ],  # as the rest of the template
    }
    main = templates["main.bicep"].tree
    assert main is not None
    assert main["variables"]["eventGridForwarderSubscription"]["value"] == "eventgrid-forwarder"
    true_value = main["variables"]["eventGridOutputSettings"]["value"]["operator"]["operands"]["true_value"]
    assert true_value == {
        "AMLEXEC_EVENTGRID_TOPIC_ENDPOINT": checks.accessor("eventGridOutput", checks.accessor("outputs", "endpoint")),
        "AMLEXEC_EVENTGRID_SUBSCRIPTION": "eventGridForwarderSubscription",
    }
    for symbol in ("serviceBus", "rbac"):
        params = module(templates, symbol)["params"]
        assert params["enableEventGridOutput"] == "enableEventGridOutput"
        assert params["eventGridForwarderSubscription"] == "eventGridForwarderSubscription"
    forwarder = resource(templates, "app/servicebus.bicep", "eventGridForwarder")
    assert (forwarder["parent"], forwarder["name"]) == ("eventsTopic", "eventGridForwarderSubscription")
    assert forwarder["properties"]["maxDeliveryCount"] >= 5
    assert forwarder["properties"]["deadLetteringOnMessageExpiration"] is True
    bus = templates["app/servicebus.bicep"].tree
    assert bus is not None
    # No rule of its own: the default true filter, so the forwarder alone decides what it publishes.
    assert not [r for r in bus["resources"].values() if checks.body(r).get("parent") == "eventGridForwarder"]
    receiver = resource(templates, "rbac.bicep", "eventGridForwarderReceiver")
    assert receiver["scope"] == "eventGridForwarder"
    assert receiver["properties"]["principalId"] == "appPrincipalId"
    rbac = templates["rbac.bicep"].tree
    assert rbac is not None
    existing = rbac["resources"]["eventGridForwarder"]
    assert existing["existing"] is True
    assert (checks.body(existing)["parent"], checks.body(existing)["name"]) == (
        "eventsTopic",
        "eventGridForwarderSubscription",
    )


def test_the_forwarder_binding_reads_the_provisioned_subscription(
    templates: dict[str, checks.Template], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the Event Grid output on, the app's forwarder reads the subscription infra/ creates and names."""
    import importlib

    import function_app
    from amlexec import triggers

    monkeypatch.setenv("AMLEXEC_EVENTGRID_TOPIC_ENDPOINT", "https://evgt.westeurope-1.eventgrid.azure.net/api/events")
    monkeypatch.setenv("AMLEXEC_EVENTGRID_SUBSCRIPTION", "eventgrid-forwarder")
    try:
        importlib.reload(triggers)
        importlib.reload(function_app)
        functions = indexed_functions()
    finally:
        monkeypatch.delenv("AMLEXEC_EVENTGRID_TOPIC_ENDPOINT")
        monkeypatch.delenv("AMLEXEC_EVENTGRID_SUBSCRIPTION")
        importlib.reload(triggers)
        importlib.reload(function_app)
    bindings = [
        binding
        for function in functions.values()
        for binding in function["bindings"]
        if binding.get("subscriptionName") == "%AMLEXEC_EVENTGRID_SUBSCRIPTION%"
    ]
    assert len(bindings) == 1, "no function reads %AMLEXEC_EVENTGRID_SUBSCRIPTION% (amlexec.triggers)"
    (binding,) = bindings
    assert binding["type"] == "serviceBusTrigger" and binding["connection"] == "ServiceBusConnection"
    assert binding["topicName"] == "%AMLEXEC_EVENTS_TOPIC%"
    assert {"AMLEXEC_EVENTS_TOPIC", "AMLEXEC_EVENTGRID_SUBSCRIPTION"} <= checks.deployed_settings(templates)


def _substitute(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(item, values) for item in node]
    return values.get(node, node) if isinstance(node, str) else node


def test_default_linked_services_describe_the_workspace_with_the_managed_identity(
    templates: dict[str, checks.Template],
) -> None:
    tree = templates["main.bicep"].tree
    assert tree is not None
    default = tree["variables"]["defaultLinkedServices"]["value"]
    text = json.dumps(
        _substitute(
            default,
            {
                "workspaceSubscriptionId": "00000000-0000-0000-0000-000000000001",
                "workspaceResourceGroup": "rg-ml",
                "workspaceName": "mlw",
            },
        )
    )
    registry = LinkedServiceRegistry.from_json(text, env={"AZURE_CLIENT_ID": "11111111-0000-0000-0000-000000000000"})
    default_service = tree["parameters"]["defaultLinkedService"]["default"]
    service = registry.get(default_service)
    assert service is not None
    assert json.loads(text)[0]["properties"]["typeProperties"]["authentication"] == "MSI"
    assert "workspaceSubscriptionId" not in text and "mlw" in text


def test_roles_the_app_gets(templates: dict[str, checks.Template]) -> None:
    rbac = templates["rbac.bicep"].tree
    assert rbac is not None
    roles = {name: value["value"] for name, value in rbac["variables"].items() if isinstance(value["value"], str)}
    assert roles["serviceBusDataReceiver"] == "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
    assert roles["serviceBusDataSender"] == "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
    assert roles["serviceBusDataOwner"] == checks.SERVICE_BUS_DATA_OWNER == "090c5cfd-751d-490a-894a-3ce6f1109419"
    assert roles["storageBlobDataOwner"] == "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
    assert roles["monitoringMetricsPublisher"] == "3913510d-42f4-4e42-8a64-420c390055eb"
    assignments = {
        symbol: checks.body(r)
        for symbol, r in rbac["resources"].items()
        if r["type"] == "Microsoft.Authorization/roleAssignments"
    }
    granted = {
        (a["scope"], a["name"]["function"]["parameters"]["extra_string_2"])
        for a in assignments.values()
        if a["properties"]["principalId"] == "appPrincipalId"
    }
    assert granted == {
        ("requestQueue", "serviceBusDataReceiver"),
        ("statusQueue", "serviceBusDataReceiver"),
        ("requestQueue", "serviceBusDataSender"),
        ("statusQueue", "serviceBusDataSender"),
        ("rejectedQueue", "serviceBusDataSender"),
        ("eventsTopic", "serviceBusDataSender"),
        ("eventGridForwarder", "serviceBusDataReceiver"),  # with enableEventGridOutput: its own subscription only
        ("requestQueue", "serviceBusDataOwner"),  # target-based scaling, on unless grantDataOwnerForScaling is off
        ("statusQueue", "serviceBusDataOwner"),
        ("eventGridForwarder", "serviceBusDataOwner"),  # the same, for the forwarder's trigger
        ("storage", "storageBlobDataOwner"),
        ("storage", "storageTableDataContributor"),  # the request index
        ("applicationInsights", "monitoringMetricsPublisher"),
    }
    assert roles["storageTableDataContributor"] == "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
    vault = templates["core/keyvault.bicep"].tree
    assert vault is not None
    assert vault["variables"]["keyVaultSecretsUser"]["value"] == "4633458b-17de-408a-b874-0445c86b69e6"  # built-in
    reader = checks.body(vault["resources"]["secretsUser"])
    # The app reads the one secret it needs, not the vault.
    assert (reader["scope"], reader["properties"]["principalId"]) == ("statusUrlKeySecret", "appPrincipalId")
    output = templates["app/eventgrid-output.bicep"].tree
    assert output is not None
    assert output["variables"]["eventGridDataSender"]["value"] == "d5a91429-5739-47e2-a06b-3470a27159e7"  # built-in
    sender = checks.body(output["resources"]["senderRole"])
    assert (sender["scope"], sender["properties"]["principalId"]) == ("topic", "appPrincipalId")
    workspace = templates["rbac-workspace.bicep"].tree
    assert workspace is not None
    assert workspace["parameters"]["roleDefinitionId"]["default"] == "f6c7c914-8db3-469d-8ca1-694a8f32e121"
    main = templates["main.bicep"].tree
    assert main is not None
    assert main["parameters"]["mlRoleDefinitionId"]["default"] == "f6c7c914-8db3-469d-8ca1-694a8f32e121"


def test_flex_consumption_python_311(templates: dict[str, checks.Template]) -> None:
    plan = resource(templates, "app/function.bicep", "plan")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = resource(templates, "app/function.bicep", "site")
    assert site["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "pythonVersion"}
    tree = templates["app/function.bicep"].tree
    assert tree is not None
    assert tree["parameters"]["pythonVersion"]["default"] == "3.11"
    assert site["identity"]["type"] == "UserAssigned"
    assert (
        site["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]["type"]
        == "UserAssignedIdentity"
    )


def test_azd_project_and_parameters_file_match_main_bicep(templates: dict[str, checks.Template]) -> None:
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azure["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert azure["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    function = templates["app/function.bicep"].tree
    assert function is not None
    assert function["parameters"]["serviceName"]["default"] == "api"  # the azd-service-name tag
    main = templates["main.bicep"].tree
    assert main is not None
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = main["parameters"]
    assert set(params) <= set(declared)
    generated = {name for name, p in declared.items() if _azd_generates(p)}
    assert generated == {"statusUrlKey"}, "azd generates the status URL key once and keeps it in the environment"
    assert not generated & set(params), "a value in main.parameters.json would replace the generated one"
    assert {name for name, p in declared.items() if p["default"] is None} - generated <= set(params)
    assert params["workspaceId"]["value"] == "${AMLEXEC_WORKSPACE_ID}"


def _azd_generates(param: dict[str, Any]) -> bool:
    for decorator in param.get("decorators") or []:
        if decorator.get("type") == "metadata":
            azd = (decorator.get("argument") or {}).get("azd") or {}
            return bool(azd.get("type") == "generate" and (azd.get("config") or {}).get("length", 0) >= 32)
    return False


def _holds(condition: Any, values: dict[str, bool]) -> bool:
    """Whether a deployment condition (a bool parameter, or ``a && b``) holds for these parameter values."""
    if condition is None:
        return True
    if isinstance(condition, str):
        return values[condition]
    operator = condition["operator"]
    assert operator["type"] == "and", f"unexpected condition {condition}"
    return all(_holds(operand, values) for operand in operator["operands"].values())


@pytest.mark.parametrize("event_grid_output", [False, True])
def test_scaling_owner_is_granted_by_default_on_each_trigger_entity_and_the_opt_out_removes_it(
    templates: dict[str, checks.Template], event_grid_output: bool
) -> None:
    """Target-based scaling needs the Manage claim (Data Owner) on every entity a trigger reads; nothing wider."""
    main = templates["main.bicep"].tree
    assert main is not None
    assert main["parameters"][checks.SCALING_FLAG]["default"] is True
    params = checks.parameters_file(INFRA)
    assert params[checks.SCALING_FLAG]["value"] == "${AMLEXEC_GRANT_DATA_OWNER_FOR_SCALING=true}"
    assert module(templates, "rbac")["params"][checks.SCALING_FLAG] == checks.SCALING_FLAG
    roles = checks.app_service_bus_roles(templates["rbac.bicep"])

    def granted(scaling: bool, role: str) -> set[str]:
        values = {checks.SCALING_FLAG: scaling, checks.EVENTGRID_OUTPUT_FLAG: event_grid_output}
        return {scope for _, guid, scope, condition in roles if guid == role and _holds(condition, values)}

    # The entities the triggers read: the two queues (their bindings name exactly these settings), and the
    # forwarder's subscription when the Event Grid output is on.
    queues = {
        binding["queueName"].strip("%")
        for function in indexed_functions().values()
        for binding in function["bindings"]
        if binding["type"] == "serviceBusTrigger" and "queueName" in binding
    }
    assert queues == {checks.ENTITY_SETTINGS["requestQueue"], checks.ENTITY_SETTINGS["statusQueue"]}
    triggers = {"requestQueue", "statusQueue"} | ({"eventGridForwarder"} if event_grid_output else set())
    assert granted(True, checks.SERVICE_BUS_DATA_OWNER) == triggers  # the default
    assert granted(True, checks.SERVICE_BUS_DATA_RECEIVER) == triggers
    assert granted(False, checks.SERVICE_BUS_DATA_OWNER) == set()  # the opt-out
    assert granted(False, checks.SERVICE_BUS_DATA_RECEIVER) == triggers  # the triggers still read


def test_location_allows_the_flex_consumption_regions_and_keeps_azds_prompt(
    templates: dict[str, checks.Template],
) -> None:
    main = templates["main.bicep"].tree
    assert main is not None
    location = main["parameters"]["location"]
    decorators = {decorator["type"]: decorator["argument"] for decorator in location["decorators"]}
    assert decorators["allowed"] == sorted(checks.FLEX_CONSUMPTION_REGIONS)  # each once, in order
    assert {"westindia", "polandcentral", "chinanorth3"}.isdisjoint(decorators["allowed"])
    assert decorators["metadata"] == {"azd": {"type": "location"}}
    assert checks.parameters_file(INFRA)["location"]["value"] == "${AZURE_LOCATION}"


def test_maximum_instance_count_is_bounded_as_flex_consumption_documents(
    templates: dict[str, checks.Template],
) -> None:
    low, high = checks.FLEX_MAXIMUM_INSTANCES
    assert (low, high) == (40, 1000)
    for rel in ("main.bicep", "app/function.bicep"):
        tree = templates[rel].tree
        assert tree is not None
        parameter = tree["parameters"]["maximumInstanceCount"]
        decorators = {decorator["type"]: decorator["argument"] for decorator in parameter["decorators"]}
        assert (decorators["min_value"], decorators["max_value"]) == (low, high), rel
        assert low <= parameter["default"] <= high
    assert module(templates, "functionApp")["params"]["maximumInstanceCount"] == "maximumInstanceCount"


def test_the_postdeploy_hook_is_wired_for_both_shells(templates: dict[str, checks.Template]) -> None:
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    hook = azure["hooks"]["postdeploy"]
    assert set(hook) == {"posix", "windows"}
    for platform, (shell, script) in checks.HOOK_SCRIPTS.items():
        assert hook[platform] == {"shell": shell, "run": f"./{script}", "interactive": True, "continueOnError": False}
        text = (ROOT / script).read_text()
        assert checks.event_grid_function(templates) == "run_events"
        assert "run_events" in text and "azd provision --no-prompt" in text
        assert "azd env set AMLEXEC_ENABLE_EVENT_GRID true" in text
        assert "azd env set AMLEXEC_ENABLE_EVENT_GRID false" in text  # put back when the provision fails
    posix = ROOT / checks.HOOK_SCRIPTS["posix"][1]
    if shutil.which("sh") is None:
        pytest.skip("no sh on this machine")
    assert subprocess.run(["sh", "-n", str(posix)], capture_output=True, check=False).returncode == 0


# Stand-ins for the two CLIs the POSIX hook calls: each logs its arguments (azd: with AMLEXEC_ENABLE_EVENT_GRID as it
# sees it), `az functionapp function show` finds run_events unless AZ_FUNCTION_MISSING is set.
STUB_AZ = """#!/bin/sh
printf 'az %s\\n' "$*" >> "$HOOK_LOG"
case "$1 $2" in
  "account show") exit "${AZ_SIGNED_OUT:-0}" ;;
  "functionapp function") [ -z "${AZ_FUNCTION_MISSING:-}" ] || exit 3; echo func/run_events ;;
esac
"""
STUB_AZD = """#!/bin/sh
printf 'azd %s [%s]\\n' "$*" "${AMLEXEC_ENABLE_EVENT_GRID:-}" >> "$HOOK_LOG"
[ "$1" != provision ] || exit "${AZD_PROVISION_EXIT:-0}"
"""
# What azd injects into the hook after a provision.
AZD_ENVIRONMENT = {
    "AZURE_ENV_NAME": "dev",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
    "AZURE_RESOURCE_GROUP": "rg-dev",
    "AZURE_FUNCTION_NAME": "func-amlexec-x",
}
FUNCTION_SHOW = (
    "az functionapp function show --subscription 00000000-0000-0000-0000-000000000001 --resource-group rg-dev "
    "--name func-amlexec-x --function-name run_events --query name --output tsv"
)
TURN_ON = [
    "az account show --output none",
    FUNCTION_SHOW,
    "azd env set AMLEXEC_ENABLE_EVENT_GRID true --environment dev []",
    "azd provision --no-prompt --environment dev [true]",
]
HOOK_RUNS = {
    "first deployment: turn Event Grid on": (AZD_ENVIRONMENT, 0, TURN_ON),
    "explicitly off until now": (
        {**AZD_ENVIRONMENT, "AMLEXEC_ENABLE_EVENT_GRID": "false"},
        0,
        [
            *TURN_ON[:2],
            "azd env set AMLEXEC_ENABLE_EVENT_GRID true --environment dev [false]",
            TURN_ON[3],
        ],
    ),
    "already on: nothing to do": ({**AZD_ENVIRONMENT, "AMLEXEC_ENABLE_EVENT_GRID": "True"}, 0, []),
    "skipped": ({**AZD_ENVIRONMENT, "AMLEXEC_SKIP_EVENT_GRID_HOOK": "true"}, 0, []),
    "outside azd": ({}, 1, []),
    "az signed out": ({**AZD_ENVIRONMENT, "AZ_SIGNED_OUT": "1"}, 1, ["az account show --output none"]),
    "function never listed": (
        {**AZD_ENVIRONMENT, "AZ_FUNCTION_MISSING": "1", "AMLEXEC_EVENT_GRID_HOOK_WAIT_SECONDS": "0"},
        1,
        TURN_ON[:2],
    ),
    "provision fails: the value goes back": (
        {**AZD_ENVIRONMENT, "AZD_PROVISION_EXIT": "1"},
        1,
        [*TURN_ON, "azd env set AMLEXEC_ENABLE_EVENT_GRID false --environment dev [true]"],
    ),
}


@pytest.mark.parametrize("name", sorted(HOOK_RUNS))
def test_the_posix_hook_turns_event_grid_on_once_and_only_when_the_function_exists(name: str, tmp_path: Path) -> None:
    if shutil.which("sh") is None:
        pytest.skip("no sh on this machine")
    environment, exit_code, calls = HOOK_RUNS[name]
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool, text in (("az", STUB_AZ), ("azd", STUB_AZD)):
        (bin_dir / tool).write_text(text)
        (bin_dir / tool).chmod(0o755)
    result = subprocess.run(
        ["sh", str(ROOT / checks.HOOK_SCRIPTS["posix"][1])],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOOK_LOG": str(log), **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert (log.read_text().splitlines() if log.exists() else []) == calls
    if exit_code:
        assert "postdeploy: " in result.stderr  # every failure says what to do next


# -------------------------------------------------------------------------------- the checks bite: broken copies


@pytest.fixture
def broken_copy(tmp_path: Path) -> Path:
    """A copy of infra/ beside a copy of azure.yaml (whose hook scripts live in infra/hooks)."""
    target = tmp_path / "infra"
    shutil.copytree(INFRA, target)
    shutil.copy(ROOT / "azure.yaml", tmp_path / "azure.yaml")
    return target


def edit(infra: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    path = infra / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, count))


# The whole region list of main.bicep's location, as written there (sorted, one a line).
ALLOWED_REGIONS = (
    "@allowed([\n" + "".join(f"  '{region}'\n" for region in sorted(checks.FLEX_CONSUMPTION_REGIONS)) + "])\n"
)

BREAKS = {
    "module parameter removed": (
        "main.bicep",
        "    deploymentContainerName: deploymentContainerName\n",
        "",
        "module storage (core/storage.bicep) misses required parameter 'deploymentContainerName'",
    ),
    "unknown module parameter": (
        "main.bicep",
        "maximumInstanceCount: maximumInstanceCount",
        "maxInstances: maximumInstanceCount",
        "passes unknown parameter 'maxInstances'",
    ),
    "module path": (
        "main.bicep",
        "'core/identity.bicep'",
        "'core/identities.bicep'",
        "points at 'core/identities.bicep', which does not exist",
    ),
    "API version removed": (
        "app/function.bicep",
        "'Microsoft.Web/sites@2024-04-01' =",
        "'Microsoft.Web/sites' =",
        "resource site 'Microsoft.Web/sites' has no pinned API version",
    ),
    "API version not a date": (
        "core/identity.bicep",
        "userAssignedIdentities@2023-01-31'",
        "userAssignedIdentities@latest'",
        "has no pinned API version",
    ),
    "app setting renamed": (
        "main.bicep",
        "AMLEXEC_REQUEST_QUEUE: entityNames",
        "AMLEXEC_REQUESTS_QUEUE: entityNames",
        "app setting 'AMLEXEC_REQUESTS_QUEUE' is set by infra/ but amlexec does not read it",
    ),
    "host identity setting dropped": (
        "app/function.bicep",
        "  AZURE_CLIENT_ID: identityClientId\n",
        "",
        "app setting 'AZURE_CLIENT_ID' is not provisioned by infra/",
    ),
    "entity name written twice": (
        "main.bicep",
        "AMLEXEC_STATUS_QUEUE: entityNames.statusQueue",
        "AMLEXEC_STATUS_QUEUE: 'amlexec-status'",
        "app setting AMLEXEC_STATUS_QUEUE must be entityNames.statusQueue",
    ),
    "listKeys": (
        "core/storage.bicep",
        "output name string = storage.name",
        "output name string = storage.name\noutput key string = storage.listKeys().keys[0].value",
        "core/storage.bicep:78: calls a list*() function (keys or secrets) ('listKeys(')",
    ),
    "connection string with a key": (
        "app/function.bicep",
        "  AZURE_CLIENT_ID: identityClientId\n",
        "  AZURE_CLIENT_ID: identityClientId\n  SB: 'Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b'\n",
        "carries a shared access key",
    ),
    "syntax error": (
        "rbac.bicep",
        "param appPrincipalId string\n",
        "param appPrincipalId string =\n",
        "rbac.bicep: syntax error (UnexpectedToken",
    ),
    "Service Bus local auth": (
        "app/servicebus.bicep",
        "disableLocalAuth: true",
        "disableLocalAuth: false",
        "namespace must set properties.disableLocalAuth: true (found False)",
    ),
    "App Insights local auth": (
        "core/monitoring.bicep",
        "    DisableLocalAuth: true\n",
        "",
        "applicationInsights must set properties.DisableLocalAuth: true (found None)",
    ),
    "storage shared keys": (
        "core/storage.bicep",
        "allowSharedKeyAccess: false",
        "allowSharedKeyAccess: true",
        "storage must set properties.allowSharedKeyAccess: false (found True)",
    ),
    "role assignment scope": (
        "rbac.bicep",
        "name: guid(requestQueue.id, appPrincipalId, serviceBusDataReceiver)",
        "name: guid(statusQueue.id, appPrincipalId, serviceBusDataReceiver)",
        "role assignment requestQueueReceiver: the first guid() argument is not the id of its scope",
    ),
    "role assignment principal": (
        "rbac-workspace.bicep",
        "name: guid(workspace.id, appPrincipalId, roleDefinitionId)",
        "name: guid(workspace.id, developerPrincipalId, roleDefinitionId)",
        "role assignment appWorkspaceRole: the second guid() argument is not its principalId",
    ),
    "Event Grid output on by default": (
        "main.bicep",
        "param enableEventGridOutput bool = false",
        "param enableEventGridOutput bool = true",
        "main.bicep: param enableEventGridOutput must be a bool that defaults to false",
    ),
    "Event Grid topic deployed unconditionally": (
        "main.bicep",
        "module eventGridOutput 'app/eventgrid-output.bicep' = if (enableEventGridOutput) {",
        "module eventGridOutput 'app/eventgrid-output.bicep' = {",
        "module eventGridOutput (app/eventgrid-output.bicep) must be deployed only if (enableEventGridOutput)",
    ),
    "Event Grid topic keys": (
        "app/eventgrid-output.bicep",
        "disableLocalAuth: true",
        "disableLocalAuth: false",
        "topic must set properties.disableLocalAuth: true (found False)",
    ),
    "Event Grid topic in CloudEvents": (
        "app/eventgrid-output.bicep",
        "inputSchema: 'EventGridSchema'",
        "inputSchema: 'CloudEventSchemaV1_0'",
        "Event Grid topic topic must take properties.inputSchema: 'EventGridSchema'",
    ),
    "Event Grid settings unconditional": (
        "main.bicep",
        "    }, schedulesSetting, triggersSetting, eventGridOutputSettings, eventGridTrackingSettings)",
        "      AMLEXEC_EVENTGRID_SUBSCRIPTION: eventGridForwarderSubscription\n"
        "    }, schedulesSetting, triggersSetting, eventGridOutputSettings, eventGridTrackingSettings)",
        "app setting AMLEXEC_EVENTGRID_SUBSCRIPTION must be set only if (enableEventGridOutput)",
    ),
    "Event Grid tracking without its notifications": (
        "main.bicep",
        "var eventGridTrackingSettings = enableEventGrid ? {\n  AMLEXEC_EVENTGRID_TRACKING: 'true'\n} : {}",
        "var eventGridTrackingSettings = {\n  AMLEXEC_EVENTGRID_TRACKING: 'true'\n}",
        "app setting AMLEXEC_EVENTGRID_TRACKING must be set only if (enableEventGrid)",
    ),
    "Event Grid tracking never set": (
        "main.bicep",
        "eventGridOutputSettings, eventGridTrackingSettings)",
        "eventGridOutputSettings)",
        "app setting AMLEXEC_EVENTGRID_TRACKING is never set",
    ),
    "forwarder subscription name written twice": (
        "main.bicep",
        "  AMLEXEC_EVENTGRID_SUBSCRIPTION: eventGridForwarderSubscription\n",
        "  AMLEXEC_EVENTGRID_SUBSCRIPTION: 'eventgrid-forwarder'\n",
        "app setting AMLEXEC_EVENTGRID_SUBSCRIPTION must be eventGridForwarderSubscription",
    ),
    "forwarder subscription created unconditionally": (
        "app/servicebus.bicep",
        "subscriptions@2024-01-01' = if (enableEventGridOutput) {",
        "subscriptions@2024-01-01' = {",
        "app/servicebus.bicep: resource eventGridForwarder must be deployed only if (enableEventGridOutput)",
    ),
    "forwarder receiver granted unconditionally": (
        "rbac.bicep",
        "roleAssignments@2022-04-01' = if (enableEventGridOutput) {\n  name: guid(eventGridForwarder.id",
        "roleAssignments@2022-04-01' = {\n  name: guid(eventGridForwarder.id",
        "rbac.bicep: resource eventGridForwarderReceiver must be deployed only if (enableEventGridOutput)",
    ),
    "flag not passed to a module": (
        "main.bicep",
        "    entityNames: entityNames\n    enableEventGridOutput: enableEventGridOutput\n",
        "    entityNames: entityNames\n",
        "main.bicep: module serviceBus must receive enableEventGridOutput: enableEventGridOutput",
    ),
    "Event Grid sender role on another scope": (
        "app/eventgrid-output.bicep",
        "name: guid(topic.id, appPrincipalId, eventGridDataSender)",
        "name: guid(resourceGroup().id, appPrincipalId, eventGridDataSender)",
        "role assignment senderRole: the first guid() argument is not the id of its scope",
    ),
    "role assignment not a guid": (
        "rbac.bicep",
        "name: guid(storage.id, appPrincipalId, storageBlobDataOwner)",
        "name: 'blob-owner'",
        "role assignment storageBlobOwner is not named guid(scope, principal, role)",
    ),
    "scaling owner off by default": (
        "main.bicep",
        "param grantDataOwnerForScaling bool = true",
        "param grantDataOwnerForScaling bool = false",
        "main.bicep: param grantDataOwnerForScaling must be a bool that defaults to true",
    ),
    "scaling owner off in the parameters file": (
        "main.parameters.json",
        "${AMLEXEC_GRANT_DATA_OWNER_FOR_SCALING=true}",
        "${AMLEXEC_GRANT_DATA_OWNER_FOR_SCALING=false}",
        "main.parameters.json: grantDataOwnerForScaling must be ${AMLEXEC_GRANT_DATA_OWNER_FOR_SCALING=true}",
    ),
    "scaling flag not passed to rbac.bicep": (
        "main.bicep",
        "    grantDataOwnerForScaling: grantDataOwnerForScaling\n",
        "",
        "main.bicep: module rbac must receive grantDataOwnerForScaling: grantDataOwnerForScaling",
    ),
    "scaling owner off in rbac.bicep": (
        "rbac.bicep",
        "param grantDataOwnerForScaling bool = true",
        "param grantDataOwnerForScaling bool = false",
        "rbac.bicep: param grantDataOwnerForScaling must default to true",
    ),
    "no scaling owner on the forwarder's subscription": (
        "rbac.bicep",
        "name: guid(eventGridForwarder.id, appPrincipalId, serviceBusDataOwner)\n  scope: eventGridForwarder\n"
        "  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "serviceBusDataOwner)",
        "name: guid(eventGridForwarder.id, appPrincipalId, serviceBusDataSender)\n  scope: eventGridForwarder\n"
        "  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "serviceBusDataSender)",
        "rbac.bicep: the app reads eventGridForwarder (Azure Service Bus Data Receiver) but gets no Azure Service Bus "
        "Data Owner on it",
    ),
    "scaling owner on the namespace": (
        "rbac.bicep",
        "name: guid(requestQueue.id, appPrincipalId, serviceBusDataOwner)\n  scope: requestQueue\n",
        "name: guid(namespace.id, appPrincipalId, serviceBusDataOwner)\n  scope: namespace\n",
        "rbac.bicep: role assignment requestQueueOwner grants the app Azure Service Bus Data Owner on 'namespace', "
        "which no trigger reads",
    ),
    "scaling owner that cannot be turned off": (
        "rbac.bicep",
        "resource statusQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = "
        "if (grantDataOwnerForScaling) {",
        "resource statusQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
        "rbac.bicep: role assignment statusQueueOwner (Data Owner on statusQueue) must be deployed only if "
        "(grantDataOwnerForScaling)",
    ),
    "forwarder owner without the Event Grid output": (
        "rbac.bicep",
        "= if (enableEventGridOutput && grantDataOwnerForScaling) {",
        "= if (grantDataOwnerForScaling) {",
        "rbac.bicep: resource eventGridForwarderOwner must be deployed only if (enableEventGridOutput)",
    ),
    "forwarder owner named for the topic": (
        "rbac.bicep",
        "name: guid(eventGridForwarder.id, appPrincipalId, serviceBusDataOwner)",
        "name: guid(eventsTopic.id, appPrincipalId, serviceBusDataOwner)",
        "role assignment eventGridForwarderOwner: the first guid() argument is not the id of its scope",
    ),
    "location open to every region": (
        "main.bicep",
        ALLOWED_REGIONS,
        "",
        "main.bicep: param location must be @allowed([...]) the Flex Consumption regions",
    ),
    "location allows a region without Flex Consumption": (
        "main.bicep",
        "  'westus3'\n])",
        "  'westus3'\n  'westindia'\n])",
        "main.bicep: param location allows 'westindia', which is not a Flex Consumption region",
    ),
    "location drops a Flex Consumption region": (
        "main.bicep",
        "  'swedencentral'\n",
        "",
        "main.bicep: param location does not allow the Flex Consumption region 'swedencentral'",
    ),
    "location without azd's region prompt": (
        "main.bicep",
        "    type: 'location'\n",
        "    type: 'string'\n",
        "main.bicep: param location must keep @metadata azd type 'location'",
    ),
    "instance count below Flex Consumption's minimum": (
        "main.bicep",
        "@minValue(40)\n@maxValue(1000)\n@description('Flex Consumption: the most",
        "@minValue(1)\n@maxValue(1000)\n@description('Flex Consumption: the most",
        "main.bicep: param maximumInstanceCount must be @minValue(40) @maxValue(1000), Flex Consumption's bounds "
        "(found 1, 1000)",
    ),
    "instance count unbounded in the function module": (
        "app/function.bicep",
        "@minValue(40)\n@maxValue(1000)\nparam maximumInstanceCount",
        "param maximumInstanceCount",
        "app/function.bicep: param maximumInstanceCount must be @minValue(40) @maxValue(1000), Flex Consumption's "
        "bounds (found None, None)",
    ),
    "site ignores the instance count": (
        "app/function.bicep",
        "maximumInstanceCount: maximumInstanceCount",
        "maximumInstanceCount: 100",
        "app/function.bicep: site.functionAppConfig.scaleAndConcurrency.maximumInstanceCount must be param "
        "maximumInstanceCount",
    ),
    "Event Grid on before the function exists": (
        "main.parameters.json",
        "${AMLEXEC_ENABLE_EVENT_GRID=false}",
        "${AMLEXEC_ENABLE_EVENT_GRID=true}",
        "main.parameters.json: enableEventGrid must be ${AMLEXEC_ENABLE_EVENT_GRID=false}",
    ),
    "no postdeploy hook on Windows": (
        "../azure.yaml",
        "    windows:\n      shell: pwsh\n      run: ./infra/hooks/postdeploy.ps1\n",
        "",
        "azure.yaml: hooks.postdeploy.windows is missing (shell: pwsh, run: ./infra/hooks/postdeploy.ps1)",
    ),
    "Windows hook in the POSIX shell": (
        "../azure.yaml",
        "shell: pwsh",
        "shell: sh",
        "azure.yaml: hooks.postdeploy.windows must use shell: pwsh (found 'sh')",
    ),
    "hook script missing": (
        "../azure.yaml",
        "run: ./infra/hooks/postdeploy.sh",
        "run: ./infra/hooks/post-deploy.sh",
        "azure.yaml: hooks.postdeploy.posix runs './infra/hooks/post-deploy.sh', which does not exist",
    ),
    "hook failure ignored": (
        "../azure.yaml",
        "continueOnError: false",
        "continueOnError: true",
        "azure.yaml: hooks.postdeploy.posix must not continueOnError",
    ),
    "POSIX hook does not parse": (
        "hooks/postdeploy.sh",
        "while :; do",
        "while :; then",
        "infra/hooks/postdeploy.sh: sh -n fails",
    ),
}

# Breaks that replace every occurrence (a script names these in comments and messages too).
BREAKS_EVERYWHERE = {
    "POSIX hook cannot be skipped": (
        "hooks/postdeploy.sh",
        "AMLEXEC_SKIP_EVENT_GRID_HOOK",
        "AMLEXEC_NO_HOOK",
        "infra/hooks/postdeploy.sh: never mentions 'AMLEXEC_SKIP_EVENT_GRID_HOOK'",
    ),
    "Windows hook never provisions": (
        "hooks/postdeploy.ps1",
        "azd provision",
        "azd deploy",
        "infra/hooks/postdeploy.ps1: never mentions 'azd provision'",
    ),
    "Windows hook never turns Event Grid on": (
        "hooks/postdeploy.ps1",
        "azd env set AMLEXEC_ENABLE_EVENT_GRID true",
        "azd env get-value AMLEXEC_ENABLE_EVENT_GRID",
        "infra/hooks/postdeploy.ps1: never mentions 'azd env set AMLEXEC_ENABLE_EVENT_GRID true'",
    ),
    "Windows hook waits for another function": (
        "hooks/postdeploy.ps1",
        "run_events",
        "run_event",
        "infra/hooks/postdeploy.ps1: waits for no function named run_events",
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_broken_copy_is_reported(name: str, broken_copy: Path) -> None:
    assert checks.check_all(broken_copy) == []  # the copy itself is clean
    rel, old, new, expected = BREAKS[name]
    edit(broken_copy, rel, old, new)
    problems = checks.check_all(broken_copy)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("name", sorted(BREAKS_EVERYWHERE))
def test_a_broken_hook_script_is_reported(name: str, broken_copy: Path) -> None:
    assert checks.check_all(broken_copy) == []
    rel, old, new, expected = BREAKS_EVERYWHERE[name]
    edit(broken_copy, rel, old, new, count=-1)
    problems = checks.check_all(broken_copy)
    assert any(expected in problem for problem in problems), problems


def test_a_setting_amlexec_starts_reading_must_be_provisioned_or_documented() -> None:
    problems = checks.check_all(INFRA, setting_names=(*SETTING_NAMES, "AMLEXEC_NEW_KNOB"))
    assert problems == [
        "setting 'AMLEXEC_NEW_KNOB' is neither provisioned by infra/ nor documented as user-supplied in deploy.md"
    ]


def test_a_user_supplied_setting_dropped_from_the_docs_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "deploy.md"
    doc.write_text(checks.DEPLOY_DOC.read_text().replace("`AMLEXEC_SP_SECRET__", "`SP_SECRET"))
    problems = checks.check_all(INFRA, deploy_doc=doc)
    assert problems == [
        "setting 'AMLEXEC_SP_SECRET__' is neither provisioned by infra/ nor documented as user-supplied in deploy.md"
    ]


def test_the_local_sample_must_list_the_provisioned_settings(tmp_path: Path) -> None:
    sample = json.loads(checks.LOCAL_SAMPLE.read_text())
    del sample["Values"]["AMLEXEC_EVENTS_TOPIC"]
    sample["Values"]["AMLEXEC_STALE"] = ""
    path = tmp_path / "local.settings.sample.json"
    path.write_text(json.dumps(sample))
    assert checks.check_all(INFRA, local_sample=path) == [
        "app setting 'AMLEXEC_EVENTS_TOPIC' is provisioned but missing from local.settings.sample.json",
        "local.settings.sample.json lists 'AMLEXEC_STALE', which amlexec does not read",
    ]


def test_trigger_events_reach_the_request_queue_as_the_topics_identity_only_when_asked(
    templates: dict[str, checks.Template],
) -> None:
    events = templates["app/trigger-events.bicep"].tree
    assert events is not None
    delivery = events["variables"]["delivery"]["value"]
    # No key, SAS or function URL: Event Grid delivers to the queue as the source topic's identity.
    assert delivery["deliveryWithResourceIdentity"] == {
        "identity": {"type": "SystemAssigned"},
        "destination": {"endpointType": "ServiceBusQueue", "properties": {"resourceId": "requestQueueId"}},
    }
    for symbol in ("storageSubscription", "topicSubscription"):
        assert checks.body(events["resources"][symbol])["properties"] == "delivery"
    role = templates["app/trigger-events-role.bicep"].tree
    assert role is not None
    sender = checks.body(role["resources"]["eventGridSender"])
    assert (sender["scope"], sender["properties"]["principalId"]) == ("requestQueue", "deliveryPrincipalId")
    assert role["variables"]["serviceBusDataSender"]["value"] == "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
    main = templates["main.bicep"].tree
    assert main is not None
    for module in ("triggerEvents", "triggerEventsRole"):
        condition = main["modules"][module]["config"]["condition"]
        assert "triggerEventSourceId" in json.dumps(condition), f"{module} must be off unless a source is given"
    assert main["parameters"]["triggerEventSourceId"]["default"] == ""
