"""The ``amlexec`` command line: validate, resolve and inspect payloads, evaluate expressions.

A command never shows a Python traceback. Whatever stops it, ``main`` turns into one line on stderr,
``amlexec: error: <what> (<where>); <what to do>``, and one of the exit codes in ``EXIT_CODES`` (listed by
``amlexec --help``). Handlers raise (a ``CliError`` when they know better); ``main`` alone turns whatever was
raised into that line and code, through ``_explain``.
Azure SDK logging (credential probes, HTTP retries) is kept off the terminal unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from amlexec.clock import parse_instant
from amlexec.errors import AmlexecError, ConfigurationError, Issue, PermanentError, RequestRejected, TransientError
from amlexec.expressions import ExpressionError, evaluate
from amlexec.linked_services import LinkedServiceRegistry, secret_setting_name
from amlexec.request import RequestContext
from amlexec.resolve import preview, resolve
from amlexec.schema import payload_schema_text
from amlexec.settings import Settings, load_linked_services
from amlexec.validation import ValidatedPayload, validate_payload

if TYPE_CHECKING:
    from amlexec.linked_services import LinkedService

__all__ = ["EXIT_CODES", "CliError", "main"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_INVALID = 2
EXIT_NOT_COMPLETED = 3
EXIT_USAGE = 64  # sysexits.h EX_USAGE: argparse's own 2 would read as "invalid payload"
EXIT_NO_INPUT = 66  # EX_NOINPUT: the command line was fine, the file it names is not there
EXIT_SOFTWARE = 70  # EX_SOFTWARE
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: the same command may succeed later
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success: valid, resolved, sent, or the run completed (with --no-wait: started)"),
    (
        EXIT_CONFIG,
        "configuration or access: a setting, the linked services, a credential, a role missing on "
        "the workspace or queue, or another refusal that retrying will not change",
    ),
    (EXIT_INVALID, "invalid: a payload, expression or --context was read but is not valid; the request was rejected"),
    (EXIT_NOT_COMPLETED, "the run 'amlexec run' followed ended failed, canceled or timed out"),
    (
        EXIT_USAGE,
        "usage: the command line is wrong (unknown command or option, missing argument, malformed "
        "--param, --trigger-time or --now)",
    ),
    (EXIT_NO_INPUT, "an input file named on the command line cannot be read (missing, a directory, no permission)"),
    (EXIT_SOFTWARE, "internal error: a bug in amlexec; --verbose shows the traceback"),
    (EXIT_TEMPFAIL, "temporary: throttled, timed out or unreachable; the same command may succeed later"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    (EXIT_BROKEN_PIPE, "standard output was closed early (piped into head); nothing more is printed"),
)

# Loggers that belong to the Azure SDK and its HTTP stack: their warnings (every credential DefaultAzureCredential
# tried, each HTTP retry) are useful when debugging and noise otherwise.
_SDK_LOGGERS = ("azure", "msal", "urllib3", "uamqp", "pyamqp")


class CliError(Exception):
    """A failure the command line explains in one line: what went wrong, where, and what to do about it."""

    def __init__(self, code: int, what: str, where: str | None = None, todo: str | None = None) -> None:
        super().__init__(what)
        self.code = code
        self.what = what
        self.where = where
        self.todo = todo


@dataclass
class FileReport:
    """The outcome of validating one file."""

    file: str
    valid: bool
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    deferred: list[Issue] = field(default_factory=list)
    request: dict[str, Any] | None = None
    readable: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "valid": self.valid,
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
            "deferred": [i.to_dict() for i in self.deferred],
        }
        if self.request is not None:
            out["request"] = self.request
        return out


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("amlexec")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from amlexec import __version__

        return __version__


def _parse_time(text: str) -> datetime:
    moment = parse_instant(text)
    if moment is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}")
    return moment.astimezone(UTC)


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value  # a bare word is a string, as a user typing --param day=monday means
    return name, parsed


def _read_input(path: str, what: str) -> bytes:
    """An input file named on the command line (a payload, a context); unreadable is its own exit code."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CliError(
            EXIT_NO_INPUT,
            f"cannot read {what}: {reason}",
            path,
            "check the path (a file, not a folder) and that you may read it",
        ) from None


def _registry(args: argparse.Namespace, settings: Settings) -> LinkedServiceRegistry | None:
    if getattr(args, "linked_services", None):
        registry = LinkedServiceRegistry()
        for path in args.linked_services:
            registry.merge(LinkedServiceRegistry.from_file(path))
        return registry
    if settings.linked_services_file or settings.linked_services_json:
        return load_linked_services(settings)
    return None


def _require_registry(args: argparse.Namespace, settings: Settings) -> LinkedServiceRegistry:
    registry = _registry(args, settings)
    if registry is None:
        raise CliError(
            EXIT_CONFIG,
            f"{args.command} needs linked services",
            args.file,
            "pass --linked-services FILE or set AMLEXEC_LINKED_SERVICES_FILE",
        )
    return registry


def _context(args: argparse.Namespace, settings: Settings) -> RequestContext:
    now = getattr(args, "trigger_time", None) or datetime.now(UTC)
    return RequestContext(
        request_id=getattr(args, "request_id", None) or f"cli-{uuid.uuid4()}",
        received_at=now,
        trigger_type="Manual",
        trigger_name="amlexec-cli",
        scheduled_time=getattr(args, "trigger_time", None),
        data_factory=settings.data_factory_name,
    )


def _with_params(payload: ValidatedPayload, params: list[tuple[str, Any]]) -> ValidatedPayload:
    if not params:
        return payload
    pipeline = payload.envelope.pipeline
    merged = {**pipeline.parameters, **dict(params)}
    envelope = payload.envelope.model_copy(update={"pipeline": pipeline.model_copy(update={"parameters": merged})})
    return ValidatedPayload(envelope, payload.bare_activity, payload.warnings, payload.size_bytes)


def _validate_file(
    path: str, registry: LinkedServiceRegistry | None, settings: Settings, args: argparse.Namespace
) -> FileReport:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        # Reported with the other files rather than stopping: one missing file should not hide the rest.
        return FileReport(
            path, False, [Issue("$", f"cannot read file: {exc.strerror}", code="unreadable")], readable=False
        )
    try:
        payload = validate_payload(data, limits=settings.limits)
    except RequestRejected as rejected:
        return FileReport(path, False, rejected.issues)
    report = FileReport(path, True, warnings=list(payload.warnings))
    if registry is None:
        report.warnings.append(
            Issue("linkedServiceName", "linked services not checked (pass --linked-services)", code="not_checked")
        )
        return report
    try:
        resolution = preview(
            _with_params(payload, getattr(args, "param", None) or []),
            _context(args, settings),
            registry,
            default_linked_service=settings.default_linked_service,
        )
    except RequestRejected as rejected:
        return FileReport(path, False, rejected.issues, report.warnings)
    service = registry.get(resolution.request.linked_service)
    if service is not None and service.problems:
        for problem in service.problems:
            report.warnings.append(
                Issue(
                    payload.path_prefix + "linkedServiceName",
                    f"linked service '{service.name}' cannot launch yet: {problem}",
                    code="linked_service_unusable",
                )
            )
    report.deferred = resolution.deferred
    report.warnings.extend(resolution.warnings)
    report.request = resolution.request.public_view()
    return report


def _print_issue(label: str, issue: Issue) -> None:
    sys.stdout.write(f"  {label} {_one_line(str(issue))}\n")


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(args, settings)
    reports = [_validate_file(path, registry, settings, args) for path in args.files]
    if args.json:
        json.dump(
            {"valid": all(r.valid for r in reports), "files": [r.to_dict() for r in reports]}, sys.stdout, indent=2
        )
        sys.stdout.write("\n")
    else:
        for report in reports:
            if report.valid:
                target = ""
                if report.request:
                    t = report.request["target"]
                    named = next(v for k, v in t.items() if k != "kind")
                    target = f": {t['kind'].replace('_', ' ')} {named} via {report.request['linked_service']}"
                sys.stdout.write(f"valid    {report.file}{target}\n")
            else:
                sys.stdout.write(f"INVALID  {report.file}: {len(report.errors)} error(s)\n")
            for issue in report.errors:
                _print_issue("error  ", issue)
            for issue in report.warnings:
                _print_issue("warning", issue)
            for issue in report.deferred:
                _print_issue("runtime", issue)
    listed = "in the report" if args.json else "above"
    unreadable = [r.file for r in reports if not r.readable]
    if unreadable:
        raise CliError(
            EXIT_NO_INPUT,
            f"cannot read {len(unreadable)} of {len(reports)} file(s)",
            unreadable[0],
            "check the paths: a file, not a folder, that you may read",
        )
    invalid = [r.file for r in reports if not r.valid]
    if invalid:
        raise CliError(
            EXIT_INVALID,
            f"{len(invalid)} of {len(reports)} payload(s) invalid",
            invalid[0],
            f"fix the errors listed {listed}",
        )
    return EXIT_OK


def _cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    registry = _require_registry(args, settings)
    payload = validate_payload(_read_input(args.file, "payload"), limits=settings.limits)
    request = resolve(
        _with_params(payload, args.param or []),
        _context(args, settings),
        registry,
        default_linked_service=settings.default_linked_service,
    )
    json.dump(request.public_view(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _rejection(issues: list[Issue]) -> AmlexecError:
    """The error behind a ``rejected`` event: a payload's issues, or one permanent launch failure.

    The host settles a permanent failure (access denied, a configuration error) as a rejection with one
    issue carrying the error's code; the CLI still reports it by its cause, not as an invalid payload.
    """
    from amlexec.launch.failures import AccessDenied, TargetNotFound

    if len(issues) == 1:
        causes = (AccessDenied, ConfigurationError, TargetNotFound, PermanentError)
        by_code: dict[object, type[PermanentError]] = {getattr(c, "code", None): c for c in reversed(causes)}
        cause = by_code.get(issues[0].code)
        if cause is not None:
            return cause(issues[0].message)
    return RequestRejected(issues or [Issue("$", "the request was rejected")])


def _run_outcome(events: list[dict[str, Any]], args: argparse.Namespace, *, gave_up: bool) -> int:
    terminal = [e for e in events if not e["type"].endswith(".started")]
    if not terminal:
        if gave_up:
            raise CliError(
                EXIT_TEMPFAIL,
                "gave up after repeated temporary failures",
                args.file,
                f"try again later: 'amlexec run {args.file} --request-id {args.request_id}' is safe to "
                "repeat (--verbose shows each failure)",
            )
        if args.no_wait:
            return EXIT_OK
        raise CliError(
            EXIT_NOT_COMPLETED,
            "stopped following the run before it ended",
            args.file,
            f"'amlexec run {args.file} --request-id {args.request_id}' follows it again",
        )
    last = terminal[-1]
    data: dict[str, Any] = last.get("data") or {}
    if last["type"].endswith(".rejected"):
        raise _rejection([Issue(**issue) for issue in data.get("issues") or []])
    if last["type"].endswith(".completed"):
        return EXIT_OK
    error = ": ".join(str(data[k]) for k in ("errorCode", "errorMessage") if data.get(k))
    seen = f"see {data['studioUrl']}" if data.get("studioUrl") else "see the run in Azure ML studio"
    raise CliError(
        EXIT_NOT_COMPLETED,
        f"run {data.get('runId')} {data.get('status', 'did not complete')}" + (f": {error}" if error else ""),
        args.file,
        seen,
    )


_RUN_FIRST_CHECK = timedelta(seconds=1)
_RUN_LONGEST_WAIT = timedelta(seconds=60)


class _Progress:
    """What ``amlexec run`` is waiting for, on stderr: a live line on a terminal, a plain line per change otherwise.

    stdout keeps carrying only the events (JSON lines), so ``amlexec run … | jq`` is unaffected.
    """

    def __init__(self, stream: Any, now: Callable[[], datetime]) -> None:
        self._stream = stream
        self._now = now
        self._start = now()
        self._live = bool(getattr(stream, "isatty", lambda: False)())
        self._last = "launching"
        self._shown = False

    def _elapsed(self) -> str:
        seconds = int((self._now() - self._start).total_seconds())
        return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def status(self, what: str) -> None:
        if not what or what == self._last:
            return
        self._last = what
        if self._live:
            self.tick()
        else:
            self._stream.write(f"amlexec: {self._elapsed()} {what}\n")
            self._stream.flush()

    def tick(self) -> None:
        if self._live:
            self._stream.write(f"\r\x1b[2Kamlexec: {self._elapsed()} {self._last}")
            self._stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
            self._shown = False


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    from amlexec.handlers import Worker
    from amlexec.inprocess import InProcessHost

    registry = _require_registry(args, settings)
    # Chosen here, not by the host, so an interrupted or failed run can be followed again by the same id.
    # Short: the id is part of every status-check message id, which Service Bus caps at 128 characters.
    args.request_id = args.request_id or f"cli-{uuid.uuid4().hex[:16]}"
    body = _read_input(args.file, "payload")
    if args.param:
        payload = _with_params(validate_payload(body, limits=settings.limits), args.param)
        body = payload.envelope.model_dump_json(by_alias=True, exclude_none=True).encode()
    # A person is waiting: look soon (a local pipeline takes seconds), then back off to a minute at most.
    local = dataclasses.replace(
        settings,
        bus="memory",
        poll_initial=min(settings.poll_initial, _RUN_FIRST_CHECK),
        poll_max=min(settings.poll_max, _RUN_LONGEST_WAIT),
    )
    worker = Worker.create(local, registry=registry)
    progress = _Progress(sys.stderr, worker.clock.now)

    def show(event: dict[str, Any]) -> None:
        progress.clear()
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()  # events are progress: a reader (jq, a log) should see each as it happens
        kind = str(event.get("type", "")).rsplit(".", 1)[-1]
        progress.status("launched, waiting for the run" if kind == "started" else f"ended: {kind}")

    # Three deliveries (each with the SDK's own retries) before giving up, not ten.
    host = InProcessHost(worker, on_event=show, on_status=progress.status, on_wait=progress.tick, max_deliveries=3)
    host.send(body, message_id=args.request_id)
    try:
        events = host.run_until_idle(max_wait=timedelta(0) if args.no_wait else None)
    finally:
        progress.clear()
    # The host redelivers a message that failed for a temporary reason, as Service Bus does, and in the end
    # dead-letters it.
    return _run_outcome(events, args, gave_up=bool(host.dead_letters))


def _operator(args: argparse.Namespace, settings: Settings) -> Any:
    from amlexec.operator import ServiceBusOperator

    return ServiceBusOperator(settings, connection_string=getattr(args, "connection_string", None))


def _cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    body = _read_input(args.file, "payload")
    try:
        validate_payload(body, limits=settings.limits)
    except RequestRejected as rejected:
        if not args.force:
            raise
        sys.stderr.write(
            _line("warning", f"sending an invalid payload: {rejected}", args.file, "--force was given") + "\n"
        )
    message_id = _operator(args, settings).send(
        body, message_id=args.message_id, correlation_id=args.correlation_id, queue=args.queue
    )
    sys.stdout.write(f"sent {message_id}\n")
    return EXIT_OK


def _cmd_rejected(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "list":
        for item in _operator(args, settings).list_rejected(max_count=args.max):
            sys.stdout.write(f"#{item.sequence_number}  {item.original_message_id}  {item.rejected_at}\n")
            for issue in item.issues:
                sys.stdout.write(f"    {issue.get('path')}: {_one_line(str(issue.get('message')))}\n")
        return EXIT_OK
    if args.sequence is None:
        raise CliError(
            EXIT_USAGE,
            "rejected resubmit needs --sequence N",
            "amlexec rejected",
            "'amlexec rejected list' shows the sequence numbers",
        )
    body = _read_input(args.body, "payload (--body)") if args.body else None
    new_id = _operator(args, settings).resubmit(args.sequence, body=body)
    sys.stdout.write(f"resubmitted #{args.sequence} as {new_id}\n")
    return EXIT_OK


def _cmd_eventgrid(args: argparse.Namespace, settings: Settings) -> int:
    from amlexec.eventgrid_output import EventGridForwarder

    if not settings.eventgrid_topic_endpoint:
        raise ConfigurationError("set AMLEXEC_EVENTGRID_TOPIC_ENDPOINT (the Event Grid topic to publish to)")
    forwarder = EventGridForwarder(
        settings.eventgrid_topic_endpoint,
        publish_started=settings.eventgrid_publish_started,
        managed_identity_client_id=settings.managed_identity_client_id,
    )
    try:
        report = _operator(args, settings).replay_eventgrid_dead_letters(forwarder.forward, max_count=args.max)
    finally:
        forwarder.close()
    for message_id in report.published:
        sys.stdout.write(f"published {message_id}\n")
    sys.stdout.write(f"{len(report.published)} dead-lettered event(s) published to Event Grid\n")
    if report.failed is not None:
        raise TransientError(f"stopped at {report.failed}; it and the rest stay dead-lettered for the next replay")
    return EXIT_OK


def _load_context(path: str) -> dict[str, Any]:
    data = _read_input(path, "--context file")
    todo = 'it must hold one JSON object such as {"pipeline": {"parameters": {"name": "value"}}}'
    try:
        # UTF-8 only (a BOM tolerated), as for payloads: json.loads would also guess UTF-16 and UTF-32.
        context = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise CliError(EXIT_INVALID, f"--context file is not UTF-8 text (byte {exc.start})", path, todo) from None
    except json.JSONDecodeError as exc:
        raise CliError(
            EXIT_INVALID,
            f"--context file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            path,
            todo,
        ) from None
    if not isinstance(context, dict):
        raise CliError(EXIT_INVALID, f"--context file holds a JSON {type(context).__name__}, not an object", path, todo)
    return context


def _cmd_expr(args: argparse.Namespace, settings: Settings) -> int:
    context = _load_context(args.context) if args.context else {}
    text = args.expression if args.expression.startswith("@") or "@{" in args.expression else "@" + args.expression
    value = evaluate(text, context, now=args.now)
    json.dump(value, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return EXIT_OK


def _load_trigger_file(path: str) -> list[Any]:
    from amlexec.factory_triggers.definitions import load_triggers

    file = Path(path)
    if not file.is_file():
        raise CliError(EXIT_NO_INPUT, "cannot read the trigger file", path, "give a JSON file of trigger definitions")
    return load_triggers(file, None)


def _cmd_triggers(args: argparse.Namespace, settings: Settings) -> int:
    from amlexec.factory_triggers.definitions import TriggerDefinitionError

    try:
        definitions = _load_trigger_file(args.file)
    except TriggerDefinitionError as exc:
        sys.stdout.write(f"INVALID  {args.file}: {len(exc.issues)} error(s)\n")
        for issue in exc.issues:
            _print_issue("error  ", issue)
        raise CliError(
            EXIT_INVALID,
            f"{len(exc.issues)} error(s) in the trigger definitions",
            args.file,
            "fix the errors listed above",
        ) from None
    if args.action == "validate":
        return _validate_triggers(definitions, args, settings)
    return _next_firings(definitions, args)


def _validate_triggers(definitions: list[Any], args: argparse.Namespace, settings: Settings) -> int:
    invalid = 0
    for definition in definitions:
        state = "started" if definition.started else "stopped"
        problems: list[Issue] = []
        for target in definition.targets:
            try:
                validate_payload(target.payload, limits=settings.limits)
            except RequestRejected as rejected:
                problems += [
                    replace(i, path=f"amlexec.payload({target.reference or '-'}).{i.path}") for i in rejected.issues
                ]
        mark = "valid  " if not problems else "INVALID"
        sys.stdout.write(
            f"{mark}  {definition.name}: {definition.type}, {state}, {len(definition.targets)} payload(s)\n"
        )
        for issue in problems:
            _print_issue("error  ", issue)
        invalid += bool(problems)
    if invalid:
        raise CliError(
            EXIT_INVALID, f"{invalid} trigger(s) launch an invalid payload", args.file, "fix the errors listed above"
        )
    return EXIT_OK


def _next_firings(definitions: list[Any], args: argparse.Namespace) -> int:
    after = _parse_time(args.after) if args.after else datetime.now(UTC)
    chosen = [d for d in definitions if args.name in (None, d.name)]
    if not chosen:
        raise CliError(
            EXIT_USAGE, f"no trigger named {args.name!r}", args.file, "'amlexec triggers validate' lists them"
        )
    for definition in chosen:
        sys.stdout.write(f"{definition.name} ({definition.type}{'' if definition.started else ', stopped'})\n")
        if definition.recurrence is not None:
            zone = definition.recurrence.zone
            for moment in definition.recurrence.next_occurrences(after, args.count):
                local = moment.astimezone(zone) if zone is not None else moment
                sys.stdout.write(
                    f"  {local.isoformat()}  ({definition.recurrence.time_zone_id}; {moment.isoformat()} UTC)\n"
                )
        elif definition.window is not None:
            window = definition.window
            for start, end in window.next_windows(after, args.count):
                due = (end + window.delay).isoformat()
                sys.stdout.write(f"  [{start.isoformat()}, {end.isoformat()})  runs from {due} (UTC)\n")
        else:
            sys.stdout.write("  fires on each matching event (Event Grid, through the request queue)\n")
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(payload_schema_text())
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse that raises its usage errors, so ``main`` reports them in one line with EXIT_USAGE."""

    def error(self, message: str) -> NoReturn:
        raise CliError(EXIT_USAGE, message, self.prog, f"see '{self.prog} --help'")


def _epilog() -> str:
    rows = "\n".join(
        textwrap.fill(meaning, width=100, initial_indent=f"  {code:>3}  ", subsequent_indent=" " * 7)
        for code, meaning in EXIT_CODES
    )
    return (
        "exit codes (every failure also prints one line on stderr:\n"
        "  amlexec: error: <what> (<where>); <what to do>):\n" + rows
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and for generated docs)."""
    parser = _Parser(
        prog="amlexec",
        description="Run Azure ML pipelines from Data Factory payloads.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"amlexec {_version()}")
    verbose_help = "also log progress and the Azure SDK's warnings (and tracebacks of internal errors) to stderr"
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    # Accepted after the command too; SUPPRESS keeps a subcommand from resetting a flag given before it.
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=verbose_help)
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", parents=[common], help="check payload files; exit 0 valid, 2 invalid")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument(
        "--linked-services",
        action="append",
        metavar="FILE",
        help="Data Factory linked-service export (JSON array); repeatable",
    )
    validate.add_argument("--json", action="store_true", help="machine-readable report")
    validate.add_argument(
        "--param", action="append", type=_parse_param, metavar="NAME=VALUE", help="pipeline parameter for expressions"
    )
    validate.set_defaults(handler=_cmd_validate)

    res = sub.add_parser("resolve", parents=[common], help="print the fully evaluated launch request")
    res.add_argument("file", metavar="FILE")
    res.add_argument("--linked-services", action="append", metavar="FILE")
    res.add_argument(
        "--param",
        action="append",
        type=_parse_param,
        metavar="NAME=VALUE",
        help="pipeline parameter (value parsed as JSON when it is JSON)",
    )
    res.add_argument("--trigger-time", type=_parse_time, metavar="ISO8601", help="trigger time (default: now)")
    res.add_argument("--request-id", metavar="ID", help="request identity (default: random)")
    res.set_defaults(handler=_cmd_resolve)

    run = sub.add_parser(
        "run", parents=[common], help="launch a payload and follow it to its end (exit 0 completed, 3 otherwise)"
    )
    run.add_argument("file", metavar="FILE")
    run.add_argument("--linked-services", action="append", metavar="FILE")
    run.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE")
    run.add_argument("--request-id", metavar="ID", help="request identity: the same id never launches twice")
    run.add_argument("--no-wait", action="store_true", help="print the started event and return")
    run.set_defaults(handler=_cmd_run)

    send = sub.add_parser("send", parents=[common], help="put a payload on the Service Bus request queue")
    send.add_argument("file", metavar="FILE")
    send.add_argument("--message-id", help="the request identity (default: a new GUID)")
    send.add_argument("--correlation-id")
    send.add_argument("--queue", help="default: AMLEXEC_REQUEST_QUEUE")
    send.add_argument(
        "--connection-string", help="default: your Entra identity on ServiceBusConnection__fullyQualifiedNamespace"
    )
    send.add_argument("--force", action="store_true", help="send even if the payload does not validate")
    send.set_defaults(handler=_cmd_send)

    rejected = sub.add_parser("rejected", parents=[common], help="inspect or resubmit rejected requests")
    rejected.add_argument("action", choices=["list", "resubmit"])
    rejected.add_argument("--max", type=int, default=50, help="list: how many to show")
    rejected.add_argument("--sequence", type=int, help="resubmit: the sequence number shown by list")
    rejected.add_argument("--body", metavar="FILE", help="resubmit: a corrected payload instead of the original")
    rejected.add_argument("--connection-string")
    rejected.set_defaults(handler=_cmd_rejected)

    eventgrid = sub.add_parser(
        "eventgrid", parents=[common], help="publish the Event Grid forwarder's dead letters to the topic"
    )
    eventgrid.add_argument("action", choices=["replay"])
    eventgrid.add_argument("--max", type=int, default=100, help="at most this many events")
    eventgrid.add_argument("--connection-string")
    eventgrid.set_defaults(handler=_cmd_eventgrid)

    triggers = sub.add_parser(
        "triggers", parents=[common], help="check Data Factory trigger definitions, or list when they fire next"
    )
    triggers.add_argument("action", choices=["validate", "next"])
    triggers.add_argument("file", metavar="FILE", help="a JSON file: one trigger definition or an array of them")
    triggers.add_argument("--count", type=int, default=10, help="next: how many occurrences or windows")
    triggers.add_argument("--after", help="next: from this ISO 8601 time (default: now)")
    triggers.add_argument("--name", help="next: only this trigger")
    triggers.set_defaults(handler=_cmd_triggers)

    expr = sub.add_parser("expr", parents=[common], help="evaluate a Data Factory expression")
    expr.add_argument("expression", metavar="EXPRESSION")
    expr.add_argument(
        "--context", metavar="FILE", help='a JSON object: {"pipeline": {"parameters": {...}}, "variables": {...}, ...}'
    )
    expr.add_argument("--now", type=_parse_time, metavar="ISO8601", help="the instant utcNow() returns")
    expr.set_defaults(handler=_cmd_expr)

    schema = sub.add_parser("schema", parents=[common], help="print the payload JSON Schema")
    schema.set_defaults(handler=_cmd_schema)
    return parser


# ------------------------------------------------------------------------------------------ failures


# Line breaks and terminal control characters in a message come from files and services (a payload's text,
# an HTTP body): escaped, they can neither break the one-line contract nor drive the terminal.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, 0x85]} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): " ",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
_SECRET = re.compile(r"(?i)\b(SharedAccessKey|AccountKey|client_secret|password|sig)=[^;&\s]+")


def _one_line(text: str) -> str:
    return text.translate(_CONTROL)


def _line(kind: str, what: str, where: str | None, todo: str | None) -> str:
    text = f"amlexec: {kind}: {what}"
    if where and where not in what:
        text += f" ({where})"
    if todo:
        text += f"; {todo}"
    return _SECRET.sub(r"\1=***", _one_line(text))


def _payload_service(args: argparse.Namespace, settings: Settings | None) -> LinkedService | None:
    """The linked service the command's payload launches through: context for an access error, best effort."""
    path = getattr(args, "file", None)
    if path is None or settings is None:
        return None
    try:
        registry = _registry(args, settings)
        if registry is None:
            return None
        payload = _with_params(
            validate_payload(Path(path).read_bytes(), limits=settings.limits), getattr(args, "param", None) or []
        )
        resolution = preview(
            payload, _context(args, settings), registry, default_linked_service=settings.default_linked_service
        )
        return registry.get(resolution.request.linked_service)
    except Exception:  # it only describes a failure already being reported; it must not replace it
        return None


# The endings amlexec.launch.failures.classify gives an AccessDenied; the CLI says the same for its user.
_SIGN_IN_FAILED_ENDING = "; check the linked service's credential"


def _access_denied(exc: PermanentError, args: argparse.Namespace, settings: Settings | None) -> CliError:
    from amlexec.launch.failures import ROLE_HINT

    service = _payload_service(args, settings)
    workspace = service.workspace.name if service is not None and service.workspace is not None else None
    where = (
        f"linked service '{service.name}'" + (f", workspace '{workspace}'" if workspace else "")
        if service is not None
        else getattr(args, "file", None)
    )
    on_azure = bool(os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT"))
    if service is not None and service.credential.kind == "service_principal":
        spec = service.credential
        who = f"service principal {spec.client_id}"
        sign_in = (
            f"check the tenant and servicePrincipalId of linked service '{service.name}' and the secret in "
            f"{spec.secret_source or secret_setting_name(service.name)}"
        )
    elif on_azure:
        who = "this host's managed identity"
        sign_in = "assign a managed identity to this host (a user-assigned one also needs AZURE_CLIENT_ID)"
    else:
        who = "the identity you signed in with"
        sign_in = (
            "sign in with 'az login', or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
            "(--verbose shows why each credential failed)"
        )
    message = str(exc)
    if message.endswith(_SIGN_IN_FAILED_ENDING):
        return CliError(EXIT_CONFIG, "no Azure credential could get a token", where, sign_in)
    role = f"grant {who} the 'AzureML Data Scientist' role on " + (
        f"workspace '{workspace}'" if workspace else "the workspace"
    )
    if message.endswith(ROLE_HINT):
        return CliError(EXIT_CONFIG, "access denied: " + message.removesuffix(ROLE_HINT).rstrip("; "), where, role)
    return CliError(EXIT_CONFIG, "access denied: " + message, where, f"{sign_in}; then {role}")


def _service_bus_error(exc: Exception, args: argparse.Namespace, settings: Settings | None) -> CliError | None:
    """Service Bus failures of ``send`` and ``rejected``, which the launch retry policy never sees."""
    name = type(exc).__name__
    if not type(exc).__module__.startswith("azure.servicebus"):
        return None
    namespace = (
        "--connection-string"
        if getattr(args, "connection_string", None)
        else ((settings.service_bus_namespace if settings is not None else None) or "Service Bus")
    )
    what = f"Service Bus: {str(exc).splitlines()[0] if str(exc) else name}"
    if name in (
        "ServiceBusConnectionError",
        "ServiceBusCommunicationError",
        "OperationTimeoutError",
        "ServiceBusServerBusyError",
    ):
        return CliError(EXIT_TEMPFAIL, what, namespace, "try again later")
    if name == "ServiceBusAuthenticationError":
        return CliError(EXIT_CONFIG, what, namespace, "sign in with 'az login', or pass --connection-string")
    if name == "ServiceBusAuthorizationError":
        roles = (
            "'Azure Service Bus Data Sender'"
            if args.command == "send"
            else "'Azure Service Bus Data Receiver' and 'Azure Service Bus Data Sender'"
        )
        return CliError(EXIT_CONFIG, what, namespace, f"grant your identity {roles} on the namespace")
    if name == "MessagingEntityNotFoundError":
        return CliError(
            EXIT_CONFIG, what, namespace, "check AMLEXEC_REQUEST_QUEUE and AMLEXEC_REJECTED_QUEUE (or --queue)"
        )
    return CliError(EXIT_CONFIG, what, namespace, None)


def _explain(exc: BaseException, args: argparse.Namespace | None, settings: Settings | None) -> CliError:
    """The one mapping from what went wrong to the line and exit code a user sees."""
    from amlexec.launch.failures import AccessDenied, SubmitOutcomeUnknown, TargetNotFound, classify

    if isinstance(exc, CliError):
        return exc
    command = f"amlexec {args.command}" if args is not None else "amlexec"
    source = getattr(args, "file", None) or command
    # The command that picks up this very request again: the same id never launches a second run.
    again = (
        f"'amlexec run {args.file} --request-id {args.request_id}'"
        if args is not None and args.command == "run" and getattr(args, "request_id", None)
        else None
    )
    if isinstance(exc, KeyboardInterrupt):
        hint = f"a run already launched keeps going: {again} follows it again" if again else "nothing more was done"
        return CliError(EXIT_INTERRUPTED, "interrupted", source, hint)
    if args is None:  # argparse's own usage errors arrive as CliError; anything else while parsing is a bug
        return CliError(EXIT_SOFTWARE, f"internal error: {type(exc).__name__}: {exc}", command, "please report it")
    if isinstance(exc, Exception):
        bus_error = _service_bus_error(exc, args, settings)
        if bus_error is not None:
            return bus_error
    from azure.core.exceptions import AzureError

    if isinstance(exc, AzureError):
        # Raised outside a launcher's retry policy (the operator's Service Bus credential): same classification.
        exc = classify(exc, operation=command)
    if isinstance(exc, RequestRejected):
        todo = (
            "not sent: fix it, or --force sends it anyway"
            if args.command == "send"
            else f"'amlexec validate {source}' lists every issue"
            if len(exc.issues) > 1
            else "fix the payload"
        )
        what = (
            "invalid payload: "
            + "; ".join(str(i) for i in exc.issues[:3])
            + (f" (+{len(exc.issues) - 3} more)" if len(exc.issues) > 3 else "")
        )
        return CliError(EXIT_INVALID, what, source, todo)
    if isinstance(exc, ExpressionError):
        # Most messages say where already ("… at position 4"): the position is printed once.
        said = exc.position is None or "at position" in exc.message
        where = "EXPRESSION" + ("" if said else f" at position {exc.position}")
        return CliError(EXIT_INVALID, exc.message, where, "fix the expression (README: Expressions)")
    if isinstance(exc, ConfigurationError):
        if settings is None or args.command in ("send", "rejected"):
            where = "environment"
        elif getattr(args, "linked_services", None):
            where = ", ".join(args.linked_services)
        else:
            where = str(settings.linked_services_file or "environment")
        return CliError(
            EXIT_CONFIG,
            f"configuration error: {exc}",
            where,
            "fix the setting or file named (README: Settings, Linked services)",
        )
    if isinstance(exc, AccessDenied):
        return _access_denied(exc, args, settings)
    if isinstance(exc, TargetNotFound):
        return CliError(EXIT_INVALID, str(exc), source, "check the target the payload names")
    if isinstance(exc, TransientError):
        wait = f" (the service asked for {exc.retry_after:.0f}s)" if exc.retry_after else ""
        if isinstance(exc, SubmitOutcomeUnknown) and again:
            todo = f"the run may have started: {again} finds it rather than launching it twice"
        else:
            todo = f"try again later{wait}" + (f": {again} is safe to repeat" if again else "")
        return CliError(EXIT_TEMPFAIL, str(exc), source, todo)
    if isinstance(exc, PermanentError):
        return CliError(EXIT_CONFIG, str(exc), source, "retrying will not help; fix the cause named")
    if isinstance(exc, OSError):
        path = exc.filename if isinstance(exc.filename, str) else None
        return CliError(
            EXIT_CONFIG, f"{exc.strerror or type(exc).__name__}", path or source, "check that path and its permissions"
        )
    return CliError(
        EXIT_SOFTWARE,
        f"internal error: {type(exc).__name__}: {exc}",
        command,
        "please report it with the output of the same command run with --verbose",
    )


class _CliLogFilter(logging.Filter):
    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.verbose:
            # The command's outcome is the one line main prints; what led there is for --verbose.
            return False
        return record.levelno >= logging.WARNING or record.name.split(".", 1)[0] not in _SDK_LOGGERS


@contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """Log to stderr for one command: with --verbose, amlexec's progress and the Azure SDK's warnings; else nothing.

    A handler on the root logger also keeps logging's last-resort handler (which prints any warning,
    the SDK's 14-line credential report among them) from firing. Everything is undone afterwards, so
    calling ``main`` in-process leaves no trace.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("amlexec: %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_CliLogFilter(verbose))
    root, own = logging.getLogger(), logging.getLogger("amlexec")
    previous = own.level
    root.addHandler(handler)
    if verbose:
        own.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        own.setLevel(previous)


def _stdout_closed() -> None:
    # The reader is gone: point stdout at /dev/null so the interpreter's final flush does not fail again.
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _flushed(code: int) -> int:
    # A reader that went away shows here, not as a traceback from the interpreter's own flush at exit.
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
        return EXIT_BROKEN_PIPE
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``amlexec`` console script; returns the exit code (see ``EXIT_CODES``)."""
    args: argparse.Namespace | None = None
    settings: Settings | None = None
    with ExitStack() as scope:
        try:
            args = build_parser().parse_args(argv)
            scope.enter_context(_logging(verbose=args.verbose))
            settings = Settings.from_env()
            return _flushed(int(args.handler(args, settings)))
        except SystemExit as exc:  # --help and --version print, then argparse exits
            return _flushed(exc.code if isinstance(exc.code, int) else EXIT_OK)
        except BrokenPipeError:
            _stdout_closed()
            return EXIT_BROKEN_PIPE
        except BaseException as exc:  # every failure, Ctrl-C included: one line and a code
            failure = _explain(exc, args, settings)
            if failure.code == EXIT_SOFTWARE and args is not None and args.verbose:
                logger.error("traceback of the internal error", exc_info=exc)
            with suppress(OSError):  # stderr is gone too: the exit code is all that is left to say it
                sys.stderr.write(_line("error", failure.what, failure.where, failure.todo) + "\n")
            return failure.code


if __name__ == "__main__":
    sys.exit(main())
