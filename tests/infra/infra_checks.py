"""Offline structural checks of the Bicep templates in infra/ (no Bicep compiler needed).

Every ``.bicep`` file is parsed with pycep-parser (which rejects syntax errors) and checked; each check
returns a list of problems, each naming the file and what is wrong, so a test can assert both that the
real templates are clean and that a deliberately broken copy is caught.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
LOCAL_SAMPLE = ROOT / "local.settings.sample.json"
FUNCTION_MODULE = "app/function.bicep"

API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
RESOURCE_DECLARATION = re.compile(r"^\s*resource\s+(\w+)\s+'([^']*)'", re.MULTILINE)
LINE_COMMENT = re.compile(r"(^|\s)//.*$", re.MULTILINE)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
# Anything that would read, create or carry a key: list*() functions (listKeys, listConnectionStrings,
# listSecrets, listAccountSas ...), SAS authorization rules, and key-bearing connection strings.
SECRET_PATTERNS = {
    r"\blist[A-Z]\w*\s*\(": "calls a list*() function (keys or secrets)",
    r"(?i)authorizationRules": "declares a SAS authorization rule",
    r"(?i)SharedAccessKey|SharedAccessSignature": "carries a shared access key",
    r"(?i)AccountKey\s*=": "carries a storage account key",
    r"(?i)InstrumentationKey\s*=": "carries an Application Insights instrumentation key",
}

# App settings the Functions host itself reads for the identity-based connections (not amlexec's own).
HOST_SETTINGS = frozenset(
    {
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "AzureWebJobsStorage__blobServiceUri",
        "ServiceBusConnection__credential",
        "ServiceBusConnection__clientId",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    }
)
# amlexec settings infra/ must provide; every other name in SETTING_NAMES is user-supplied and must be
# documented in docs/deploy.md.
DEPLOYED_SETTINGS = frozenset(
    {
        "ServiceBusConnection__fullyQualifiedNamespace",
        "AMLEXEC_BUS",
        "AMLEXEC_REQUEST_QUEUE",
        "AMLEXEC_STATUS_QUEUE",
        "AMLEXEC_REJECTED_QUEUE",
        "AMLEXEC_EVENTS_TOPIC",
        "AMLEXEC_SCHEDULER_TICK",
        "AMLEXEC_LINKED_SERVICES",
        "AMLEXEC_DEFAULT_LINKED_SERVICE",
        "AMLEXEC_DATA_FACTORY_NAME",
        "AMLEXEC_MAX_PAYLOAD_BYTES",
        "AMLEXEC_STATUS_URL_KEY",
        "AMLEXEC_REQUEST_INDEX_ENDPOINT",
        "AZURE_CLIENT_ID",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    }
)
# Keys of local.settings.sample.json that only the local host reads.
LOCAL_ONLY_SETTINGS = frozenset({"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "AzureWebJobsFeatureFlags"})
# The optional Event Grid output (completion events for Data Factory custom event triggers): one flag in
# main.bicep turns on the topic module, the forwarder's events-topic subscription, its role and these settings.
EVENTGRID_OUTPUT_FLAG = "enableEventGridOutput"
EVENTGRID_OUTPUT_MODULE = "app/eventgrid-output.bicep"
EVENTGRID_FORWARDER_SUBSCRIPTION = "eventGridForwarderSubscription"  # main.bicep's var, passed to the modules
EVENTGRID_OUTPUT_SETTINGS = frozenset({"AMLEXEC_EVENTGRID_TOPIC_ENDPOINT", "AMLEXEC_EVENTGRID_SUBSCRIPTION"})
EVENTGRID_TRACKING_SETTING = "AMLEXEC_EVENTGRID_TRACKING"
# Target-based scaling: the Service Bus extension's scaler reads message counts through the management API, which
# needs the Manage claim (with Entra ID: Azure Service Bus Data Owner). main.bicep grants it by default, on each entity
# a trigger reads (where the app holds Data Receiver) and nowhere else; one flag turns it off.
SCALING_FLAG = "grantDataOwnerForScaling"
SCALING_SETTING = "AMLEXEC_GRANT_DATA_OWNER_FOR_SCALING"
SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
SERVICE_BUS_DATA_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"
# Regions offering the Flex Consumption plan: the list Microsoft's azd Flex Consumption templates allow
# (Azure-Samples/functions-quickstart-python-azd-timer, infra/main.bicep, 2026-06). The live list is
# `az functionapp list-flexconsumption-locations`; a region added there is added here and in main.bicep.
FLEX_CONSUMPTION_REGIONS = frozenset(
    {
        "australiaeast",
        "australiasoutheast",
        "brazilsouth",
        "canadacentral",
        "centralindia",
        "centralus",
        "eastasia",
        "eastus",
        "eastus2",
        "eastus2euap",
        "francecentral",
        "germanywestcentral",
        "italynorth",
        "japaneast",
        "koreacentral",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "southafricanorth",
        "southcentralus",
        "southeastasia",
        "southindia",
        "spaincentral",
        "swedencentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westus",
        "westus2",
        "westus3",
    }
)
# Flex Consumption's maximum instance count: 40 at the least, 1000 at the most (docs/deploy.md gives the sources).
FLEX_MAXIMUM_INSTANCES = (40, 1000)
INSTANCE_COUNT_PARAM = "maximumInstanceCount"
# The Event Grid subscription of run_events needs the function deployed: an azd postdeploy hook (one script per shell)
# sets this azd environment value and provisions again; the other value skips it.
EVENT_GRID_SETTING = "AMLEXEC_ENABLE_EVENT_GRID"
EVENT_GRID_HOOK_SKIP = "AMLEXEC_SKIP_EVENT_GRID_HOOK"
EVENT_GRID_MODULE = "app/eventgrid.bicep"
HOOK_SCRIPTS = {
    "posix": ("sh", "infra/hooks/postdeploy.sh"),
    "windows": ("pwsh", "infra/hooks/postdeploy.ps1"),
}
# Service Bus entity: (key of main.bicep's entityNames, app setting naming it).
ENTITY_SETTINGS = {
    "requestQueue": "AMLEXEC_REQUEST_QUEUE",
    "statusQueue": "AMLEXEC_STATUS_QUEUE",
    "rejectedQueue": "AMLEXEC_REJECTED_QUEUE",
    "eventsTopic": "AMLEXEC_EVENTS_TOPIC",
}


@dataclass(frozen=True)
class Template:
    path: Path
    rel: str
    text: str
    tree: dict[str, Any] | None
    error: str | None


@cache
def _parser() -> Any:
    from pycep import BicepParser

    return BicepParser()


def load(infra: Path = INFRA) -> dict[str, Template]:
    """Every .bicep file under ``infra`` by its path relative to it, parsed (or with its parse error)."""
    templates: dict[str, Template] = {}
    for path in sorted(infra.rglob("*.bicep")):
        rel = path.relative_to(infra).as_posix()
        text = path.read_text()
        try:
            tree, error = _parser().parse(text=text), None
        except Exception as exc:  # pycep raises lark errors of several kinds
            tree, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        templates[rel] = Template(path, rel, text, tree, error)
    return templates


def body(declaration: Mapping[str, Any]) -> dict[str, Any]:
    """The object of a resource or module, without pycep's wrappers for `if (...)` and `[for ...]`."""
    config: dict[str, Any] = dict(declaration.get("config") or {})
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = dict(config["config"] or {})
    return config


def strip_comments(text: str) -> str:
    return LINE_COMMENT.sub(r"\1", BLOCK_COMMENT.sub("", text))


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def accessor(operand: str, member: str | dict[str, Any]) -> dict[str, Any]:
    """pycep's form of ``operand.member`` (``member`` itself an accessor for ``a.b.c``)."""
    return {"operator": {"type": "property_accessor", "operands": {"operand_1": operand, "operand_2": member}}}


def resources(
    templates: Mapping[str, Template], type_: str | None = None, existing: bool | None = False
) -> Iterable[tuple[Template, str, dict[str, Any]]]:
    for template in templates.values():
        for symbol, resource in ((template.tree or {}).get("resources") or {}).items():
            if type_ is not None and resource.get("type", "").lower() != type_.lower():
                continue
            if existing is not None and bool(resource.get("existing")) != existing:
                continue
            yield template, symbol, resource


# ------------------------------------------------------------------------------------------------ checks


def check_syntax(templates: Mapping[str, Template]) -> list[str]:
    return [f"{t.rel}: syntax error ({t.error})" for t in templates.values() if t.error]


def check_api_versions(templates: Mapping[str, Template]) -> list[str]:
    problems = []
    for template in templates.values():
        for symbol, declared in RESOURCE_DECLARATION.findall(strip_comments(template.text)):
            type_, _, version = declared.partition("@")
            if "/" in type_ and not API_VERSION.fullmatch(version):
                problems.append(
                    f"{template.rel}: resource {symbol} '{declared}' has no pinned API version "
                    "(expected @YYYY-MM-DD or @YYYY-MM-DD-preview)"
                )
    for template, symbol, resource in resources(templates, existing=None):
        if not API_VERSION.fullmatch(str(resource.get("api_version") or "")):
            problems.append(f"{template.rel}: resource {symbol} has no pinned API version")
    return problems


def check_modules(templates: Mapping[str, Template], infra: Path) -> list[str]:
    problems = []
    for template in templates.values():
        for symbol, module in ((template.tree or {}).get("modules") or {}).items():
            path = str((module.get("detail") or {}).get("path") or "")
            if module.get("type") != "local":
                problems.append(
                    f"{template.rel}: module {symbol} '{path}' is not a local file (cannot be checked offline)"
                )
                continue
            target_path = (template.path.parent / path).resolve()
            try:
                target_rel = target_path.relative_to(infra.resolve()).as_posix()
            except ValueError:
                target_rel = ""
            target = templates.get(target_rel)
            if target is None or not target_path.is_file():
                problems.append(f"{template.rel}: module {symbol} points at '{path}', which does not exist")
                continue
            if target.tree is None:
                continue  # reported by check_syntax
            declared = target.tree.get("parameters") or {}
            supplied = set((body(module).get("params") or {}).keys())
            required = {name for name, param in declared.items() if param.get("default") is None}
            for name in sorted(required - supplied):
                problems.append(f"{template.rel}: module {symbol} ({target_rel}) misses required parameter '{name}'")
            for name in sorted(supplied - set(declared)):
                problems.append(f"{template.rel}: module {symbol} ({target_rel}) passes unknown parameter '{name}'")
    return problems


def check_no_secrets(templates: Mapping[str, Template]) -> list[str]:
    problems = []
    for template in templates.values():
        code = strip_comments(template.text)
        for pattern, what in SECRET_PATTERNS.items():
            for match in re.finditer(pattern, code):
                line = code.count("\n", 0, match.start()) + 1
                problems.append(f"{template.rel}:{line}: {what} ('{match.group(0)}'); use managed identities")
    return problems


def _property(config: Mapping[str, Any], *path: str) -> Any:
    node: Any = config
    for key in path:
        if not isinstance(node, Mapping):
            return None
        lowered = {k.lower(): v for k, v in node.items()}
        node = lowered.get(key.lower())
    return node


def check_local_auth(templates: Mapping[str, Template]) -> list[str]:
    """Service Bus and Application Insights refuse keys; storage refuses shared keys."""
    required = [
        ("Microsoft.ServiceBus/namespaces", ("properties", "disableLocalAuth"), True),
        ("Microsoft.EventGrid/topics", ("properties", "disableLocalAuth"), True),
        ("Microsoft.KeyVault/vaults", ("properties", "enableRbacAuthorization"), True),
        ("Microsoft.Insights/components", ("properties", "DisableLocalAuth"), True),
        ("Microsoft.OperationalInsights/workspaces", ("properties", "features", "disableLocalAuth"), True),
        ("Microsoft.Storage/storageAccounts", ("properties", "allowSharedKeyAccess"), False),
        ("Microsoft.Storage/storageAccounts", ("properties", "allowBlobPublicAccess"), False),
    ]
    problems = []
    for type_, path, expected in required:
        for template, symbol, resource in resources(templates, type_):
            value = _property(body(resource), *path)
            if value is not expected:
                problems.append(
                    f"{template.rel}: {type_} {symbol} must set {'.'.join(path)}: "
                    f"{str(expected).lower()} (found {value!r})"
                )
    return problems


def check_role_assignments(templates: Mapping[str, Template]) -> list[str]:
    """Each role assignment is named guid(<scope>.id, <its principalId>, <its role definition id>)."""
    problems = []
    for template, symbol, resource in resources(templates, "Microsoft.Authorization/roleAssignments"):
        config = body(resource)
        where = f"{template.rel}: role assignment {symbol}"
        function = (config.get("name") or {}).get("function") if isinstance(config.get("name"), dict) else None
        if not function or function.get("type") != "guid":
            problems.append(f"{where} is not named guid(scope, principal, role)")
            continue
        args = [v for v in (function.get("parameters") or {}).values() if v is not None]
        scope = config.get("scope")
        properties = config.get("properties") or {}
        role = (properties.get("roleDefinitionId") or {}).get("function") or {}
        role_name = (role.get("parameters") or {}).get("resource_name_1")
        if scope is None:
            problems.append(f"{where} has no explicit scope")
        elif len(args) != 3:
            problems.append(f"{where}: guid() takes {len(args)} arguments, expected scope, principal, role")
        elif args[0] != accessor(scope, "id"):
            problems.append(f"{where}: the first guid() argument is not the id of its scope")
        elif args[1] != properties.get("principalId"):
            problems.append(f"{where}: the second guid() argument is not its principalId")
        elif role.get("type") != "subscription_resource_id" or args[2] != role_name:
            problems.append(f"{where}: the third guid() argument is not its roleDefinitionId's role")
    return problems


# -------------------------------------------------------------------------------------------- app settings


def _setting_keys(
    node: Any, variables: Mapping[str, Any], seen: frozenset[str] = frozenset(), *, definite: bool = False
) -> set[str]:
    """Names of the settings an app-settings expression can produce (object literals, union, ?:, vars); with
    ``definite``, only those it produces whatever its conditions (both branches of every ?:)."""
    if isinstance(node, str):
        if node in variables and node not in seen:
            return _setting_keys(variables[node].get("value"), variables, seen | {node}, definite=definite)
        return set()
    if not isinstance(node, dict):
        return set()
    if set(node) == {"function"}:
        parameters = (node["function"] or {}).get("parameters") or {}
        if node["function"].get("type") == "union":
            return set().union(*(_setting_keys(v, variables, seen, definite=definite) for v in parameters.values()))
        return set()
    if set(node) == {"operator"}:
        operands = (node["operator"] or {}).get("operands") or {}
        if node["operator"].get("type") == "conditional":
            when_true = _setting_keys(operands.get("true_value"), variables, seen, definite=definite)
            when_false = _setting_keys(operands.get("false_value"), variables, seen, definite=definite)
            return when_true & when_false if definite else when_true | when_false
        return set()
    return {unquote(key) for key in node}


def _definite_setting_keys(node: Any, variables: Mapping[str, Any]) -> set[str]:
    """The settings an app-settings expression produces whatever its conditions (both branches of every ?:)."""
    return _setting_keys(node, variables, definite=True)


def function_module(templates: Mapping[str, Template]) -> dict[str, Any] | None:
    main = templates.get("main.bicep")
    for module in ((main.tree if main else None) or {}).get("modules", {}).values():
        if str((module.get("detail") or {}).get("path", "")).removeprefix("./") == FUNCTION_MODULE:
            return body(module)
    return None


def deployed_settings(templates: Mapping[str, Template]) -> set[str]:
    """Every app-setting name the templates give the Function App."""
    names: set[str] = set()
    main, function = templates.get("main.bicep"), templates.get(FUNCTION_MODULE)
    module = function_module(templates)
    if main is not None and main.tree is not None and module is not None:
        names |= _setting_keys((module.get("params") or {}).get("appSettings"), main.tree.get("variables") or {})
    if function is not None and function.tree is not None:
        variables = function.tree.get("variables") or {}
        for _, _, resource in resources({FUNCTION_MODULE: function}, "Microsoft.Web/sites/config"):
            config = body(resource)
            if config.get("name") == "appsettings":
                names |= _setting_keys(config.get("properties"), variables)
    return names


def check_app_settings(
    templates: Mapping[str, Template],
    setting_names: Iterable[str],
    deploy_doc: Path = DEPLOY_DOC,
    local_sample: Path = LOCAL_SAMPLE,
) -> list[str]:
    """Bicep app settings = what amlexec reads (+ the host's identity settings); the rest is documented."""
    read = set(setting_names)
    exact = {name for name in read if "<" not in name}
    prefixes = {name.split("<", 1)[0] for name in read if "<" in name}
    deployed = deployed_settings(templates)
    problems = []
    if not deployed:
        return [f"{FUNCTION_MODULE}/main.bicep: no app settings found"]
    for name in sorted(deployed - exact - HOST_SETTINGS):
        if not any(name.startswith(prefix) for prefix in prefixes):
            problems.append(
                f"app setting '{name}' is set by infra/ but amlexec does not read it (amlexec.settings.SETTING_NAMES)"
            )
    for name in sorted(DEPLOYED_SETTINGS - deployed):
        problems.append(f"app setting '{name}' is not provisioned by infra/")
    doc = deploy_doc.read_text() if deploy_doc.is_file() else ""
    for name in sorted((exact - deployed) | prefixes):
        if f"`{name}" not in doc:
            problems.append(
                f"setting '{name}' is neither provisioned by infra/ nor documented as user-supplied "
                f"in {deploy_doc.name}"
            )
    sample = json.loads(local_sample.read_text()).get("Values", {})
    for name in sorted((deployed & exact) - set(sample)):
        problems.append(f"app setting '{name}' is provisioned but missing from {local_sample.name}")
    for name in sorted(set(sample) - exact - LOCAL_ONLY_SETTINGS - HOST_SETTINGS):
        problems.append(f"{local_sample.name} lists '{name}', which amlexec does not read")
    return problems


def entity_names(templates: Mapping[str, Template]) -> dict[str, Any]:
    main = templates.get("main.bicep")
    variables = ((main.tree if main else None) or {}).get("variables") or {}
    value = (variables.get("entityNames") or {}).get("value")
    return value if isinstance(value, dict) else {}


def check_entity_names(templates: Mapping[str, Template]) -> list[str]:
    """Queue/topic names are written once (main.bicep's entityNames) and reach the bus and the settings."""
    problems = []
    names = entity_names(templates)
    if set(names) != set(ENTITY_SETTINGS):
        return [f"main.bicep: var entityNames must name exactly {sorted(ENTITY_SETTINGS)} (found {sorted(names)})"]
    settings = ((function_module(templates) or {}).get("params") or {}).get("appSettings") or {}
    literal = next(
        (
            arg
            for arg in ((settings.get("function") or {}).get("parameters") or {}).values()
            if isinstance(arg, dict) and "function" not in arg and "operator" not in arg
        ),
        settings,
    )
    for key, setting in ENTITY_SETTINGS.items():
        if literal.get(setting) != accessor("entityNames", key):
            problems.append(f"main.bicep: app setting {setting} must be entityNames.{key}")
    main = templates["main.bicep"].tree or {}
    for symbol, module in (main.get("modules") or {}).items():
        path = str((module.get("detail") or {}).get("path", ""))
        params = body(module).get("params") or {}
        if path.endswith(("servicebus.bicep", "rbac.bicep")) and params.get("entityNames") != "entityNames":
            problems.append(f"main.bicep: module {symbol} must receive entityNames: entityNames")
    bus = templates.get("app/servicebus.bicep")
    created = [body(r).get("name") for _, _, r in resources({"bus": bus} if bus else {}, None)]
    for key in ENTITY_SETTINGS:
        if accessor("entityNames", key) not in created:
            problems.append(f"app/servicebus.bicep: no entity is named entityNames.{key}")
    return problems


def _condition(declaration: Mapping[str, Any]) -> Any:
    config = declaration.get("config") or {}
    return config.get("condition") if isinstance(config, Mapping) else None


def _conjuncts(condition: Any) -> list[Any]:
    """The terms a condition ``a && b && ...`` requires, in order (a condition that is no ``&&``: itself)."""
    if isinstance(condition, dict) and (condition.get("operator") or {}).get("type") == "and":
        operands = condition["operator"].get("operands") or {}
        return [term for operand in operands.values() for term in _conjuncts(operand)]
    return [] if condition is None else [condition]


def _requires(condition: Any, flag: str) -> bool:
    """Whether a deployment condition holds only when the bool parameter ``flag`` is true."""
    return flag in _conjuncts(condition)


def _same_condition(left: Any, right: Any) -> bool:
    return sorted(map(json.dumps, _conjuncts(left))) == sorted(map(json.dumps, _conjuncts(right)))


def _render(condition: Any) -> str:
    return " && ".join(term if isinstance(term, str) else json.dumps(term) for term in _conjuncts(condition))


def _settings_assigned(
    node: Any, variables: Mapping[str, Any], name: str, seen: frozenset[str] = frozenset()
) -> list[Any]:
    """Every value the app-settings expression can give the setting ``name``."""
    if isinstance(node, str):
        if node in variables and node not in seen:
            return _settings_assigned(variables[node].get("value"), variables, name, seen | {node})
        return []
    if not isinstance(node, dict):
        return []
    if set(node) == {"function"}:
        parameters = (node["function"] or {}).get("parameters") or {}
        return [value for arg in parameters.values() for value in _settings_assigned(arg, variables, name, seen)]
    if set(node) == {"operator"}:
        operands = (node["operator"] or {}).get("operands") or {}
        return [
            value
            for key in ("true_value", "false_value")
            for value in _settings_assigned(operands.get(key), variables, name, seen)
        ]
    return [value for key, value in node.items() if unquote(key) == name]


def check_eventgrid_output(templates: Mapping[str, Template]) -> list[str]:
    """The Event Grid output is off by default and everything it adds exists only when main.bicep turns it on."""
    flag = EVENTGRID_OUTPUT_FLAG
    main = templates.get("main.bicep")
    tree = (main.tree if main else None) or {}
    problems = []
    declared = (tree.get("parameters") or {}).get(flag)
    if declared is None or declared.get("type") != "bool" or declared.get("default") is not False:
        problems.append(f"main.bicep: param {flag} must be a bool that defaults to false")
    modules = dict(tree.get("modules") or {})
    topics = [
        symbol
        for symbol, m in modules.items()
        if str((m.get("detail") or {}).get("path", "")).removeprefix("./") == EVENTGRID_OUTPUT_MODULE
    ]
    if not topics:
        problems.append(f"main.bicep: no module deploys {EVENTGRID_OUTPUT_MODULE}")
    for symbol in topics:
        if _condition(modules[symbol]) != flag:
            problems.append(
                f"main.bicep: module {symbol} ({EVENTGRID_OUTPUT_MODULE}) must be deployed only if ({flag})"
            )
    for symbol, module in modules.items():
        params = body(module).get("params") or {}
        path = str((module.get("detail") or {}).get("path", ""))
        if path.endswith(("servicebus.bicep", "rbac.bicep")):
            for name in (flag, EVENTGRID_FORWARDER_SUBSCRIPTION):
                if params.get(name) != name:
                    problems.append(f"main.bicep: module {symbol} must receive {name}: {name}")
    for template in templates.values():
        if template.rel == "main.bicep" or template.tree is None:
            continue
        param = (template.tree.get("parameters") or {}).get(flag)
        if param is not None and param.get("default") is not False:
            problems.append(f"{template.rel}: param {flag} must default to false")
        existing_forwarders = {
            symbol
            for symbol, resource in (template.tree.get("resources") or {}).items()
            if resource.get("existing") and body(resource).get("name") == EVENTGRID_FORWARDER_SUBSCRIPTION
        }
        for symbol, resource in (template.tree.get("resources") or {}).items():
            config = body(resource)
            creates = not resource.get("existing") and config.get("name") == EVENTGRID_FORWARDER_SUBSCRIPTION
            grants = config.get("scope") in existing_forwarders
            if (creates or grants) and not _requires(_condition(resource), flag):
                problems.append(f"{template.rel}: resource {symbol} must be deployed only if ({flag})")
    for template, symbol, resource in resources(templates, "Microsoft.EventGrid/topics"):
        if _property(body(resource), "properties", "inputSchema") != "EventGridSchema":
            problems.append(
                f"{template.rel}: Event Grid topic {symbol} must take properties.inputSchema: 'EventGridSchema' "
                "(Data Factory custom event triggers read no other schema)"
            )
    module = function_module(templates)
    variables = tree.get("variables") or {}
    if module is not None:
        settings = (module.get("params") or {}).get("appSettings")
        for name in sorted(EVENTGRID_OUTPUT_SETTINGS & _definite_setting_keys(settings, variables)):
            problems.append(f"main.bicep: app setting {name} must be set only if ({flag})")
        # The run notifications (enableEventGrid) make the status checks a safety net: set with them, never without.
        if EVENTGRID_TRACKING_SETTING in _definite_setting_keys(settings, variables):
            problems.append(
                f"main.bicep: app setting {EVENTGRID_TRACKING_SETTING} must be set only if (enableEventGrid)"
            )
        if EVENTGRID_TRACKING_SETTING not in _setting_keys(settings, variables):
            problems.append(
                f"main.bicep: app setting {EVENTGRID_TRACKING_SETTING} is never set: with enableEventGrid the status"
                " checks would keep polling every few minutes"
            )
        for value in _settings_assigned(settings, variables, "AMLEXEC_EVENTGRID_SUBSCRIPTION"):
            if value != EVENTGRID_FORWARDER_SUBSCRIPTION:
                problems.append(
                    f"main.bicep: app setting AMLEXEC_EVENTGRID_SUBSCRIPTION must be {EVENTGRID_FORWARDER_SUBSCRIPTION}"
                )
    return problems


# ------------------------------------------------------------------------------- scaling, regions and the hook


def parameters_file(infra: Path) -> dict[str, Any]:
    """main.parameters.json's parameters (name: {"value": ...}), or {} when it is missing or not JSON."""
    try:
        document = json.loads((infra / "main.parameters.json").read_text())
    except (OSError, ValueError):
        return {}
    parameters = document.get("parameters") if isinstance(document, dict) else None
    return parameters if isinstance(parameters, dict) else {}


def _role_guid(config: Mapping[str, Any], variables: Mapping[str, Any]) -> str:
    role = (((config.get("properties") or {}).get("roleDefinitionId") or {}).get("function")) or {}
    name = (role.get("parameters") or {}).get("resource_name_1")
    value = (variables.get(name) or {}).get("value") if isinstance(name, str) else None
    return str(value if isinstance(value, str) else name)


def app_service_bus_roles(template: Template) -> list[tuple[str, str, str, Any]]:
    """The app identity's Service Bus data roles in a template: (symbol, role GUID, scope symbol, condition)."""
    variables = (template.tree or {}).get("variables") or {}
    roles = []
    for symbol, resource in ((template.tree or {}).get("resources") or {}).items():
        if resource.get("type", "").lower() != "microsoft.authorization/roleassignments" or resource.get("existing"):
            continue
        config = body(resource)
        if (config.get("properties") or {}).get("principalId") != "appPrincipalId":
            continue
        guid = _role_guid(config, variables)
        if guid in (SERVICE_BUS_DATA_RECEIVER, SERVICE_BUS_DATA_OWNER):
            roles.append((symbol, guid, str(config.get("scope")), _condition(resource)))
    return roles


def check_scaling_roles(templates: Mapping[str, Template], infra: Path) -> list[str]:
    """Data Owner, by default, on each entity a trigger reads (and nowhere else), switched off by one flag."""
    flag, problems = SCALING_FLAG, []
    main = (templates["main.bicep"].tree if "main.bicep" in templates else None) or {}
    declared = (main.get("parameters") or {}).get(flag)
    if declared is None or declared.get("type") != "bool" or declared.get("default") is not True:
        problems.append(
            f"main.bicep: param {flag} must be a bool that defaults to true (target-based scaling needs Data Owner)"
        )
    value = (parameters_file(infra).get(flag) or {}).get("value")
    if value != f"${{{SCALING_SETTING}=true}}":
        problems.append(
            f"main.parameters.json: {flag} must be ${{{SCALING_SETTING}=true}} (on unless the environment opts out)"
        )
    for symbol, module in (main.get("modules") or {}).items():
        path = str((module.get("detail") or {}).get("path", ""))
        if path.endswith("rbac.bicep") and (body(module).get("params") or {}).get(flag) != flag:
            problems.append(f"main.bicep: module {symbol} must receive {flag}: {flag}")
    rbac = templates.get("rbac.bicep")
    if rbac is None or rbac.tree is None:
        return [*problems, "rbac.bicep: missing or unparsed, so the app's Service Bus roles cannot be checked"]
    parameter = (rbac.tree.get("parameters") or {}).get(flag)
    if parameter is None or parameter.get("default") is not True:
        problems.append(f"rbac.bicep: param {flag} must default to true")
    roles = app_service_bus_roles(rbac)
    read = {scope: condition for _, guid, scope, condition in roles if guid == SERVICE_BUS_DATA_RECEIVER}
    owners = [(symbol, scope, condition) for symbol, guid, scope, condition in roles if guid == SERVICE_BUS_DATA_OWNER]
    for scope, condition in read.items():
        # Data Owner wherever the trigger's Data Receiver is, under the same condition and the scaling flag.
        expected: Any = flag
        if condition is not None:
            expected = {"operator": {"type": "and", "operands": {"operand_1": condition, "operand_2": flag}}}
        granted = [(symbol, owner_condition) for symbol, owner_scope, owner_condition in owners if owner_scope == scope]
        if not granted:
            problems.append(
                f"rbac.bicep: the app reads {scope} (Azure Service Bus Data Receiver) but gets no Azure Service Bus "
                "Data Owner on it: target-based scaling needs the Manage claim on every entity a trigger reads"
            )
        for symbol, owner_condition in granted:
            if not _same_condition(owner_condition, expected):
                problems.append(
                    f"rbac.bicep: role assignment {symbol} (Data Owner on {scope}) must be deployed only if "
                    f"({_render(expected)})"
                )
    for symbol, scope, _ in owners:
        if scope not in read:
            problems.append(
                f"rbac.bicep: role assignment {symbol} grants the app Azure Service Bus Data Owner on '{scope}', which "
                "no trigger reads: grant it on each trigger's own entity only"
            )
    return problems


def _decorator(parameter: Mapping[str, Any], kind: str) -> Any:
    for decorator in parameter.get("decorators") or []:
        if decorator.get("type") == kind:
            return decorator.get("argument")
    return None


def check_location(templates: Mapping[str, Template]) -> list[str]:
    """main.bicep's location allows exactly the Flex Consumption regions, and keeps azd's region prompt."""
    main = (templates["main.bicep"].tree if "main.bicep" in templates else None) or {}
    parameter = (main.get("parameters") or {}).get("location")
    if parameter is None:
        return ["main.bicep: no param location"]
    problems = []
    allowed = _decorator(parameter, "allowed")
    if not isinstance(allowed, list):
        problems.append(
            "main.bicep: param location must be @allowed([...]) the Flex Consumption regions "
            "(infra_checks.FLEX_CONSUMPTION_REGIONS)"
        )
    else:
        for region in sorted(set(map(str, allowed)) - FLEX_CONSUMPTION_REGIONS):
            problems.append(f"main.bicep: param location allows '{region}', which is not a Flex Consumption region")
        for region in sorted(FLEX_CONSUMPTION_REGIONS - set(map(str, allowed))):
            problems.append(f"main.bicep: param location does not allow the Flex Consumption region '{region}'")
    metadata = _decorator(parameter, "metadata")
    if not isinstance(metadata, dict) or (metadata.get("azd") or {}).get("type") != "location":
        problems.append("main.bicep: param location must keep @metadata azd type 'location' (azd's region prompt)")
    return problems


def check_instance_count(templates: Mapping[str, Template]) -> list[str]:
    """maximumInstanceCount is bounded as Flex Consumption documents, in main.bicep and in the function module."""
    low, high = FLEX_MAXIMUM_INSTANCES
    name, problems = INSTANCE_COUNT_PARAM, []
    for rel in ("main.bicep", FUNCTION_MODULE):
        tree = (templates[rel].tree if rel in templates else None) or {}
        parameter = (tree.get("parameters") or {}).get(name)
        if parameter is None:
            problems.append(f"{rel}: no param {name}")
            continue
        found = (_decorator(parameter, "min_value"), _decorator(parameter, "max_value"))
        if found != (low, high):
            problems.append(
                f"{rel}: param {name} must be @minValue({low}) @maxValue({high}), Flex Consumption's bounds "
                f"(found {found[0]}, {found[1]})"
            )
    module = function_module(templates) or {}
    if (module.get("params") or {}).get(name) != name:
        problems.append(f"main.bicep: the function module must receive {name}: {name}")
    function = {FUNCTION_MODULE: templates[FUNCTION_MODULE]} if FUNCTION_MODULE in templates else {}
    site = next((body(r) for _, _, r in resources(function, "Microsoft.Web/sites")), {})
    if _property(site, "properties", "functionAppConfig", "scaleAndConcurrency", name) != name:
        problems.append(f"{FUNCTION_MODULE}: site.functionAppConfig.scaleAndConcurrency.{name} must be param {name}")
    return problems


def event_grid_function(templates: Mapping[str, Template]) -> str | None:
    """The function main.bicep's Event Grid module subscribes (its functionName parameter)."""
    main = (templates["main.bicep"].tree if "main.bicep" in templates else None) or {}
    for module in (main.get("modules") or {}).values():
        if str((module.get("detail") or {}).get("path", "")).removeprefix("./") == EVENT_GRID_MODULE:
            value = (body(module).get("params") or {}).get("functionName")
            return value if isinstance(value, str) else None
    return None


def check_event_grid_hook(templates: Mapping[str, Template], infra: Path, project: Path) -> list[str]:
    """azure.yaml's postdeploy hook runs, in both shells, a script that turns the Event Grid subscription on."""
    import yaml

    problems = []
    if (parameters_file(infra).get("enableEventGrid") or {}).get("value") != f"${{{EVENT_GRID_SETTING}=false}}":
        problems.append(
            f"main.parameters.json: enableEventGrid must be ${{{EVENT_GRID_SETTING}=false}}: the value the postdeploy "
            "hook turns on once the function exists"
        )
    try:
        document = yaml.safe_load((project / "azure.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        return [*problems, f"azure.yaml: cannot be read ({type(exc).__name__})"]
    hook = (document.get("hooks") or {}).get("postdeploy") if isinstance(document, dict) else None
    if not isinstance(hook, dict):
        return [*problems, "azure.yaml: no hooks.postdeploy: the Event Grid subscription would need a second provision"]
    function = event_grid_function(templates)
    for platform, (shell, script) in HOOK_SCRIPTS.items():
        where = f"azure.yaml: hooks.postdeploy.{platform}"
        entry = hook.get(platform)
        if not isinstance(entry, dict):
            problems.append(f"{where} is missing (shell: {shell}, run: ./{script})")
            continue
        if entry.get("shell") != shell:
            problems.append(f"{where} must use shell: {shell} (found {entry.get('shell')!r})")
        run = str(entry.get("run") or "")
        if run.removeprefix("./") != script:
            problems.append(f"{where} must run ./{script} (found {run!r})")
        if entry.get("continueOnError") is True:
            problems.append(f"{where} must not continueOnError: a failed Event Grid step must fail the deployment")
        path = project / run
        if not run or not path.is_file():
            problems.append(f"{where} runs '{run}', which does not exist")
            continue
        text = path.read_text()
        for needed in (EVENT_GRID_HOOK_SKIP, f"azd env set {EVENT_GRID_SETTING} true", "azd provision"):
            if needed not in text:
                problems.append(f"{run}: never mentions '{needed}'")
        if function is None or not re.search(rf"\b{re.escape(function)}\b", text):
            problems.append(
                f"{run}: waits for no function named {function} (main.bicep, module eventGrid: functionName)"
            )
        if shell == "sh" and shutil.which("sh"):
            checked = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
            if checked.returncode != 0:
                first = (checked.stderr.strip().splitlines() or [""])[0]
                problems.append(f"{run}: sh -n fails: {first}")
    return problems


def check_all(
    infra: Path = INFRA,
    setting_names: Iterable[str] | None = None,
    deploy_doc: Path = DEPLOY_DOC,
    local_sample: Path = LOCAL_SAMPLE,
    project: Path | None = None,
) -> list[str]:
    """Every structural problem of the templates under ``infra`` (and of azure.yaml in ``project``, by default the
    folder holding ``infra``); an empty list means they pass."""
    if setting_names is None:
        from amlexec.settings import SETTING_NAMES

        setting_names = SETTING_NAMES
    project = infra.parent if project is None else project
    templates = load(infra)
    if "main.bicep" not in templates:
        return [f"{infra}: no main.bicep"]
    return (
        check_syntax(templates)
        + check_api_versions(templates)
        + check_modules(templates, infra)
        + check_no_secrets(templates)
        + check_local_auth(templates)
        + check_role_assignments(templates)
        + check_app_settings(templates, setting_names, deploy_doc, local_sample)
        + check_entity_names(templates)
        + check_eventgrid_output(templates)
        + check_scaling_roles(templates, infra)
        + check_location(templates)
        + check_instance_count(templates)
        + check_event_grid_hook(templates, infra, project)
    )
