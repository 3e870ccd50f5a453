"""Completion events on an Event Grid custom topic, in the Event Grid schema, for Data Factory's custom event triggers.

Data Factory's custom event triggers read an Event Grid custom topic in the Event Grid event schema (not
CloudEvents), filter on the event type and on the subject's beginning and end, and hand
``@triggerBody().event.data.<key>`` to pipeline parameters; a key the event lacks fails the trigger run. So
amlexec's CloudEvents are re-shaped here rather than forwarded as they are:

- ``eventType`` is ``Amlexec.Run.<Kind>`` (``Amlexec.Run.Completed``, ``.Failed``, ``.Canceled``, ``.TimedOut``,
  ``.Rejected``, ``.Started``);
- ``subject`` is ``/activities/{activity}/experiments/{experiment}/requests/{requestId}/{status}``: a prefix
  picks an activity (and experiment), the suffix an outcome (``/failed``);
- ``data`` is flat (advanced filters cannot use keys with dots) and always carries every key of
  :data:`DATA_KEYS`, null when the event has no value for it, so a trigger that references one never fails;
- ``id`` (and ``data.eventId``) is the CloudEvent's id: every terminal event of a request has the same one.

The forwarder reads the events topic (one subscription), i.e. after Service Bus duplicate detection let one
terminal event per request through, so this is the only path from amlexec to the Event Grid topic. Event
Grid itself delivers at least once, and a Service Bus redelivery publishes again: consumers that must act
once dedupe on ``id``.

azure-eventgrid and azure-identity are imported where they are used, never at module import.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from amlexec.errors import AmlexecError, ConfigurationError, PermanentError, TransientError
from amlexec.events import EventKind

__all__ = [
    "DATA_KEYS",
    "DATA_VERSION",
    "EVENTGRID_SCOPE",
    "EVENT_TYPE_PREFIX",
    "SENDER_ROLE",
    "EventGridForwarder",
    "NotAnAmlexecEvent",
    "event_type",
    "to_eventgrid",
]

logger = logging.getLogger(__name__)

EVENT_TYPE_PREFIX = "Amlexec.Run."
DATA_VERSION = "1"
# The role the app's identity needs on the topic, and the token audience it publishes with.
SENDER_ROLE = "EventGrid Data Sender"
EVENTGRID_SCOPE = "https://eventgrid.azure.net/.default"

# Every key of ``data``, always present (null when absent): Data Factory fails a trigger run that references a
# key the event does not have, and a trigger is written once for events of every outcome.
DATA_KEYS = (
    "status",
    "eventId",
    "runId",
    "requestId",
    "correlationId",
    "activityName",
    "experimentName",
    "linkedService",
    "targetKind",
    "attempt",
    "maxAttempts",
    "startedAt",
    "endedAt",
    "durationSeconds",
    "studioUrl",
    "errorCode",
    "errorMessage",
    "outputs",
    "parameters",
    "issues",
    "truncatedKeys",
)

_CLOUD_TYPE_PREFIX = "com.amlexec.run."
_NONE = "-"  # a subject segment with no value (a rejection has no experiment)
# Budgets that keep one event far below Event Grid's 1 MB: three JSON values of at most 256 + 256 + 128 KiB,
# one message of 16 KiB and a dozen short strings.
_MAX_STRING = 1024
_MAX_ERROR_MESSAGE = 16 * 1024
_MAX_JSON_BYTES = {"outputs": 256 * 1024, "parameters": 256 * 1024, "issues": 128 * 1024}
_ELLIPSIS = "…"
_NOT_AMLEXEC_LOG_LIMIT = 80


class NotAnAmlexecEvent(ValueError):
    """A message body that is not one of amlexec's CloudEvents (not JSON, not an object, unknown type...)."""


def event_type(kind: EventKind) -> str:
    """The Event Grid ``eventType`` of an outcome: ``Amlexec.Run.Completed``, ``Amlexec.Run.TimedOut``..."""
    return EVENT_TYPE_PREFIX + kind.value[0].upper() + kind.value[1:]


def _kind_of(cloud_event: Mapping[str, Any]) -> EventKind:
    declared = cloud_event.get("type")
    if not isinstance(declared, str) or not declared.startswith(_CLOUD_TYPE_PREFIX):
        raise NotAnAmlexecEvent(f"type {str(declared)[:_NOT_AMLEXEC_LOG_LIMIT]!r} is not an amlexec event type")
    try:
        return EventKind(declared.removeprefix(_CLOUD_TYPE_PREFIX))
    except ValueError:
        raise NotAnAmlexecEvent(f"unknown amlexec event type {declared[:_NOT_AMLEXEC_LOG_LIMIT]!r}") from None


def _event_time(value: Any) -> str:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise NotAnAmlexecEvent("the event has no valid time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Shaper:
    """Builds the flat ``data`` of one event, recording every value it had to cut."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        self.source = source
        self.truncated: list[str] = []

    def string(self, key: str, value: Any = None, limit: int = _MAX_STRING) -> str | None:
        value = self.source.get(key) if value is None else value
        if value is None or isinstance(value, dict | list):
            return None
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) <= limit:
            return text
        self.truncated.append(key)
        return text[: limit - len(_ELLIPSIS)] + _ELLIPSIS

    def integer(self, key: str) -> int | None:
        value = self.source.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def number(self, key: str) -> float | int | None:
        value = self.source.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    def json_value(self, key: str, value: Any) -> Any:
        if value is None:
            return None
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size <= _MAX_JSON_BYTES[key]:
            return value
        # Too big to carry: a marker of the same JSON type says so and how big it was.
        self.truncated.append(key)
        marker = {"truncated": True, "sizeBytes": size}
        return [marker] if isinstance(value, list) else marker


def _issues_summary(issues: list[Any]) -> str | None:
    parts = []
    for issue in issues:
        if isinstance(issue, dict):
            path, message = issue.get("path") or "$", issue.get("message") or issue.get("code") or "invalid"
            parts.append(f"{path}: {message}")
    return "; ".join(parts) or None


def _segment(value: str | None) -> str:
    # Subject segments are split on "/", so a "/" inside a value is escaped, and "%" with it so the escaping is
    # unambiguous; nothing else is, so "/activities/Score loan applications/" is written as people read it.
    if not value:
        return _NONE
    return value.replace("%", "%25").replace("/", "%2F")


def to_eventgrid(cloud_event: Mapping[str, Any]) -> dict[str, Any]:
    """The Event Grid schema event for one amlexec CloudEvent (the JSON body of a message on the events topic).

    Raises :class:`NotAnAmlexecEvent` for anything else. Values the CloudEvent leaves out are null here: under
    ``secureInput`` it has no ``parameters`` and under ``secureOutput`` no ``errorMessage`` or ``outputs``, so
    neither has this event.
    """
    if not isinstance(cloud_event, Mapping):
        raise NotAnAmlexecEvent("the message body is not a JSON object")
    kind = _kind_of(cloud_event)
    event_id = cloud_event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise NotAnAmlexecEvent("the event has no id")
    source = cloud_event.get("data")
    if not isinstance(source, Mapping):
        raise NotAnAmlexecEvent("the event has no data object")
    shaper = _Shaper(source)
    target = source.get("target")
    issues = source.get("issues") if isinstance(source.get("issues"), list) else None
    error_code = shaper.string("errorCode")
    error_message = shaper.string("errorMessage", limit=_MAX_ERROR_MESSAGE)
    if kind is EventKind.REJECTED and issues:
        # A rejection's reasons are its issues: their first code and a one-line summary fill the error keys,
        # so a trigger reads every failure, rejected or not, from errorCode and errorMessage.
        first = issues[0] if isinstance(issues[0], dict) else {}
        error_code = error_code or shaper.string("errorCode", first.get("code") or "rejected")
        error_message = error_message or shaper.string("errorMessage", _issues_summary(issues), _MAX_ERROR_MESSAGE)
    outputs = source.get("outputs") if isinstance(source.get("outputs"), dict) else None
    parameters = source.get("parameters") if isinstance(source.get("parameters"), dict) else None
    data: dict[str, Any] = {
        "status": kind.value,
        # The event's id again, where a trigger can pass it on: Data Factory documents no expression for the id.
        "eventId": event_id,
        "runId": shaper.string("runId"),
        "requestId": shaper.string("requestId"),
        "correlationId": shaper.string("correlationId"),
        "activityName": shaper.string("activityName"),
        "experimentName": shaper.string("experimentName"),
        "linkedService": shaper.string("linkedService"),
        "targetKind": shaper.string("targetKind", target.get("kind") if isinstance(target, dict) else None),
        "attempt": shaper.integer("attempt"),
        "maxAttempts": shaper.integer("maxAttempts"),
        "startedAt": shaper.string("startedAt"),
        "endedAt": shaper.string("endedAt"),
        "durationSeconds": shaper.number("durationSeconds"),
        "studioUrl": shaper.string("studioUrl", limit=2 * _MAX_STRING),
        "errorCode": error_code,
        "errorMessage": error_message,
        "outputs": shaper.json_value("outputs", outputs),
        "parameters": shaper.json_value("parameters", parameters),
        "issues": shaper.json_value("issues", issues),
    }
    data["truncatedKeys"] = shaper.truncated
    subject = "/".join(
        [
            "",
            "activities",
            _segment(data["activityName"]),
            "experiments",
            _segment(data["experimentName"]),
            "requests",
            _segment(data["requestId"]),
            kind.value,
        ]
    )
    return {
        "id": event_id,
        "subject": subject,
        "eventType": event_type(kind),
        "eventTime": _event_time(cloud_event.get("time")),
        "data": data,
        "dataVersion": DATA_VERSION,
    }


def _parse(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise NotAnAmlexecEvent("the message body is not JSON") from None
    if not isinstance(document, dict):
        raise NotAnAmlexecEvent("the message body is not a JSON object")
    return document


# ------------------------------------------------------------------------------------------------ publishing


class _Pool:
    """Publisher clients, each used by one thread at a time.

    azure-eventgrid does not document its publisher client as thread-safe, and the requests transport under it
    says outright not to treat it as thread-safe (one requests Session per transport). The Functions worker runs
    invocations on a thread pool, so a publish checks a client out, uses it with no lock held, and checks it back
    in: at most ``size`` clients (connections), each created once and reused.
    """

    def __init__(self, factory: Callable[[], Any], size: int, wait: float, *, owned: bool = True) -> None:
        self._factory = factory
        self._size = size
        self._wait = wait
        self._owned = owned
        self._idle: list[Any] = []
        self._live = 0
        self._condition = threading.Condition()

    @contextmanager
    def lease(self) -> Iterator[Any]:
        client = self._checkout()
        try:
            yield client
        finally:
            with self._condition:
                self._idle.append(client)
                self._condition.notify()

    def _checkout(self) -> Any:
        deadline = time.monotonic() + self._wait
        with self._condition:
            while not self._idle and self._live >= self._size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransientError(
                        f"Event Grid: all {self._size} publisher clients stayed busy for {self._wait:.0f}s"
                    )
                self._condition.wait(remaining)
            if self._idle:
                return self._idle.pop()
            self._live += 1  # reserve the slot; the client is built outside the lock
        try:
            return self._factory()
        except BaseException:
            with self._condition:
                self._live -= 1
                self._condition.notify()
            raise

    def close(self) -> None:
        """Close the idle clients (the forwarder's lifetime is the worker's; this is for tests and shutdown)."""
        with self._condition:
            idle, self._idle = self._idle, []
            self._live -= len(idle)
        if not self._owned:
            return
        for client in idle:
            try:
                client.close()
            except Exception:
                logger.warning("Event Grid: closing a publisher client failed", exc_info=True)


def _status_of(error: BaseException) -> int | None:
    # azure-eventgrid re-raises a 404 as a new ResourceNotFoundError without the response: the status is on the
    # exception it was raised from.
    for candidate in (error, error.__cause__):
        status = getattr(candidate, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = {str(k).lower(): v for k, v in dict(headers).items()}.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _service_message(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


class EventGridForwarder:
    """Publishes amlexec's completion events to an Event Grid custom topic, in the Event Grid schema. Thread-safe.

    ``endpoint`` is the topic endpoint (``https://<topic>.<region>-1.eventgrid.azure.net/api/events``).
    ``credential`` defaults to ``DefaultAzureCredential`` for the app's managed identity
    (``managed_identity_client_id``); ``client`` is an already built ``EventGridPublisherClient`` to use instead
    (never used by two threads at once). ``started`` events are skipped unless ``publish_started``.

    Failures: 408, 429, 5xx and lost connections raise :class:`TransientError` (after ``retry_total`` retries
    inside the SDK), so the Service Bus message is redelivered; 401/403 and a missing topic raise
    :class:`ConfigurationError` naming the role or the setting; any other refusal :class:`PermanentError`. A
    message that is not an amlexec event is logged once and dropped.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        credential: Any = None,
        client: Any = None,
        publish_started: bool = False,
        managed_identity_client_id: str | None = None,
        max_clients: int = 8,
        retry_total: int = 3,
        timeout: float = 30.0,
        checkout_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            # Bearer tokens are only ever sent over TLS; Event Grid topic endpoints are https.
            raise ConfigurationError(
                "AMLEXEC_EVENTGRID_TOPIC_ENDPOINT must be the topic's https endpoint "
                "(https://<topic>.<region>-1.eventgrid.azure.net/api/events)"
            )
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        self._endpoint = endpoint
        self._host = parts.hostname
        self._credential = credential
        self._managed_identity_client_id = managed_identity_client_id
        self.publish_started = publish_started
        # Per call: the publisher client for Event Grid basic topics ignores pipeline options given to its
        # constructor, so the retry policy and timeouts travel with each send.
        self._send_options: dict[str, Any] = {
            "retry_total": retry_total,
            "retry_backoff_factor": 0.8,
            "retry_backoff_max": 10,
            "connection_timeout": timeout,
            "read_timeout": timeout,
        }
        self._credential_lock = threading.Lock()
        if client is not None:
            self._pool = _Pool(lambda: client, 1, checkout_timeout, owned=False)
        else:
            self._pool = _Pool(self._new_client, max_clients, checkout_timeout)

    def forward(self, body: bytes) -> None:
        """Publish the event in one message body of the events topic (or skip it; see the class)."""
        try:
            cloud_event = _parse(body)
            kind = _kind_of(cloud_event)
            if kind is EventKind.STARTED and not self.publish_started:
                return
            event = to_eventgrid(cloud_event)
        except NotAnAmlexecEvent as exc:
            # Never raised: a redelivery cannot make it an event, and it must not hold up the subscription.
            logger.warning("Event Grid: skipped a message that is not an amlexec event (%s)", exc)
            return
        self._publish(event)
        logger.info("Event Grid: published %s %s (event %s)", event["eventType"], event["subject"], event["id"])

    def close(self) -> None:
        """Close the publisher clients this forwarder created."""
        self._pool.close()

    def _publish(self, event: Mapping[str, Any]) -> None:
        from azure.core.exceptions import AzureError
        from azure.eventgrid import EventGridEvent

        grid_event = EventGridEvent(
            subject=event["subject"],
            event_type=event["eventType"],
            data=event["data"],
            data_version=event["dataVersion"],
            id=event["id"],
            event_time=datetime.fromisoformat(event["eventTime"]),
        )
        with self._pool.lease() as client:
            try:
                client.send([grid_event], **self._send_options)
            except AzureError as exc:
                raise self._classify(exc, event["id"]) from exc

    def _classify(self, error: BaseException, event_id: str) -> AmlexecError:
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

        where = f"Event Grid topic {self._host}"
        status = _status_of(error)
        message = _service_message(error)
        if isinstance(error, ServiceRequestError | ServiceResponseError):
            return TransientError(f"{where}: the connection failed ({message})")
        if status is None and isinstance(error, ClientAuthenticationError):
            return ConfigurationError(
                f"{where}: no token for {EVENTGRID_SCOPE} ({message}); check the app's managed identity "
                "(AZURE_CLIENT_ID)"
            )
        if status is None:
            return TransientError(f"{where}: {type(error).__name__}: {message}")
        if status in (408, 429) or status >= 500:
            return TransientError(f"{where} answered {status} ({message})", retry_after=_retry_after(error))
        if status in (401, 403):
            return ConfigurationError(
                f"{where} answered {status}: grant the app's identity the '{SENDER_ROLE}' role on the topic "
                "(its local authentication is off, so only Entra identities with that role can publish)"
            )
        if status == 404:
            return ConfigurationError(f"{where} answered 404: no topic there; check AMLEXEC_EVENTGRID_TOPIC_ENDPOINT")
        return PermanentError(f"{where} refused event {event_id} with {status} ({message})")

    def _new_client(self) -> Any:
        from azure.eventgrid import EventGridPublisherClient

        return EventGridPublisherClient(self._endpoint, self._shared_credential())

    def _shared_credential(self) -> Any:
        # One credential for every client: azure-identity caches tokens in memory and may be used by several
        # threads at once, so extra clients do not mean extra token requests.
        with self._credential_lock:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential(managed_identity_client_id=self._managed_identity_client_id)
            return self._credential
