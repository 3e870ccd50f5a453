"""Typed app settings, read once per worker from the environment (Function App settings in Azure).

Operators: every setting is listed in ``local.settings.sample.json`` and in the README. A missing or
malformed value fails with a ConfigurationError naming the setting, rather than misbehaving later.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from amlexec.errors import ConfigurationError
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.validation import PREMIUM_TIER_MAX_MESSAGE, STANDARD_TIER_MAX_MESSAGE, Limits

__all__ = [
    "SETTING_NAMES",
    "Settings",
    "configured_bus",
    "eventgrid_output_configured",
    "get_settings",
    "json_documents",
    "load_linked_services",
    "refuse_repeated_names",
    "request_topic_configured",
]

# Every setting amlexec reads (the infra templates and local.settings.sample.json provide these names).
SETTING_NAMES = (
    "AMLEXEC_LINKED_SERVICES_FILE",
    "AMLEXEC_LINKED_SERVICES",
    "AMLEXEC_DEFAULT_LINKED_SERVICE",
    "AMLEXEC_DATA_FACTORY_NAME",
    "AMLEXEC_MAX_PAYLOAD_BYTES",
    "AMLEXEC_LOCAL_RUNS_DIR",
    "AMLEXEC_BUS",
    "ServiceBusConnection__fullyQualifiedNamespace",
    "ServiceBusConnection",
    "AMLEXEC_REQUEST_QUEUE",
    "AMLEXEC_REQUEST_TOPIC",
    "AMLEXEC_REQUEST_SUBSCRIPTION",
    "AMLEXEC_STATUS_URL_KEY",
    "AMLEXEC_STATUS_URL_KEY_PREVIOUS",
    "AMLEXEC_PUBLIC_BASE_URL",
    "AMLEXEC_CALLBACK_ALLOWED_HOSTS",
    "AMLEXEC_REQUEST_INDEX_ENDPOINT",
    "AMLEXEC_REQUEST_INDEX_CONNECTION_STRING",
    "AMLEXEC_STATUS_QUEUE",
    "AMLEXEC_REJECTED_QUEUE",
    "AMLEXEC_EVENTS_TOPIC",
    "AMLEXEC_POLL_INITIAL_SECONDS",
    "AMLEXEC_POLL_MAX_SECONDS",
    "AMLEXEC_NOT_RESPONDING_GRACE_SECONDS",
    "AMLEXEC_CANCEL_GRACE_SECONDS",
    "AMLEXEC_EVENTGRID_TRACKING",
    "AMLEXEC_SCHEDULES_FILE",
    "AMLEXEC_SCHEDULES",
    "AMLEXEC_SCHEDULER_TICK",
    "AMLEXEC_TRIGGERS_FILE",
    "AMLEXEC_TRIGGERS",
    "AMLEXEC_EVENTGRID_TOPIC_ENDPOINT",
    "AMLEXEC_EVENTGRID_SUBSCRIPTION",
    "AMLEXEC_EVENTGRID_PUBLISH_STARTED",
    "AMLEXEC_SP_SECRET__<LINKED SERVICE>",
    "AMLEXEC_IDENTITY_CLIENT_ID__<CREDENTIAL>",
    "AZURE_CLIENT_ID",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AMLEXEC_SDK_LOG_LEVEL",
)


def _flag(source: Mapping[str, str], name: str) -> bool:
    raw = source.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _seconds(source: Mapping[str, str], name: str, default: float, low: float, high: float) -> timedelta:
    raw = source.get(name, "").strip()
    if not raw:
        return timedelta(seconds=default)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number of seconds from {low:g} to {high:g}, got {raw!r}")
    return timedelta(seconds=value)


# Signs status URLs in local mode when no key is configured: random per process, never written anywhere.
_PROCESS_KEY = secrets.token_bytes(32)
_MIN_KEY_LENGTH = 32


def _status_url_keys(source: Mapping[str, str]) -> tuple[bytes, ...]:
    keys = []
    for name in ("AMLEXEC_STATUS_URL_KEY", "AMLEXEC_STATUS_URL_KEY_PREVIOUS"):
        value = source.get(name, "").strip()
        if not value:
            continue
        if len(value) < _MIN_KEY_LENGTH:
            raise ConfigurationError(f"{name} must be at least {_MIN_KEY_LENGTH} characters of random text")
        keys.append(value.encode())
    if (
        source.get("AMLEXEC_STATUS_URL_KEY_PREVIOUS", "").strip()
        and not source.get("AMLEXEC_STATUS_URL_KEY", "").strip()
    ):
        raise ConfigurationError("AMLEXEC_STATUS_URL_KEY_PREVIOUS is set but AMLEXEC_STATUS_URL_KEY is not")
    return tuple(keys)


_NAMESPACE_SETTING = "ServiceBusConnection__fullyQualifiedNamespace"
_CONNECTION_SETTING = "ServiceBusConnection"


def configured_bus(env: Mapping[str, str] | None = None) -> str:
    """The bus the settings ask for: ``AMLEXEC_BUS`` (lower-cased), else ``servicebus`` when a Service Bus
    connection is configured and ``memory`` when none is.

    Reads only these three settings and never raises (:meth:`Settings.from_env` rejects other values), so the
    Function App can ask while it is being indexed, like :func:`request_topic_configured`.
    """
    source = os.environ if env is None else env
    explicit = source.get("AMLEXEC_BUS", "").strip().lower()
    if explicit:
        return explicit
    connected = any(source.get(name, "").strip() for name in (_NAMESPACE_SETTING, _CONNECTION_SETTING))
    return "servicebus" if connected else "memory"


def _connection_string_parts(value: str) -> dict[str, str]:
    """The ``Key=Value`` pairs of a connection string, keys lower-cased, split the way azure-servicebus splits
    them. Every error names the setting and the key at fault, never a value: the string may hold a key."""
    parts: dict[str, str] = {}
    for item in value.strip().rstrip(";").split(";"):
        key, equals, part = item.partition("=")
        if not equals or not key:
            raise ConfigurationError(
                f"{_CONNECTION_SETTING} is not a connection string (expected Key=Value pairs separated by ';')"
            )
        parts[key.lower()] = part
    return parts


def _check_connection_string(value: str) -> None:
    """What the SDK and the Functions host would reject later, or silently get wrong, said now."""
    parts = _connection_string_parts(value)
    endpoint = parts.get("endpoint") or parts.get("hostname") or ""
    if not urlsplit(endpoint).netloc:
        raise ConfigurationError(
            f"{_CONNECTION_SETTING} needs Endpoint=sb://<namespace host> (the emulator's: Endpoint=sb://localhost)"
        )
    key_name, key, signature = (
        bool(parts.get(name)) for name in ("sharedaccesskeyname", "sharedaccesskey", "sharedaccesssignature")
    )
    if not ((key_name and key and not signature) or (signature and not key_name and not key)):
        raise ConfigurationError(
            f"{_CONNECTION_SETTING} needs SharedAccessKeyName and SharedAccessKey, or else SharedAccessSignature"
        )
    if "entitypath" in parts:
        raise ConfigurationError(
            f"{_CONNECTION_SETTING} must be the namespace's connection string, without EntityPath: amlexec "
            "sends to four entities and the Functions host listens on several"
        )
    emulator = parts.get("usedevelopmentemulator")
    if emulator is not None and emulator not in ("true", "false"):
        raise ConfigurationError(
            f"{_CONNECTION_SETTING}: UseDevelopmentEmulator must be exactly 'true' or 'false' in lower case "
            "(azure-servicebus treats any other spelling as false and then tries TLS on port 5671)"
        )


def _is_emulator(connection_string: str) -> bool:
    return _connection_string_parts(connection_string).get("usedevelopmentemulator") == "true"


def _service_bus_connection(source: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(namespace, connection string)``: at most one of them, as the Functions host's triggers read them.

    The host takes ``ServiceBusConnection`` as a connection string whenever it is set (not blank) and only
    otherwise looks at ``ServiceBusConnection__fullyQualifiedNamespace``; amlexec sends through the same one.
    Both set is refused rather than guessed at: the triggers and the sender would otherwise be free to disagree.
    """
    namespace = source.get(_NAMESPACE_SETTING, "").strip() or None
    connection_string = source.get(_CONNECTION_SETTING, "").strip() or None
    if namespace and connection_string:
        raise ConfigurationError(
            f"set {_NAMESPACE_SETTING} (identity-based, preferred) or {_CONNECTION_SETTING} (a connection "
            "string, for the Service Bus emulator), not both: the Functions host would use the connection string"
        )
    if connection_string:
        _check_connection_string(connection_string)
    return namespace, connection_string


def _request_index(source: Mapping[str, str], bus: str) -> dict[str, Any]:
    """Where the request index lives: the Function App's own storage account, unless told otherwise.

    ``AMLEXEC_REQUEST_INDEX_CONNECTION_STRING`` (Azurite: ``UseDevelopmentStorage=true``) or
    ``AMLEXEC_REQUEST_INDEX_ENDPOINT``; else the host's storage: ``AzureWebJobsStorage__accountName``
    (identity-based, as the infra deploys it) or an ``AzureWebJobsStorage`` connection string. In local mode
    (in-memory bus) it stays in memory.
    """
    connection = source.get("AMLEXEC_REQUEST_INDEX_CONNECTION_STRING", "").strip()
    endpoint = source.get("AMLEXEC_REQUEST_INDEX_ENDPOINT", "").strip()
    if not connection and not endpoint and bus == "servicebus":
        account = source.get("AzureWebJobsStorage__accountName", "").strip()
        host_storage = source.get("AzureWebJobsStorage", "").strip()
        if account:
            endpoint = f"https://{account}.table.core.windows.net"
        elif "AccountName=" in host_storage or "UseDevelopmentStorage=true" in host_storage:
            connection = host_storage
    if connection or endpoint:
        return {
            "request_index": "table",
            "request_index_endpoint": endpoint or None,
            "request_index_connection_string": connection or None,
        }
    if bus == "servicebus":
        return {"request_index": "none"}  # GET /api/requests names the setting; nothing else needs it
    return {"request_index": "memory"}


@dataclass(frozen=True)
class Settings:
    """What the app reads from its environment; build with :meth:`from_env`."""

    linked_services_file: Path | None = None
    # Inline linked services can hold a SecureString key, schedules whole payloads: neither goes into a repr.
    linked_services_json: str | None = field(default=None, repr=False)
    default_linked_service: str | None = None
    data_factory_name: str = "amlexec"
    max_payload_bytes: int = STANDARD_TIER_MAX_MESSAGE
    local_runs_dir: Path = Path(".amlexec/runs")
    bus: str = "memory"
    service_bus_namespace: str | None = None
    # ServiceBusConnection as a connection string (the Service Bus emulator's, or a SAS key): a secret, so never
    # in a repr, a log or an error message. Identity-based (service_bus_namespace) is the default and preferred.
    service_bus_connection_string: str | None = field(default=None, repr=False)
    # The connection string says UseDevelopmentEmulator=true: the local Service Bus emulator, which allows ten
    # connections per namespace.
    service_bus_emulator: bool = False
    request_queue: str = "amlexec-requests"
    request_topic: str | None = None
    request_subscription: str | None = None
    status_queue: str = "amlexec-status"
    rejected_queue: str = "amlexec-rejected"
    events_topic: str = "amlexec-events"
    poll_initial: timedelta = timedelta(seconds=15)
    poll_max: timedelta = timedelta(minutes=5)
    not_responding_grace: timedelta = timedelta(minutes=15)
    cancel_grace: timedelta = timedelta(minutes=10)
    # The workspace's Azure ML run events reach the function run_events (infra/app/eventgrid.bicep): run ends
    # are published from them, and status checks become a safety net every 30 minutes (amlexec.tracking).
    eventgrid_tracking: bool = False
    schedules_file: Path | None = None
    schedules_json: str | None = field(default=None, repr=False)
    # Data Factory trigger definitions (file and/or inline JSON); inline ones may hold whole payloads.
    triggers_file: Path | None = None
    triggers_json: str | None = field(default=None, repr=False)
    managed_identity_client_id: str | None = field(default=None, repr=False)
    # HMAC keys that sign status URLs, the current one first (the previous one verifies during a rotation).
    status_url_keys: tuple[bytes, ...] = field(default=(), repr=False)
    public_base_url: str | None = None
    # Hosts WebHook callbacks may go to ("" = any public host); parsed where the policy is built.
    callback_allowed_hosts: str = ""
    # Where requests are recorded by identity (GET /api/requests/{id}): "memory", "table" (Azure Tables), or
    # "none" (not configured: requests are not recorded, and GET /api/requests says which setting is missing).
    request_index: str = "memory"
    request_index_endpoint: str | None = None
    request_index_connection_string: str | None = field(default=None, repr=False)
    # Completion events also go to this Event Grid custom topic (Event Grid schema), for Data Factory custom
    # event triggers; None: no forwarder function is registered.
    eventgrid_topic_endpoint: str | None = None
    eventgrid_subscription: str | None = None
    eventgrid_publish_started: bool = False

    def status_url_key(self) -> bytes:
        """The key that signs new status URLs; a configuration error in Azure when none is set."""
        if self.status_url_keys:
            return self.status_url_keys[0]
        if self.bus == "memory":
            return _PROCESS_KEY  # local mode: URLs live as long as this process, nothing else reads them
        raise ConfigurationError(
            "set AMLEXEC_STATUS_URL_KEY (at least 32 random characters; a Key Vault "
            "reference in Azure) so POST /api/runs can hand out status URLs"
        )

    def status_url_verification_keys(self) -> tuple[bytes, ...]:
        return self.status_url_keys or ((_PROCESS_KEY,) if self.bus == "memory" else ())

    @property
    def limits(self) -> Limits:
        return Limits(max_payload_bytes=self.max_payload_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        raw_limit = source.get("AMLEXEC_MAX_PAYLOAD_BYTES", "").strip()
        limit = STANDARD_TIER_MAX_MESSAGE
        if raw_limit:
            if not raw_limit.isdigit() or not 1024 <= int(raw_limit) <= PREMIUM_TIER_MAX_MESSAGE:
                raise ConfigurationError(
                    f"AMLEXEC_MAX_PAYLOAD_BYTES must be a whole number from 1024 to {PREMIUM_TIER_MAX_MESSAGE}, "
                    f"got {raw_limit!r}"
                )
            limit = int(raw_limit)
        namespace, connection_string = _service_bus_connection(source)
        bus = configured_bus(source)
        if bus not in ("servicebus", "memory"):
            raise ConfigurationError(f"AMLEXEC_BUS must be 'servicebus' or 'memory', got {bus!r}")
        if bus == "servicebus" and not namespace and not connection_string:
            raise ConfigurationError(
                "AMLEXEC_BUS=servicebus needs ServiceBusConnection__fullyQualifiedNamespace "
                "(identity-based, for example mynamespace.servicebus.windows.net) or ServiceBusConnection "
                "(a connection string, for example the Service Bus emulator's)"
            )
        file = source.get("AMLEXEC_LINKED_SERVICES_FILE", "").strip()
        schedules_file = source.get("AMLEXEC_SCHEDULES_FILE", "").strip()
        triggers_file = source.get("AMLEXEC_TRIGGERS_FILE", "").strip()

        def name(key: str, default: str) -> str:
            return source.get(key, "").strip() or default

        return cls(
            linked_services_file=Path(file) if file else None,
            linked_services_json=source.get("AMLEXEC_LINKED_SERVICES", "").strip() or None,
            default_linked_service=source.get("AMLEXEC_DEFAULT_LINKED_SERVICE", "").strip() or None,
            data_factory_name=name("AMLEXEC_DATA_FACTORY_NAME", "amlexec"),
            max_payload_bytes=limit,
            local_runs_dir=Path(name("AMLEXEC_LOCAL_RUNS_DIR", ".amlexec/runs")),
            bus=bus,
            service_bus_namespace=namespace,
            service_bus_connection_string=connection_string,
            service_bus_emulator=connection_string is not None and _is_emulator(connection_string),
            request_queue=name("AMLEXEC_REQUEST_QUEUE", "amlexec-requests"),
            request_topic=source.get("AMLEXEC_REQUEST_TOPIC", "").strip() or None,
            request_subscription=source.get("AMLEXEC_REQUEST_SUBSCRIPTION", "").strip() or None,
            status_queue=name("AMLEXEC_STATUS_QUEUE", "amlexec-status"),
            rejected_queue=name("AMLEXEC_REJECTED_QUEUE", "amlexec-rejected"),
            events_topic=name("AMLEXEC_EVENTS_TOPIC", "amlexec-events"),
            poll_initial=_seconds(source, "AMLEXEC_POLL_INITIAL_SECONDS", 15, 0.1, 3600),
            poll_max=_seconds(source, "AMLEXEC_POLL_MAX_SECONDS", 300, 1, 86400),
            not_responding_grace=_seconds(source, "AMLEXEC_NOT_RESPONDING_GRACE_SECONDS", 900, 0, 7 * 86400),
            cancel_grace=_seconds(source, "AMLEXEC_CANCEL_GRACE_SECONDS", 600, 0, 7 * 86400),
            eventgrid_tracking=_flag(source, "AMLEXEC_EVENTGRID_TRACKING"),
            schedules_file=Path(schedules_file) if schedules_file else None,
            schedules_json=source.get("AMLEXEC_SCHEDULES", "").strip() or None,
            triggers_file=Path(triggers_file) if triggers_file else None,
            triggers_json=source.get("AMLEXEC_TRIGGERS", "").strip() or None,
            managed_identity_client_id=source.get("AZURE_CLIENT_ID", "").strip() or None,
            status_url_keys=_status_url_keys(source),
            public_base_url=source.get("AMLEXEC_PUBLIC_BASE_URL", "").strip().rstrip("/") or None,
            callback_allowed_hosts=source.get("AMLEXEC_CALLBACK_ALLOWED_HOSTS", "").strip(),
            eventgrid_topic_endpoint=source.get("AMLEXEC_EVENTGRID_TOPIC_ENDPOINT", "").strip() or None,
            eventgrid_subscription=source.get("AMLEXEC_EVENTGRID_SUBSCRIPTION", "").strip() or None,
            eventgrid_publish_started=_flag(source, "AMLEXEC_EVENTGRID_PUBLISH_STARTED"),
            **_request_index(source, bus),
        )


def load_linked_services(settings: Settings, env: Mapping[str, str] | None = None) -> LinkedServiceRegistry:
    """Build the registry from the settings' file and/or JSON setting (both may contribute)."""
    registry = LinkedServiceRegistry()
    if settings.linked_services_file is not None:
        registry = LinkedServiceRegistry.from_file(settings.linked_services_file, env=env)
    if settings.linked_services_json:
        registry.merge(
            LinkedServiceRegistry.from_json(settings.linked_services_json, source="AMLEXEC_LINKED_SERVICES", env=env)
        )
    return registry


def request_topic_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether requests also arrive on a topic subscription (``AMLEXEC_REQUEST_TOPIC`` and ``..._SUBSCRIPTION``).

    Read when the Function App is indexed, before anything else is: it reads only these two settings, so a
    mistake elsewhere in the configuration cannot stop the app from indexing.
    """
    source = os.environ if env is None else env
    return all(source.get(name, "").strip() for name in ("AMLEXEC_REQUEST_TOPIC", "AMLEXEC_REQUEST_SUBSCRIPTION"))


@functools.cache
def get_settings() -> Settings:
    """The worker's settings, built on first use and reused."""
    return Settings.from_env()


def eventgrid_output_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether completion events are also forwarded to Event Grid (``AMLEXEC_EVENTGRID_TOPIC_ENDPOINT`` and
    ``AMLEXEC_EVENTGRID_SUBSCRIPTION``, the events-topic subscription the forwarder reads).

    Read when the Function App is indexed, like :func:`request_topic_configured`.
    """
    source = os.environ if env is None else env
    return all(
        source.get(name, "").strip() for name in ("AMLEXEC_EVENTGRID_TOPIC_ENDPOINT", "AMLEXEC_EVENTGRID_SUBSCRIPTION")
    )


def json_documents(file: Path | None, inline: str | None, setting: str) -> list[tuple[Any, str, Path | None]]:
    """The JSON of ``<setting>_FILE`` and of ``<setting>`` itself, each with where it came from (for messages) and
    the folder relative paths inside it start from; both may be given. Unreadable or invalid JSON names the
    setting."""
    documents: list[tuple[Any, str, Path | None]] = []
    if file is not None:
        try:
            documents.append((json.loads(file.read_text(encoding="utf-8-sig")), file.name, file.parent))
        except OSError as exc:
            raise ConfigurationError(f"cannot read {setting}_FILE {file}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{setting}_FILE {file} is not valid JSON: {exc.msg}") from None
    if inline:
        try:
            documents.append((json.loads(inline), setting, None))
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{setting} is not valid JSON: {exc.msg}") from None
    return documents


def refuse_repeated_names(names: Iterable[str], kind: str) -> None:
    """The file and the setting may both contribute definitions: a ``kind`` name given twice is refused."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigurationError(f"{kind} name {name!r} is defined twice")
        seen.add(name)
