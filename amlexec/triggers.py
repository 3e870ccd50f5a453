"""Azure Functions triggers: decode what the host hands over, call the core, map errors to retry or settle.

This module and ``function_app.py`` are the only ones that import ``azure.functions``. Every function
takes its entity names from app settings (``%Setting%``) and reaches Service Bus through the connection
``ServiceBusConnection``: identity-based (``ServiceBusConnection__fullyQualifiedNamespace``) in Azure, or a
connection string (the Service Bus emulator's) locally.

Error mapping, one rule for every trigger (``amlexec.errors.outcome_of``): a failure a retry cannot cure
(an invalid payload, a 403, a configuration error) is settled, its body kept on the rejected queue with the
reasons and a ``rejected`` event published; anything else is raised, so the host abandons the message and
Service Bus redelivers it, dead-lettering it after the queue's max delivery count. HTTP answers the same
split with 4xx/5xx for the permanent failures and 503 + ``Retry-After`` for the transient ones.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import azure.functions as func  # noqa: TID251 - the one module allowed to

from amlexec import http_api, telemetry
from amlexec.errors import (
    Outcome,
    RequestRejected,
    outcome_of,
)
from amlexec.handlers import (
    Rejected,
    Worker,
    default_worker,
    forward_event,
    handle_run_notification,
    handle_status_message,
    handle_tick,
    handle_trigger_events,
    is_event_delivery,
    process_request,
    request_progress,
    request_status,
    validate_request,
)
from amlexec.request import RequestContext
from amlexec.runref import InvalidProgressRef, decode_run_ref, encode_run_ref, sign_progress_ref, verify_progress_ref
from amlexec.runs import ProgressRef, RequestRef
from amlexec.settings import configured_bus, eventgrid_output_configured, get_settings, request_topic_configured

__all__ = ["SERVICE_BUS_CONNECTION", "blueprint"]

logger = logging.getLogger(__name__)

SERVICE_BUS_CONNECTION = "ServiceBusConnection"
_JSON = "application/json"

blueprint = func.Blueprint()  # type: ignore[no-untyped-call]

# Set in a worker process a real Functions host started: FUNCTIONS_WORKER_RUNTIME is the app setting the host
# picks the worker by (Core Tools reads it from local.settings.json), AzureWebJobsScriptRoot is the app root
# Core Tools and the Dedicated/Premium hosts set (the Python worker reads it), and FUNCTIONS_APPLICATION_DIRECTORY
# is set by the host itself on every language worker process it starts.
_HOST_MARKERS = ("FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsScriptRoot", "FUNCTIONS_APPLICATION_DIRECTORY")


def _warn_if_memory_bus_under_host(env: Mapping[str, str] | None = None) -> bool:
    """Under a real Functions host the in-memory bus serves only the HTTP functions: say so, loudly.

    Called once, when the host indexes the app (so once per worker process). Reads only the bus settings and
    the host's own variables, and never raises: a configuration mistake must not stop the app from indexing.
    Returns whether it warned.
    """
    source = os.environ if env is None else env
    if configured_bus(source) != "memory" or not any(source.get(name, "").strip() for name in _HOST_MARKERS):
        return False
    reason = "AMLEXEC_BUS=memory" if source.get("AMLEXEC_BUS", "").strip() else "no ServiceBusConnection is set"
    logger.warning(
        "IN-MEMORY BUS UNDER A FUNCTIONS HOST (%s): only the HTTP functions serve. Status checks, scheduled "
        "requests and completion events stay inside this worker process and nothing delivers them: a run "
        "launched here is never tracked to its end and no event leaves the process. Set ServiceBusConnection "
        "(the Service Bus emulator's connection string; docs/local-development.md) or "
        "ServiceBusConnection__fullyQualifiedNamespace, and leave AMLEXEC_BUS unset or 'servicebus'.",
        reason,
    )
    return True


_warn_if_memory_bus_under_host()


def _worker() -> Worker:
    telemetry.configure()
    return default_worker(get_settings())


def _request_context(msg: func.ServiceBusMessage, trigger_name: str, worker: Worker) -> RequestContext:
    enqueued = msg.enqueued_time_utc or datetime.now(UTC)
    return RequestContext(
        request_id=msg.message_id or f"sb-{uuid.uuid4()}",
        received_at=enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC),
        trigger_type="ServiceBus",
        trigger_name=trigger_name,
        correlation_id=msg.correlation_id,
        data_factory=worker.settings.data_factory_name,
    )


def _handle_request_message(msg: func.ServiceBusMessage, trigger_name: str) -> None:
    worker = _worker()
    body = msg.get_body()
    context = _request_context(msg, trigger_name, worker)
    if is_event_delivery(body):
        # Storage or custom-topic events Event Grid delivered to the queue: they start Data Factory triggers.
        fired = handle_trigger_events(body, worker, context)
        logger.info("event delivery %s from %s started %d request(s)", msg.message_id, trigger_name, len(fired))
        return
    traceparent = telemetry.traceparent_of(msg.application_properties)
    with telemetry.log_context(request_id=context.request_id, correlation_id=context.correlation_id, attempt=1):
        logger.info(
            "request %s (correlation %s, delivery %s) from %s",
            context.request_id,
            context.correlation_id,
            msg.delivery_count,
            trigger_name,
        )
        process_request(body, context, worker, traceparent=traceparent)


@blueprint.function_name("requests")
@blueprint.service_bus_queue_trigger(
    arg_name="msg", queue_name="%AMLEXEC_REQUEST_QUEUE%", connection=SERVICE_BUS_CONNECTION
)
def requests_queue(msg: func.ServiceBusMessage) -> None:
    """A launch request from the request queue: launch it exactly once, or reject it with reasons."""
    _handle_request_message(msg, get_settings().request_queue)


if request_topic_configured():
    # Registered only when configured: a topic subscription is an alternative way in, not a requirement.
    @blueprint.function_name("requests_topic")
    @blueprint.service_bus_topic_trigger(
        arg_name="msg",
        topic_name="%AMLEXEC_REQUEST_TOPIC%",
        subscription_name="%AMLEXEC_REQUEST_SUBSCRIPTION%",
        connection=SERVICE_BUS_CONNECTION,
    )
    def requests_topic(msg: func.ServiceBusMessage) -> None:
        """A launch request from a topic subscription (same handling as the queue)."""
        settings = get_settings()
        _handle_request_message(msg, settings.request_topic or settings.request_queue)


if eventgrid_output_configured():
    # Registered only when configured: Data Factory custom event triggers read Event Grid, not Service Bus.
    @blueprint.function_name("events_to_eventgrid")
    @blueprint.service_bus_topic_trigger(
        arg_name="msg",
        topic_name="%AMLEXEC_EVENTS_TOPIC%",
        subscription_name="%AMLEXEC_EVENTGRID_SUBSCRIPTION%",
        connection=SERVICE_BUS_CONNECTION,
    )
    def events_to_eventgrid(msg: func.ServiceBusMessage) -> None:
        """A completion event from the events topic, published again to the Event Grid custom topic."""
        forward_event(msg.get_body(), _worker())


@blueprint.function_name("status_checks")
@blueprint.service_bus_queue_trigger(
    arg_name="msg", queue_name="%AMLEXEC_STATUS_QUEUE%", connection=SERVICE_BUS_CONNECTION
)
def status_checks(msg: func.ServiceBusMessage) -> None:
    """A scheduled look at a run in flight (reschedule, cancel, relaunch, or publish its terminal event), or a
    WebHook callback to deliver."""
    handle_status_message(msg.get_body(), _worker())


@blueprint.function_name("scheduler")
@blueprint.timer_trigger(arg_name="timer", schedule="%AMLEXEC_SCHEDULER_TICK%", run_on_startup=False, use_monitor=True)
def scheduler(timer: func.TimerRequest) -> None:
    """Every tick: enqueue a request for each configured schedule occurrence that fell due."""
    worker = _worker()
    status = getattr(timer, "schedule_status", None) or {}
    last = status.get("Last") if isinstance(status, dict) else None
    last_tick = _last_tick(last)
    if last_tick is None and last:
        logger.info("scheduler: no previous tick recorded (Last=%s); looking back one tick", last)
    if timer.past_due and last_tick is not None:
        logger.warning("scheduler tick is past due (last tick %s): launching the latest missed occurrences", last)
    handle_tick(worker, last_tick=last_tick)


# The timer extension reports this as the last tick when it has none stored (the first tick after deploy).
_NEVER = datetime(1900, 1, 1, tzinfo=UTC)


def _last_tick(value: object) -> datetime | None:
    """The previous tick from the timer's ``ScheduleStatus.Last``; None when there is none (or it is unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        logger.warning("scheduler: unreadable ScheduleStatus.Last %r; looking back one tick", value)
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None if parsed < _NEVER else parsed


# ---------------------------------------------------------------------------------------------------- HTTP


def _respond(answer: http_api.Answer) -> func.HttpResponse:
    return func.HttpResponse(answer.text(), status_code=answer.status, mimetype=_JSON, headers=answer.headers or None)


@blueprint.function_name("runs_submit")
@blueprint.route(route="runs", methods=["POST"])
def runs_submit(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/runs: launch a payload; 202 with the run id and a status URL for a Data Factory Until loop.

    Send ``Idempotency-Key`` (for example ``@{pipeline().RunId}``): a retried call with the same key finds
    the run it started instead of launching another.
    """
    worker = _worker()
    key = req.headers.get("Idempotency-Key") or req.headers.get("x-ms-client-request-id")
    context = RequestContext(
        request_id=f"http:{key}" if key else f"http:{uuid.uuid4()}",
        received_at=worker.clock.now(),
        trigger_type="Manual",
        trigger_name="http",
        correlation_id=req.headers.get("x-correlation-id"),
        data_factory=worker.settings.data_factory_name,
    )
    body = req.get_body()
    try:
        launched = process_request(body, context, worker, traceparent=req.headers.get("traceparent"))
    except Exception as exc:  # every failure becomes a precise HTTP answer
        return _respond(http_api.failure(exc))
    if isinstance(launched, Rejected):
        return _respond(http_api.failure(launched.error))
    try:
        base = _public_base_url(req, worker)
        token = sign_progress_ref(ProgressRef.of(launched.request), worker.settings.status_url_key())
    except Exception as exc:  # a missing signing key is the app's configuration: a precise 500
        return _respond(http_api.failure(exc))
    return _respond(http_api.submitted(launched, encode_run_ref(launched.handle), f"{base}/api/progress/{token}", base))


def _public_base_url(req: func.HttpRequest, worker: Worker) -> str:
    """Where callers reach this app: the configured public URL, else the host the request came to.

    Data Factory follows ``Location`` itself, so it must be absolute. Behind the Functions front end the
    original host arrives as ``X-Forwarded-Host`` (or ``Host``) and the scheme as ``X-Forwarded-Proto``.
    """
    if worker.settings.public_base_url:
        return worker.settings.public_base_url
    headers = req.headers
    host = (headers.get("x-forwarded-host") or headers.get("host") or "").split(",")[0].strip()
    if not host:
        host = urlsplit(req.url).netloc
    proto = (headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    if proto not in ("http", "https"):
        local = host.split(":")[0] in ("localhost", "127.0.0.1", "[::1]")
        proto = "http" if local and urlsplit(req.url).scheme == "http" else "https"
    return f"{proto}://{host}"


@blueprint.function_name("progress")
@blueprint.route(route="progress/{token}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def progress(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/progress/{token}: a request's progress for Data Factory's Web activity (202 until it ends).

    Anonymous on purpose: the URL authenticates itself (signed, see ``amlexec.runref``) and reveals only the
    progress of the request it was issued for; Data Factory may not replay the POST's key on these GETs.
    """
    worker = _worker()
    token = req.route_params.get("token", "")
    try:
        ref = verify_progress_ref(token, worker.settings.status_url_verification_keys())
    except InvalidProgressRef:
        return _respond(http_api.unknown_progress())
    url = f"{_public_base_url(req, worker)}/api/progress/{token}"
    try:
        if isinstance(ref, RequestRef):
            return _respond(http_api.request_progress_answer(request_status(ref.request_id, worker), url))
        return _respond(http_api.progress(ref.request_id, url, request_progress(ref, worker)))
    except Exception as exc:  # every failure becomes a precise HTTP answer
        return _respond(http_api.failure(exc))


@blueprint.function_name("requests_status")
@blueprint.route(route="requests/{request_id}", methods=["GET"])
def requests_status(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/requests/{requestId}: a request sent through the queue, by its message id (202 until it ends).

    Behind the function key; a 202's Location is the request's signed progress URL, which Data Factory's Web
    activity can follow without the key.
    """
    worker = _worker()
    request_id = req.route_params.get("request_id", "")
    try:
        token = sign_progress_ref(RequestRef(request_id), worker.settings.status_url_key())
        url = f"{_public_base_url(req, worker)}/api/progress/{token}"
        return _respond(http_api.request_progress_answer(request_status(request_id, worker), url))
    except Exception as exc:  # every failure becomes a precise HTTP answer
        return _respond(http_api.failure(exc))


@blueprint.function_name("runs_status")
@blueprint.route(route="runs/{run_id}", methods=["GET"])
def runs_status(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/runs/{runId}: where a run stands, shaped for a Data Factory Until loop (``isTerminal``)."""
    worker = _worker()
    run_ref = req.route_params.get("run_id", "")
    try:
        handle = decode_run_ref(run_ref, worker.registry)
        status = worker.launchers.status(handle)
    except Exception as exc:  # every failure becomes a precise HTTP answer
        return _respond(http_api.failure(exc))
    return _respond(http_api.run_status(run_ref, handle, status))


@blueprint.function_name("validate")
@blueprint.route(route="validate", methods=["POST"])
def validate_http(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/validate: validate and preview-resolve a payload; 200 with the request, 422 with issues."""
    try:
        report = validate_request(req.get_body(), get_settings())
    except RequestRejected as rejected:
        return _respond(http_api.invalid_payload(rejected))
    except Exception as exc:  # every failure becomes a precise HTTP answer
        return _respond(http_api.failure(exc))
    return _respond(http_api.validated(report))


@blueprint.function_name("openapi")
@blueprint.route(route="openapi.json", methods=["GET"])
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/openapi.json: the OpenAPI 3.1 document of this API."""
    return func.HttpResponse(http_api.openapi_text(), status_code=200, mimetype=_JSON)


# ---------------------------------------------------------------------------------------------- Event Grid


@blueprint.function_name("run_events")
@blueprint.event_grid_trigger(arg_name="event")
def run_events(event: func.EventGridEvent) -> None:
    """Azure ML run events: a run amlexec launched that ended gets its terminal event at once."""
    data = event.get_json()
    if isinstance(data, str | bytes):  # data published as a JSON string rather than an object
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    try:
        handle_run_notification(event.event_type, data, _worker())
    except Exception as exc:
        if outcome_of(exc) is Outcome.RETRY:
            raise  # Event Grid retries with backoff; the status checks end the run in any case
        logger.error("Event Grid event %s for %s: %s; left to the status checks", event.id, event.subject, exc)
