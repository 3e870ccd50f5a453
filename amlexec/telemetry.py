"""Telemetry the Functions way: the worker exports, amlexec adds each request's fields and quiets the SDKs.

**Export.** Traces and logs reach Application Insights through the Python worker's own Azure Monitor
set-up. ``"telemetryMode": "OpenTelemetry"`` in host.json and the app setting
``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`` make the worker call ``configure_azure_monitor`` once
(azure-monitor-opentelemetry, in requirements.txt) before it imports ``function_app.py``, and tell the host
so (the ``WorkerOpenTelemetryEnabled`` capability); the host then stops forwarding the worker's logs, and
every span and log record is exported once. amlexec configures no exporter of its own: a second
``configure_azure_monitor`` puts a second OpenTelemetry handler on the logger it names (the distro checks
only that logger), so every record goes out twice; and exporting from amlexec while the worker does not
also doubles the logs, because the host forwards them too. The exporter signs in with the identity named in
``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` by itself. ``configure`` warns when a connection string is
set but the worker's export is not switched on.

**Fields.** ``log_context`` (a context manager, and a decorator when called with no fields) and ``bind``
hold the identity of the request being handled (``requestId``, ``runId``, ``correlationId``,
``activityName``, ``attempt``) in a context variable, and a log record factory copies them onto every record
made meanwhile, whatever its logger. OpenTelemetry's logging handler exports the attributes a record
carries beyond the standard ones, and Application Insights shows them as ``customDimensions``.
Context variables are per thread and per asyncio task. The worker runs sync functions on a thread pool
without copying contexts. Each scope restores on exit what it found, so invocations never see each other's
fields, one after the other on a pool thread or side by side on two threads. Only these five identifiers
are ever fields: no other payload value, and no secret.

**SDK log levels.** The worker's root logger passes INFO from every library (one failed Service Bus send
wrote two dozen ``azure.servicebus`` INFO lines into a function's log; host.json's log levels govern only
the host). ``configure`` sets the Azure SDK, uamqp, urllib3 and MSAL loggers to WARNING, or to the level
named by the app setting ``AMLEXEC_SDK_LOG_LEVEL``, and sets them again when a library raises one (azure-ai-ml
sets its loggers to INFO when it is imported and on every ``MLClient``).

**Traces.** ``span`` continues the trace a request message carried (``traceparent`` / ``Diagnostic-Id``) and
yields the traceparent to put on what it sends, so the completion event joins the request's trace. Without
a configured tracer it still passes the incoming traceparent along. Nothing here imports OpenTelemetry
until a span is opened.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = [
    "FIELD_NAMES",
    "SDK_LOGGERS",
    "SDK_LOG_LEVEL_SETTING",
    "WORKER_TELEMETRY_SETTING",
    "bind",
    "configure",
    "current_fields",
    "log_context",
    "quiet_sdk_loggers",
    "sdk_log_level",
    "span",
    "traceparent_of",
    "worker_exports_telemetry",
]

logger = logging.getLogger(__name__)

# The app setting that turns on the Python worker's own Azure Monitor export (and the host's hand-off).
WORKER_TELEMETRY_SETTING = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
# The app setting that raises or lowers the SDK loggers below (DEBUG, INFO, WARNING, ERROR, CRITICAL).
SDK_LOG_LEVEL_SETTING = "AMLEXEC_SDK_LOG_LEVEL"
# Loggers of the libraries under amlexec that log per request at INFO. Setting "azure" covers every Azure SDK;
# the others are named too because a level set on a logger itself wins over its parent's (azure-ai-ml sets
# INFO on its own loggers when it is imported).
SDK_LOGGERS = (
    "azure",
    "azure.ai.ml",
    "azure.ai.ml._telemetry",  # azure-ai-ml's per-call ActivityStarted/Completed lines; INFO again on each MLClient
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "azure.servicebus",
    "azure.servicebus._pyamqp",
    "uamqp",
    "urllib3",
    "msal",
)
# azure-ai-ml also sets INFO, and a stderr handler, on a few of its modules' loggers at import.
_SDK_OWN_LEVELS = "azure.ai.ml."
# The record attributes a request's log records carry (customDimensions in Application Insights).
FIELD_NAMES = ("requestId", "runId", "correlationId", "activityName", "attempt")
_MAX_FIELD_CHARS = 256
_TRUE = ("1", "true", "t", "yes", "y")  # what the worker takes as "true" for its own settings
_FACTORY_MARK = "amlexec_log_fields"

# The fields of the request in hand; None outside any scope. Kept across importlib.reload (which runs this
# module again in the same namespace): a record factory installed before the reload reads this variable.
_FIELDS: ContextVar[dict[str, str | int] | None] = globals().get("_FIELDS") or ContextVar(
    "amlexec_log_fields", default=None
)
_configured = False
_quiet_level: int | None = None  # the level quiet_sdk_loggers last set
_lock = threading.Lock()


def worker_exports_telemetry() -> bool:
    """Whether the Functions Python worker exports traces and logs itself (its Azure Monitor set-up is on)."""
    return os.environ.get(WORKER_TELEMETRY_SETTING, "").strip().lower() in _TRUE


def configure() -> None:
    """Quiet the SDK loggers, put request fields on log records and check the export set-up, once per worker.

    Called at every invocation: after the first it only sets the SDK loggers' levels again if a library
    changed them since (azure-ai-ml, imported on the first launch, sets its loggers to INFO).
    """
    global _configured
    with _lock:
        configured, _configured = _configured, True
    if configured:
        _keep_sdk_loggers_quiet()
        return
    quiet_sdk_loggers()
    _install_record_factory()
    if os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING") and not worker_exports_telemetry():
        logger.warning(
            "APPLICATIONINSIGHTS_CONNECTION_STRING is set but %s is not true: no trace is exported and the "
            "host forwards the logs without their request fields; set %s=true (host.json has telemetryMode "
            "OpenTelemetry)",
            WORKER_TELEMETRY_SETTING,
            WORKER_TELEMETRY_SETTING,
        )


# ------------------------------------------------------------------------------------------- SDK log levels


def sdk_log_level() -> int:
    """The level for the SDK loggers: ``AMLEXEC_SDK_LOG_LEVEL`` (a level name or number), else WARNING."""
    level = _level_named(os.environ.get(SDK_LOG_LEVEL_SETTING, ""))
    return logging.WARNING if level is None else level


def _level_named(text: str) -> int | None:
    """The level a setting names (WARNING when it is empty); None when it names none."""
    text = text.strip()
    if not text:
        return logging.WARNING
    if text.isdigit():
        return int(text)
    return logging.getLevelNamesMapping().get(text.upper())


def quiet_sdk_loggers() -> int:
    """Set every logger in ``SDK_LOGGERS`` to :func:`sdk_log_level`; return that level."""
    global _quiet_level
    text = os.environ.get(SDK_LOG_LEVEL_SETTING, "")
    if _level_named(text) is None:
        logger.warning("%s=%r is not a log level; the SDK loggers are set to WARNING", SDK_LOG_LEVEL_SETTING, text)
    level = sdk_log_level()
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)
    for name, found in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(found, logging.Logger) and found.level and name.startswith(_SDK_OWN_LEVELS):
            found.setLevel(level)
    _quiet_level = level
    return level


def _keep_sdk_loggers_quiet() -> None:
    """Set the levels again if a library changed one since they were last set."""
    level = _quiet_level
    if level is not None and any(logging.getLogger(name).level != level for name in SDK_LOGGERS):
        quiet_sdk_loggers()


# ---------------------------------------------------------------------------------------- request fields


def _fields(
    request_id: str | None,
    run_id: str | None,
    correlation_id: str | None,
    activity_name: str | None,
    attempt: int | None,
) -> dict[str, str | int]:
    """The given fields by record attribute name; an empty or missing value is left out, not blanked."""
    texts = {"requestId": request_id, "runId": run_id, "correlationId": correlation_id, "activityName": activity_name}
    fields: dict[str, str | int] = {name: str(value)[:_MAX_FIELD_CHARS] for name, value in texts.items() if value}
    if isinstance(attempt, int) and not isinstance(attempt, bool):  # never raise over a field: skip an odd value
        fields["attempt"] = attempt
    return fields


@contextmanager
def log_context(
    *,
    request_id: str | None = None,
    run_id: str | None = None,
    correlation_id: str | None = None,
    activity_name: str | None = None,
    attempt: int | None = None,
) -> Iterator[None]:
    """A scope whose log records carry these fields, on top of the enclosing scope's; restored on exit.

    ``@log_context()`` on a function gives each call a scope of its own (``bind`` then fills it in). Pass the
    fields here, never as ``extra=`` of a log call: logging refuses an ``extra`` key a record already has.
    """
    _install_record_factory()
    token = _FIELDS.set(
        {**(_FIELDS.get() or {}), **_fields(request_id, run_id, correlation_id, activity_name, attempt)}
    )
    try:
        yield
    finally:
        _FIELDS.reset(token)


def bind(
    *,
    request_id: str | None = None,
    run_id: str | None = None,
    correlation_id: str | None = None,
    activity_name: str | None = None,
    attempt: int | None = None,
) -> None:
    """Add fields to the current scope until it ends (a value that is None or empty leaves a field as it is).

    Outside any scope nothing changes: nothing would restore the fields, and a pool thread would carry them
    into the next invocation it runs.
    """
    current = _FIELDS.get()
    if current is not None:
        _FIELDS.set({**current, **_fields(request_id, run_id, correlation_id, activity_name, attempt)})


def current_fields() -> dict[str, str | int]:
    """The fields log records made now would carry."""
    return dict(_FIELDS.get() or {})


class _FieldsRecordFactory:
    """Makes log records with the previous factory and copies the current scope's fields onto them."""

    amlexec_log_fields = True  # the mark _install_record_factory looks for (survives a reload of this module)

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        fields = _FIELDS.get()
        if fields:
            record.__dict__.update(fields)
        return record


def _install_record_factory() -> None:
    """Wrap the process's log record factory once (again if someone replaced it since)."""
    if getattr(logging.getLogRecordFactory(), _FACTORY_MARK, False):
        return
    with _lock:
        current = logging.getLogRecordFactory()
        if not getattr(current, _FACTORY_MARK, False):
            logging.setLogRecordFactory(_FieldsRecordFactory(current))


# ---------------------------------------------------------------------------------------------------- traces


def traceparent_of(properties: Mapping[Any, Any] | None) -> str | None:
    """The W3C traceparent a message carries (Service Bus sets Diagnostic-Id for the same purpose)."""
    if not properties:
        return None
    for key in ("traceparent", b"traceparent", "Diagnostic-Id", b"Diagnostic-Id"):
        value = properties.get(key)
        if value:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


@contextmanager
def span(name: str, traceparent: str | None, attributes: Mapping[str, str] | None = None) -> Iterator[str | None]:
    """A span continuing ``traceparent``; yields the traceparent of the new span (or the incoming one)."""
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        yield traceparent
        return
    propagator = TraceContextTextMapPropagator()
    parent = propagator.extract({"traceparent": traceparent}) if traceparent else None
    tracer = trace.get_tracer("amlexec")
    with tracer.start_as_current_span(name, context=parent, attributes=dict(attributes or {})) as current:
        carrier: dict[str, str] = {}
        propagator.inject(carrier)
        valid = current.get_span_context().is_valid
        yield carrier.get("traceparent") if valid and carrier.get("traceparent") else traceparent
