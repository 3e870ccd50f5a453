"""Typed app settings, read once per worker from the environment (Function App settings in Azure).

Operators: every setting is listed in ``local.settings.sample.json`` and in the README. A missing or
malformed value fails with a ConfigurationError naming the setting, rather than misbehaving later.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from amlexec.errors import ConfigurationError
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.validation import PREMIUM_TIER_MAX_MESSAGE, STANDARD_TIER_MAX_MESSAGE, Limits

__all__ = [
    "SETTING_NAMES",
    "Settings",
    "eventgrid_output_configured",
    "get_settings",
    "json_documents",
    "load_linked_services",
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
        namespace = source.get("ServiceBusConnection__fullyQualifiedNamespace", "").strip() or None
        bus = source.get("AMLEXEC_BUS", "").strip().lower() or ("servicebus" if namespace else "memory")
        if bus not in ("servicebus", "memory"):
            raise ConfigurationError(f"AMLEXEC_BUS must be 'servicebus' or 'memory', got {bus!r}")
        if bus == "servicebus" and not namespace:
            raise ConfigurationError(
                "AMLEXEC_BUS=servicebus needs ServiceBusConnection__fullyQualifiedNamespace "
                "(for example mynamespace.servicebus.windows.net)"
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
