"""The ``amlexec`` command line: validate, resolve and inspect payloads, evaluate expressions.

Exit codes: 0 success, 1 configuration or usage problem, 2 invalid payload or expression, 3 a run that
``amlexec run`` followed ended failed, canceled or timed out.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from amlexec.errors import ConfigurationError, Issue, RequestRejected
from amlexec.expressions import ExpressionError, evaluate
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.resolve import RequestContext, preview, resolve
from amlexec.schema import payload_schema_text
from amlexec.settings import Settings, load_linked_services
from amlexec.validation import ValidatedPayload, validate_payload

__all__ = ["main"]

EXIT_OK, EXIT_CONFIG, EXIT_INVALID = 0, 1, 2


@dataclass
class FileReport:
    """The outcome of validating one file."""

    file: str
    valid: bool
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    deferred: list[Issue] = field(default_factory=list)
    request: dict[str, Any] | None = None

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


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value  # a bare word is a string, as a user typing --param day=monday means
    return name, parsed


def _registry(args: argparse.Namespace, settings: Settings) -> LinkedServiceRegistry | None:
    if args.linked_services:
        registry = LinkedServiceRegistry()
        for path in args.linked_services:
            registry.merge(LinkedServiceRegistry.from_file(path))
        return registry
    if settings.linked_services_file or settings.linked_services_json:
        return load_linked_services(settings)
    return None


def _needs_linked_services(command: str) -> int:
    sys.stderr.write(f"amlexec: {command} needs linked services (--linked-services FILE or "
                     "AMLEXEC_LINKED_SERVICES_FILE)\n")
    return EXIT_CONFIG


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


def _validate_file(path: str, registry: LinkedServiceRegistry | None, settings: Settings,
                   args: argparse.Namespace) -> FileReport:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return FileReport(path, False, [Issue("$", f"cannot read file: {exc.strerror}", code="unreadable")])
    try:
        payload = validate_payload(data, limits=settings.limits)
    except RequestRejected as rejected:
        return FileReport(path, False, rejected.issues)
    report = FileReport(path, True, warnings=list(payload.warnings))
    if registry is None:
        report.warnings.append(Issue("linkedServiceName", "linked services not checked (pass --linked-services)",
                                     code="not_checked"))
        return report
    try:
        resolution = preview(_with_params(payload, getattr(args, "param", None) or []), _context(args, settings),
                             registry, default_linked_service=settings.default_linked_service)
    except RequestRejected as rejected:
        return FileReport(path, False, rejected.issues, report.warnings)
    service = registry.get(resolution.request.linked_service)
    if service is not None and service.problems:
        for problem in service.problems:
            report.warnings.append(Issue(payload.path_prefix + "linkedServiceName",
                                         f"linked service '{service.name}' cannot launch yet: {problem}",
                                         code="linked_service_unusable"))
    report.deferred = resolution.deferred
    report.warnings.extend(resolution.warnings)
    report.request = resolution.request.public_view()
    return report


def _print_issue(out: TextIO, label: str, issue: Issue) -> None:
    out.write(f"  {label} {issue}\n")


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(args, settings)
    reports = [_validate_file(path, registry, settings, args) for path in args.files]
    if args.json:
        json.dump({"valid": all(r.valid for r in reports), "files": [r.to_dict() for r in reports]}, sys.stdout,
                  indent=2)
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
                _print_issue(sys.stdout, "error  ", issue)
            for issue in report.warnings:
                _print_issue(sys.stdout, "warning", issue)
            for issue in report.deferred:
                _print_issue(sys.stdout, "runtime", issue)
    return EXIT_OK if all(r.valid for r in reports) else EXIT_INVALID


def _cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(args, settings)
    if registry is None:
        return _needs_linked_services("resolve")
    try:
        payload = validate_payload(Path(args.file).read_bytes(), limits=settings.limits)
        request = resolve(_with_params(payload, args.param or []), _context(args, settings), registry,
                          default_linked_service=settings.default_linked_service)
    except RequestRejected as rejected:
        for issue in rejected.issues:
            sys.stderr.write(f"error {issue}\n")
        return EXIT_INVALID
    json.dump(request.public_view(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    from amlexec.handlers import Worker
    from amlexec.local_host import LocalHost

    registry = _registry(args, settings)
    if registry is None:
        return _needs_linked_services("run")
    local = dataclasses.replace(settings, bus="memory")
    worker = Worker.create(local, registry=registry)
    def show(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event) + "\n")

    host = LocalHost(worker, on_event=show)
    body = Path(args.file).read_bytes()
    if args.param:
        try:
            payload = _with_params(validate_payload(body, limits=settings.limits), args.param)
        except RequestRejected as rejected:
            for issue in rejected.issues:
                sys.stderr.write(f"error {issue}\n")
            return EXIT_INVALID
        body = payload.envelope.model_dump_json(by_alias=True, exclude_none=True).encode()
    host.send(body, message_id=args.request_id)
    events = host.run_until_idle(max_wait=timedelta(0) if args.no_wait else None)
    terminal = [e for e in events if not e["type"].endswith(".started")]
    if not terminal:
        return EXIT_OK if args.no_wait else EXIT_INVALID + 1
    if terminal[-1]["type"].endswith(".rejected"):
        return EXIT_INVALID
    return EXIT_OK if terminal[-1]["type"].endswith(".completed") else EXIT_INVALID + 1


def _operator(args: argparse.Namespace, settings: Settings) -> Any:
    from amlexec.operator import ServiceBusOperator

    return ServiceBusOperator(settings, connection_string=getattr(args, "connection_string", None))


def _cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    body = Path(args.file).read_bytes()
    try:
        validate_payload(body, limits=settings.limits)
    except RequestRejected as rejected:
        for issue in rejected.issues:
            sys.stderr.write(f"error {issue}\n")
        if not args.force:
            sys.stderr.write("amlexec: not sent (--force sends it anyway)\n")
            return EXIT_INVALID
    message_id = _operator(args, settings).send(body, message_id=args.message_id,
                                                correlation_id=args.correlation_id, queue=args.queue)
    sys.stdout.write(f"sent {message_id}\n")
    return EXIT_OK


def _cmd_rejected(args: argparse.Namespace, settings: Settings) -> int:
    operator = _operator(args, settings)
    if args.action == "list":
        for item in operator.list_rejected(max_count=args.max):
            sys.stdout.write(f"#{item.sequence_number}  {item.original_message_id}  {item.rejected_at}\n")
            for issue in item.issues:
                sys.stdout.write(f"    {issue.get('path')}: {issue.get('message')}\n")
        return EXIT_OK
    if args.sequence is None:
        sys.stderr.write("amlexec: rejected resubmit needs --sequence N (see 'amlexec rejected list')\n")
        return EXIT_CONFIG
    body = Path(args.body).read_bytes() if args.body else None
    new_id = operator.resubmit(args.sequence, body=body)
    sys.stdout.write(f"resubmitted #{args.sequence} as {new_id}\n")
    return EXIT_OK


def _cmd_expr(args: argparse.Namespace, settings: Settings) -> int:
    context: dict[str, Any] = {}
    if args.context:
        context = json.loads(Path(args.context).read_text(encoding="utf-8"))
    text = args.expression if args.expression.startswith("@") or "@{" in args.expression else "@" + args.expression
    try:
        value = evaluate(text, context, now=args.now)
    except ExpressionError as exc:
        where = f" at position {exc.position}" if exc.position is not None else ""
        sys.stderr.write(f"error{where}: {exc.message}\n")
        return EXIT_INVALID
    json.dump(value, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(payload_schema_text())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and for generated docs)."""
    parser = argparse.ArgumentParser(prog="amlexec", description="Run Azure ML pipelines from Data Factory payloads.")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="check payload files; exit 0 valid, 2 invalid")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--linked-services", action="append", metavar="FILE",
                          help="Data Factory linked-service export (JSON array); repeatable")
    validate.add_argument("--json", action="store_true", help="machine-readable report")
    validate.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE",
                          help="pipeline parameter for expressions")
    validate.set_defaults(handler=_cmd_validate)

    res = sub.add_parser("resolve", help="print the fully evaluated launch request")
    res.add_argument("file", metavar="FILE")
    res.add_argument("--linked-services", action="append", metavar="FILE")
    res.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE",
                     help="pipeline parameter (value parsed as JSON when it is JSON)")
    res.add_argument("--trigger-time", type=_parse_time, metavar="ISO8601", help="trigger time (default: now)")
    res.add_argument("--request-id", metavar="ID", help="request identity (default: random)")
    res.set_defaults(handler=_cmd_resolve)

    run = sub.add_parser("run", help="launch a payload and follow it to its end (exit 0 completed, 3 otherwise)")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--linked-services", action="append", metavar="FILE")
    run.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE")
    run.add_argument("--request-id", metavar="ID", help="request identity: the same id never launches twice")
    run.add_argument("--no-wait", action="store_true", help="print the started event and return")
    run.set_defaults(handler=_cmd_run)

    send = sub.add_parser("send", help="put a payload on the Service Bus request queue")
    send.add_argument("file", metavar="FILE")
    send.add_argument("--message-id", help="the request identity (default: a new GUID)")
    send.add_argument("--correlation-id")
    send.add_argument("--queue", help="default: AMLEXEC_REQUEST_QUEUE")
    send.add_argument("--connection-string", help="default: your Entra identity on "
                                                  "ServiceBusConnection__fullyQualifiedNamespace")
    send.add_argument("--force", action="store_true", help="send even if the payload does not validate")
    send.set_defaults(handler=_cmd_send)

    rejected = sub.add_parser("rejected", help="inspect or resubmit rejected requests")
    rejected.add_argument("action", choices=["list", "resubmit"])
    rejected.add_argument("--max", type=int, default=50, help="list: how many to show")
    rejected.add_argument("--sequence", type=int, help="resubmit: the sequence number shown by list")
    rejected.add_argument("--body", metavar="FILE", help="resubmit: a corrected payload instead of the original")
    rejected.add_argument("--connection-string")
    rejected.set_defaults(handler=_cmd_rejected)

    expr = sub.add_parser("expr", help="evaluate a Data Factory expression")
    expr.add_argument("expression", metavar="EXPRESSION")
    expr.add_argument("--context", metavar="FILE",
                      help='JSON: {"pipeline": {"parameters": {...}}, "variables": {...}, ...}')
    expr.add_argument("--now", type=_parse_time, metavar="ISO8601", help="the instant utcNow() returns")
    expr.set_defaults(handler=_cmd_expr)

    schema = sub.add_parser("schema", help="print the payload JSON Schema")
    schema.set_defaults(handler=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``amlexec`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        code: int = args.handler(args, settings)
    except ConfigurationError as exc:
        sys.stderr.write(f"amlexec: configuration error: {exc}\n")
        return EXIT_CONFIG
    return code


if __name__ == "__main__":
    sys.exit(main())
