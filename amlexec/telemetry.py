"""Traces and correlated logs: OpenTelemetry when available, W3C trace context carried through messages.

``configure`` turns on Azure Monitor (``azure-monitor-opentelemetry``) once per worker when
``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set. ``span`` continues the trace a request message carried
(``traceparent`` / ``Diagnostic-Id``) and yields the traceparent to put on what the span sends, so the
completion event joins the request's trace. Without OpenTelemetry installed both are no-ops that still
pass the incoming traceparent along.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["configure", "span", "traceparent_of"]

logger = logging.getLogger(__name__)
_configured = False
_lock = threading.Lock()


def configure() -> None:
    """Start exporting to Application Insights when a connection string is configured (once per worker)."""
    global _configured
    with _lock:
        if _configured:
            return
        _configured = True
        if not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
            return
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor
        except ImportError:
            logger.warning(
                "APPLICATIONINSIGHTS_CONNECTION_STRING is set but azure-monitor-opentelemetry is "
                "not installed; traces are not exported"
            )
            return
        options: dict[str, Any] = {"logger_name": "amlexec"}
        auth = os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "")
        if "Authorization=AAD" in auth:
            # Key-based ingestion is off in the deployed App Insights: export with the app's managed identity.
            from azure.identity import ManagedIdentityCredential

            client_id = next((part.split("=", 1)[1] for part in auth.split(";") if part.startswith("ClientId=")), None)
            options["credential"] = ManagedIdentityCredential(client_id=client_id)
        configure_azure_monitor(**options)


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
