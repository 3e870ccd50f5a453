"""WebHook callbacks: the body Data Factory reads, the URL policy, delivery over real sockets, the secret URI.

Every delivery runs against a real server on 127.0.0.1 (``fakes.http_receiver``) under a hard timeout, with
every logger captured at DEBUG: an autouse fixture fails any test after which the callback URI's path or
query shows up in a log record, on stdout or stderr.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fakes.http_receiver import Answer, HttpReceiver
from pydantic import SecretStr

from amlexec.callbacks import (
    CALLBACK_STATUS_CODES,
    MAX_CALLBACK_BYTES,
    CallbackResponse,
    CallbackRetry,
    CallbackTarget,
    CallbackUrlPolicy,
    HttpCallbackSender,
    MemoryCallbackSender,
    PinnedHttpTransport,
    callback_body,
    parse_allowed_hosts,
    split_callback_uri,
)
from amlexec.clock import ManualClock
from amlexec.errors import ConfigurationError, Issue, RequestRejected, TransientError
from amlexec.events import CloudEvent, EventKind, rejected_event, run_event
from amlexec.launch.base import RunHandle, RunState, RunStatus
from amlexec.runs import EventContext

T = TypeVar("T")

# The secret parts of a callback URI, as Data Factory's carry a signature: neither may ever be logged.
PATH_SECRET = "PATHSECRET-7c1e0d"
QUERY_SECRET = "QUERYSECRET-93ab55"
SECRET_TARGET = f"/workflow/callback/{PATH_SECRET}?callbackUrl={QUERY_SECRET}&shouldReportToMonitoring=true"
SECRETS = (PATH_SECRET, QUERY_SECRET)
HARD_TIMEOUT = 20.0
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------- harness


def within(seconds: float, call: Callable[[], T]) -> T:
    """Run ``call`` in a thread and fail the test if it has not finished after ``seconds``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed back to the test below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"did not finish within {seconds}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"the callback URI's secret part leaked: {text!r}"


def assert_clean(error: BaseException) -> None:
    """Neither the message nor the whole printed traceback (chained exceptions included) holds the secret."""
    assert_no_secret(str(error))
    assert_no_secret(repr(error))
    assert_no_secret("".join(traceback.format_exception(error)))
    if isinstance(error, RequestRejected):
        assert_no_secret(json.dumps(error.to_dict()))


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self, record: logging.LogRecord) -> str:
        parts = [record.getMessage(), repr(record.args), record.stack_info or ""]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(parts)


@pytest.fixture(autouse=True)
def logs(capfd: pytest.CaptureFixture[str]) -> Iterator[Capture]:
    """Every logger at DEBUG into one handler; afterwards no record, stdout or stderr may hold the secret."""
    capture = Capture()
    root = logging.getLogger()
    loggers = [root] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    non_propagating = [logger for logger in loggers if not logger.propagate and logger is not root]
    for logger in [root, *non_propagating]:
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger in [root, *non_propagating]:
            logger.removeHandler(capture)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
    for record in capture.records:
        assert_no_secret(capture.text(record))
    out, err = capfd.readouterr()
    assert_no_secret(out + err)


@dataclass
class Resolver:
    """An injected DNS: names to addresses, a failure for any other name; counts the look-ups."""

    table: dict[str, list[str]]
    calls: list[tuple[str, int]]

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


def dns(**names: list[str]) -> Resolver:
    return Resolver({name.replace("_", "."): addresses for name, addresses in names.items()}, [])


PUBLIC_DNS = Resolver(
    {
        "callback.example.com": ["20.50.60.70"],
        "westeurope.frontend.datafactory.azure.net": ["20.61.1.2", "2603:1020:206::10"],
        "datafactory.azure.net": ["20.61.1.3"],
        "evildatafactory.azure.net": ["20.61.1.4"],
        "xn--bcher-kva.example": ["20.61.1.5"],
        "sneaky.example.com": ["10.1.2.3"],
        "mixed.example.com": ["20.50.60.71", "10.1.2.4"],
        "metadata.example.com": ["169.254.169.254"],
        "localhost": ["127.0.0.1", "::1"],
    },
    [],
)


def loopback_policy(**table: list[str]) -> CallbackUrlPolicy:
    return CallbackUrlPolicy(resolver=dns(**table), allow_insecure_loopback=True)


def make_sender(
    policy: CallbackUrlPolicy | None = None,
    *,
    clock: ManualClock | None = None,
    timeout: float = 3.0,
    attempts: int = 4,
    budget: float = 100.0,
    transport: PinnedHttpTransport | None = None,
) -> HttpCallbackSender:
    return HttpCallbackSender(
        policy or loopback_policy(),
        transport=transport,
        timeout=timeout,
        retry=CallbackRetry(attempts=attempts, base_delay=0.01, max_delay=0.05, budget=budget),
        clock=clock or ManualClock(T0),
        rng=random.Random(7),
    )


def completed_data(*, secure_output: bool = False) -> tuple[RunStatus, dict[str, Any]]:
    status = RunStatus(
        state=RunState.COMPLETED,
        raw_status="Completed",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=754.5),
        outputs={"scores": "azureml://datastores/workspaceblobstore/paths/scores/"},
        studio_url="https://ml.azure.com/runs/run-7",
    )
    return status, terminal(EventKind.COMPLETED, status, secure_output=secure_output).data


def terminal(kind: EventKind, status: RunStatus, *, secure_output: bool = False) -> CloudEvent:
    context = EventContext(
        request_id="req-42",
        correlation_id="corr-42",
        activity_name="Score",
        linked_service="AzureMLService",
        target={"kind": "published_pipeline", "pipelineId": "0a77f445"},
        experiment_name="loan-scoring",
        secure_output=secure_output,
        max_attempts=3,
    )
    handle = RunHandle(
        target_kind="published_pipeline",
        run_id="run-7",
        experiment_name="loan-scoring",
        linked_service="AzureMLService",
        attempt=2,
        studio_url="https://ml.azure.com/runs/run-7",
    )
    return run_event(kind, context, handle, status, time=T0 + timedelta(minutes=13))


def failed_status(state: RunState = RunState.FAILED, raw: str = "Failed") -> RunStatus:
    return RunStatus(
        state=state,
        raw_status=raw,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=60),
        error_code="UserError",
        error_message="score.py: KeyError 'income' (customer 1234's record)",
        outputs={"partial": "azureml://datastores/x/paths/partial/"},
    )


BODY = {"Output": {"runId": "run-7", "status": "completed"}, "StatusCode": "200"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -------------------------------------------------------------------------------------- the body shape


def test_completed_body_is_the_documented_shape_with_a_flat_output() -> None:
    status, data = completed_data()
    body = callback_body("completed", status, data)
    assert body == {
        "StatusCode": "200",
        "Output": {
            "runId": "run-7",
            "status": "completed",
            "requestId": "req-42",
            "correlationId": "corr-42",
            "attempt": 2,
            "startedAt": "2026-05-01T08:00:00+00:00",
            "endedAt": "2026-05-01T08:12:34.500000+00:00",
            "durationSeconds": 754.5,
            "studioUrl": "https://ml.azure.com/runs/run-7",
            "serviceStatus": "Completed",
            "outputs": {"scores": "azureml://datastores/workspaceblobstore/paths/scores/"},
        },
    }
    json.dumps(body, allow_nan=False)


def test_completed_body_under_secure_output_leaves_the_outputs_out() -> None:
    status, data = completed_data(secure_output=True)
    body = callback_body("completed", status, data)
    assert "outputs" not in body["Output"]
    assert "workspaceblobstore" not in json.dumps(body)
    # A run that reported no outputs has nothing to hide: the key stays, empty.
    empty = status.model_copy(update={"outputs": {}})
    assert callback_body("completed", empty, terminal(EventKind.COMPLETED, empty).data)["Output"]["outputs"] == {}


def test_failed_body_carries_the_service_error_unless_secure_output() -> None:
    status = failed_status()
    body = callback_body("failed", status, terminal(EventKind.FAILED, status).data)
    assert body["StatusCode"] == "500"
    assert body["Error"] == {
        "ErrorCode": "UserError",
        "Message": "score.py: KeyError 'income' (customer 1234's record)",
    }
    assert body["Output"]["outputs"] == {"partial": "azureml://datastores/x/paths/partial/"}

    secure = callback_body("failed", status, terminal(EventKind.FAILED, status, secure_output=True).data)
    assert secure["StatusCode"] == "500"
    assert secure["Error"] == {
        "ErrorCode": "UserError",
        "Message": "Azure ML run run-7 failed (service status Failed).",
    }
    assert "outputs" not in secure["Output"]
    assert "1234" not in json.dumps(secure) and "partial" not in json.dumps(secure)


def test_timed_out_and_canceled_bodies_fail_the_activity_with_their_own_codes() -> None:
    status = failed_status(RunState.CANCELED, "Canceled").model_copy(update={"error_code": None, "error_message": None})
    timed_out = callback_body("timedOut", status, terminal(EventKind.TIMED_OUT, status).data)
    assert timed_out["StatusCode"] == "504"
    assert timed_out["Error"]["ErrorCode"] == "timedOut"
    assert "timeout" in timed_out["Error"]["Message"]
    canceled = callback_body("canceled", status, terminal(EventKind.CANCELED, status).data)
    assert canceled["StatusCode"] == "409"
    assert canceled["Error"] == {
        "ErrorCode": "canceled",
        "Message": "Azure ML run run-7 was canceled (service status Canceled).",
    }
    assert all(int(code) >= 400 for kind, code in CALLBACK_STATUS_CODES.items() if kind != "completed")


def test_rejected_body_names_every_issue_and_fails_with_400() -> None:
    issues = [
        Issue("activity.typeProperties.experimentName", "wrong type", "string", "number 42"),
        Issue("activity.typeProperties.mlPipelineId", "is required", code="missing"),
    ]
    event = rejected_event("req-9", "corr-9", issues, time=T0, activity_name="Score")
    body = callback_body("rejected", None, event.data)
    assert body["StatusCode"] == "400"
    assert body["Error"]["ErrorCode"] == "rejected"
    assert body["Error"]["Message"] == (
        "The request was rejected: activity.typeProperties.experimentName: wrong type; "
        "activity.typeProperties.mlPipelineId: is required"
    )
    assert body["Output"]["requestId"] == "req-9"
    assert body["Output"]["issueCount"] == 2
    assert body["Output"]["issues"] == [i.to_dict() for i in issues]


def test_a_started_event_has_no_callback() -> None:
    with pytest.raises(ValueError, match="started"):
        callback_body("started", None, {})


def test_the_body_stays_far_below_data_factorys_4_mb_and_is_plain_json() -> None:
    huge = {f"out{i:04d}": "x" * 100_000 for i in range(200)}
    status = RunStatus(state=RunState.COMPLETED, raw_status="Completed", outputs=huge)
    data = terminal(EventKind.COMPLETED, status).data
    data["outputs"]["weird"] = float("nan")  # not JSON: must not break the body
    body = callback_body("completed", status, data)
    encoded = json.dumps(body, allow_nan=False).encode()
    assert len(encoded) <= MAX_CALLBACK_BYTES
    assert body["Output"]["outputsTruncated"] is True
    assert all(len(value) <= 32 * 1024 for value in body["Output"]["outputs"].values())

    failed = failed_status().model_copy(update={"error_message": "boom " * 100_000})
    message = callback_body("failed", failed, terminal(EventKind.FAILED, failed).data)["Error"]["Message"]
    assert len(message) <= 4000 and message.startswith("boom boom")

    many = [Issue(f"p{i}", "bad " * 1000) for i in range(500)]
    rejected = callback_body("rejected", None, rejected_event("r", None, many, time=T0).data)
    assert len(rejected["Output"]["issues"]) == 20 and rejected["Output"]["issueCount"] == 500
    assert len(json.dumps(rejected).encode()) <= MAX_CALLBACK_BYTES


# ------------------------------------------------------------------------------------------ URL policy

REFUSED = [
    pytest.param("http://callback.example.com", "scheme must be https", id="http"),
    pytest.param("ftp://callback.example.com", "scheme must be https", id="ftp"),
    pytest.param("https://localhost", "loopback", id="localhost"),
    pytest.param("https://127.0.0.1", "loopback", id="127.0.0.1"),
    pytest.param("https://127.1.2.3:8443", "loopback", id="127/8"),
    pytest.param("https://10.0.0.1", "private", id="10/8"),
    pytest.param("https://192.168.1.10", "private", id="192.168/16"),
    pytest.param("https://169.254.169.254", "link-local", id="metadata-endpoint"),
    pytest.param("https://[::1]", "loopback", id="ipv6-loopback"),
    pytest.param("https://[fe80::1]", "link-local", id="ipv6-link-local"),
    pytest.param("https://[fc00::1]", "private", id="ipv6-unique-local"),
    pytest.param("https://[::ffff:127.0.0.1]", "IPv6 form of a loopback", id="ipv4-mapped-loopback"),
    pytest.param("https://[::ffff:169.254.169.254]", "IPv6 form of a link-local", id="ipv4-mapped-metadata"),
    pytest.param("https://[64:ff9b::a9fe:a9fe]", "IPv6 form of a link-local", id="nat64-metadata"),
    pytest.param("https://[2002:a00:1::1]", "IPv6 form of a private", id="6to4-private"),
    pytest.param("https://0.0.0.0", "unspecified", id="unspecified"),
    pytest.param("https://[::]", "unspecified", id="ipv6-unspecified"),
    pytest.param("https://224.0.0.1", "multicast", id="multicast"),
    pytest.param("https://100.64.0.1", "non-public", id="carrier-grade-nat"),
    pytest.param("https://240.0.0.1", "reserved", id="reserved"),
    pytest.param("https://sneaky.example.com", "resolves to a private address", id="name-to-private"),
    pytest.param("https://mixed.example.com", "resolves to a private address", id="one-private-address"),
    pytest.param("https://metadata.example.com", "resolves to a link-local address", id="name-to-metadata"),
    pytest.param("https://user:pw@callback.example.com", "user information", id="userinfo"),
    pytest.param("https://callback.example.com@10.0.0.1", "user information", id="userinfo-trick"),
    pytest.param("https://", "no host", id="no-host"),
    pytest.param("https://callback.example.com:99999", "not a valid URL", id="bad-port"),
    pytest.param("https://callback.example.com:0", "is 0", id="port-0"),
    pytest.param("https://bad_host!.example.com", "not a valid host name", id="bad-host"),
]


@pytest.mark.parametrize(("base", "reason"), REFUSED)
def test_the_policy_refuses_without_naming_the_secret(base: str, reason: str) -> None:
    policy = CallbackUrlPolicy(resolver=PUBLIC_DNS)
    for uri in (base + SECRET_TARGET, SecretStr(base + SECRET_TARGET)):
        with pytest.raises(RequestRejected) as caught:
            policy.check(uri)
        issue = caught.value.issues[0]
        assert (issue.path, issue.code) == ("callBackUri", "callback_refused")
        assert reason in issue.message
        assert_clean(caught.value)


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("https://callback.example.com/cb?sig=QUERYSECRET-93ab55\r\nX: y", id="crlf"),
        pytest.param("https://callback.example.com/cb?sig=QUERYSECRET-93ab55 x", id="space"),
        pytest.param("https://callback.example.com/PATHSECRET-7c1e0d/é?x=QUERYSECRET-93ab55", id="not-ascii"),
        pytest.param("", id="empty"),
        pytest.param("https://callback.example.com/" + "a" * 9000 + "?QUERYSECRET-93ab55", id="too-long"),
    ],
)
def test_malformed_uris_are_refused_without_naming_the_secret(uri: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        CallbackUrlPolicy(resolver=PUBLIC_DNS).check(uri)
    assert caught.value.issues[0].code == "callback_refused"
    assert_clean(caught.value)


@pytest.mark.parametrize(
    ("allowed", "base", "addresses"),
    [
        pytest.param((), "https://callback.example.com", ("20.50.60.70",), id="public-name"),
        pytest.param((), "https://20.50.60.70:8443", ("20.50.60.70",), id="public-literal"),
        pytest.param((), "https://[2606:4700::1111]", ("2606:4700::1111",), id="public-ipv6-literal"),
        pytest.param(
            ("*.datafactory.azure.net",),
            "https://westeurope.frontend.datafactory.azure.net",
            ("20.61.1.2", "2603:1020:206::10"),
            id="allow-list-wildcard",
        ),
        pytest.param(("callback.example.com",), "https://CALLBACK.Example.com.", ("20.50.60.70",), id="allow-exact"),
        pytest.param(("bücher.example",), "https://BÜCHER.example", ("20.61.1.5",), id="allow-list-idna"),
    ],
)
def test_the_policy_allows_public_hosts_and_allow_listed_ones(
    allowed: tuple[str, ...], base: str, addresses: tuple[str, ...]
) -> None:
    policy = CallbackUrlPolicy(allowed_hosts=allowed, resolver=PUBLIC_DNS)
    policy.check(base + SECRET_TARGET)
    target = policy.resolve(SecretStr(base + SECRET_TARGET))
    assert target.scheme == "https"
    assert target.addresses == addresses
    assert target.request_target == SECRET_TARGET
    assert_no_secret(repr(target))


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("callback.example.com", id="other-host"),
        pytest.param("datafactory.azure.net", id="the-suffix-itself"),
        pytest.param("evildatafactory.azure.net", id="suffix-without-dot"),
    ],
)
def test_a_host_off_the_allow_list_is_refused(host: str) -> None:
    policy = CallbackUrlPolicy(allowed_hosts=("*.datafactory.azure.net",), resolver=PUBLIC_DNS)
    with pytest.raises(RequestRejected, match="not on the callback allow-list") as caught:
        policy.check(f"https://{host}{SECRET_TARGET}")
    assert_clean(caught.value)


def test_an_allow_listed_host_that_resolves_privately_is_still_refused() -> None:
    policy = CallbackUrlPolicy(allowed_hosts=("sneaky.example.com",), resolver=PUBLIC_DNS)
    with pytest.raises(RequestRejected, match="private"):
        policy.check("https://sneaky.example.com" + SECRET_TARGET)


def test_the_resolver_sees_the_idna_host_and_the_port() -> None:
    resolver = dns(**{"xn--bcher-kva_example": ["20.61.1.5"]})
    CallbackUrlPolicy(resolver=resolver).check("https://Bücher.example:8443" + SECRET_TARGET)
    assert resolver.calls == [("xn--bcher-kva.example", 8443)]


@pytest.mark.parametrize(
    "resolver",
    [
        pytest.param(dns(), id="nxdomain"),
        pytest.param(dns(callback_example_com=[]), id="no-address"),
    ],
)
def test_a_dns_failure_is_transient_not_a_rejection(resolver: Resolver) -> None:
    with pytest.raises(TransientError, match=r"callback\.example\.com") as caught:
        CallbackUrlPolicy(resolver=resolver).check("https://callback.example.com" + SECRET_TARGET)
    assert caught.value.retryable
    assert_clean(caught.value)


def test_the_test_only_loopback_switch_opens_loopback_and_nothing_else() -> None:
    policy = CallbackUrlPolicy(resolver=PUBLIC_DNS, allow_insecure_loopback=True)
    policy.check("http://127.0.0.1:8080" + SECRET_TARGET)
    policy.check("https://localhost" + SECRET_TARGET)
    for refused in ("https://10.0.0.1", "https://169.254.169.254", "http://callback.example.com"):
        with pytest.raises(RequestRejected):
            policy.check(refused + SECRET_TARGET)
    with pytest.raises(RequestRejected, match="loopback"):
        CallbackUrlPolicy(resolver=PUBLIC_DNS).check("https://localhost" + SECRET_TARGET)


def test_the_default_resolver_is_the_system_one() -> None:
    with pytest.raises(RequestRejected, match="loopback"):
        CallbackUrlPolicy().check("https://localhost" + SECRET_TARGET)


def test_allow_list_entries_are_checked_and_normalised() -> None:
    assert parse_allowed_hosts(" A.example.com, *.DataFactory.azure.net;bücher.example\n") == (
        "a.example.com",
        "*.datafactory.azure.net",
        "xn--bcher-kva.example",
    )
    assert parse_allowed_hosts("") == parse_allowed_hosts(None) == ()
    for bad in ("*", "*.", "*.com.", "https://a.example.com", "a.example.com/path", "a..b", "*.*.example.com"):
        with pytest.raises(ConfigurationError, match="allow-list entry"):
            parse_allowed_hosts(bad)


def test_split_callback_uri_takes_the_secret_out_of_the_body() -> None:
    uri = "https://westeurope.frontend.datafactory.azure.net" + SECRET_TARGET
    envelope = {"activity": {"name": "Score"}, "correlationId": "c-1"}
    rest, found = split_callback_uri(json.dumps({**envelope, "callBackUri": uri}).encode())
    assert isinstance(rest, bytes) and json.loads(rest) == envelope
    assert isinstance(found, SecretStr) and found.get_secret_value() == uri
    assert_no_secret(rest.decode() + repr(found))
    # An escaped key is the same key to JSON.
    text, escaped = split_callback_uri('{"\\u0063allBackUri": "' + uri + '", "name": "Score"}')
    assert text == '{"name":"Score"}' and escaped is not None and escaped.get_secret_value() == uri
    # Whatever else the body holds survives as JSON, even a lone surrogate escape.
    odd, _ = split_callback_uri(b'{"callBackUri": "https://x.example/", "name": "\\ud800 \xc3\xa9"}')
    assert isinstance(odd, bytes) and json.loads(odd.decode("utf-8")) == {"name": "\ud800 é"}  # valid UTF-8


@pytest.mark.parametrize("body", [b'{"name": "Score"}', "not json at all", b"[1, 2]", b'{"callBackUriX": 1}'])
def test_a_body_without_a_callback_comes_back_untouched(body: bytes | str) -> None:
    rest, found = split_callback_uri(body)
    assert rest is body and found is None


@pytest.mark.parametrize("value", ["", 42, None, {"uri": "https://x"}])
def test_a_callback_that_is_not_a_string_is_refused_without_echoing_it(value: Any) -> None:
    with pytest.raises(RequestRejected) as caught:
        split_callback_uri(json.dumps({"callBackUri": value, "name": "x"}))
    assert caught.value.issues[0].path == "callBackUri"
    assert "https://x" not in str(caught.value)


# ------------------------------------------------------------------------------------------- delivery


def test_a_callback_is_posted_once_as_json_without_auth(logs: Capture) -> None:
    status, data = completed_data()
    body = callback_body("completed", status, data)
    clock = ManualClock(T0)
    with HttpReceiver() as receiver:
        within(HARD_TIMEOUT, lambda: make_sender(clock=clock).deliver(SecretStr(receiver.url(SECRET_TARGET)), body))
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.method == "POST"
    assert request.target == SECRET_TARGET
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    assert json.loads(request.body) == body
    assert clock.sleeps == []
    assert any(r.levelno == logging.INFO and "delivered" in r.getMessage() for r in logs.records)


def test_503_twice_then_200_is_delivered_once_honouring_retry_after(logs: Capture) -> None:
    clock = ManualClock(T0)
    answers = [Answer(503, {"Retry-After": "1"}), Answer(503, {"Retry-After": "2"}), Answer(200)]
    with HttpReceiver(answers) as receiver:
        within(HARD_TIMEOUT, lambda: make_sender(clock=clock).deliver(receiver.url(SECRET_TARGET), BODY))
    assert [r.target for r in receiver.requests] == [SECRET_TARGET] * 3
    assert len({r.body for r in receiver.requests}) == 1
    assert len(clock.sleeps) == 2
    assert clock.sleeps[0] >= 1.0 and clock.sleeps[1] >= 2.0
    warnings = [r for r in logs.records if r.name == "amlexec.callbacks" and r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "HTTP 503" in warnings[0].getMessage()
    # The capture really sees DEBUG records (so the fixture's "no secret" check has teeth).
    assert any(r.levelno == logging.DEBUG and r.name == "amlexec.callbacks" for r in logs.records)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_throttling_timeouts_and_5xx_are_retried(status: int) -> None:
    with HttpReceiver([Answer(status), Answer(200)]) as receiver:
        within(HARD_TIMEOUT, lambda: make_sender().deliver(receiver.url(SECRET_TARGET), BODY))
    assert len(receiver.requests) == 2


def test_a_server_that_hangs_times_out_and_the_retry_is_delivered() -> None:
    with HttpReceiver([Answer(hang=10), Answer(200)]) as receiver:
        started = time.monotonic()
        within(HARD_TIMEOUT, lambda: make_sender(timeout=0.5).deliver(receiver.url(SECRET_TARGET), BODY))
        took = time.monotonic() - started
    assert len(receiver.requests) == 2
    assert took < 5


def test_a_server_dripping_its_answer_is_cut_off_at_the_deadline() -> None:
    # Each byte arrives well within the socket timeout: only a deadline on the whole attempt stops it.
    with HttpReceiver([Answer(drip=True), Answer(200)]) as receiver:
        started = time.monotonic()
        within(HARD_TIMEOUT, lambda: make_sender(timeout=1.0).deliver(receiver.url(SECRET_TARGET), BODY))
        took = time.monotonic() - started
    assert len(receiver.requests) == 2
    assert took < 5


@pytest.mark.parametrize("status", [400, 404, 410])
def test_other_4xx_are_not_retried_and_logged_once(status: int, logs: Capture) -> None:
    clock = ManualClock(T0)
    with HttpReceiver([Answer(status), Answer(200)]) as receiver:
        result = within(HARD_TIMEOUT, lambda: make_sender(clock=clock).deliver(receiver.url(SECRET_TARGET), BODY))
    assert result is None
    assert len(receiver.requests) == 1
    assert clock.sleeps == []
    warnings = [r for r in logs.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert f"HTTP {status}" in warnings[0].getMessage() and "127.0.0.1" in warnings[0].getMessage()


def test_a_4xx_with_retry_after_is_still_not_retried() -> None:
    with HttpReceiver([Answer(410, {"Retry-After": "1"}), Answer(200)]) as receiver:
        within(HARD_TIMEOUT, lambda: make_sender().deliver(receiver.url(SECRET_TARGET), BODY))
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed() -> None:
    with HttpReceiver([Answer(302, {"Location": "/elsewhere?to=internal"}), Answer(200)]) as receiver:
        within(HARD_TIMEOUT, lambda: make_sender().deliver(receiver.url(SECRET_TARGET), BODY))
    assert [(r.method, r.target) for r in receiver.requests] == [("POST", SECRET_TARGET)]


def test_persistent_500_raises_transient_after_the_budget() -> None:
    clock = ManualClock(T0)
    sender = make_sender(clock=clock, attempts=3)
    with (
        HttpReceiver([Answer(500)]) as receiver,
        pytest.raises(TransientError, match=r"after 3 attempt\(s\): answered HTTP 500") as caught,
    ):
        within(HARD_TIMEOUT, lambda: sender.deliver(SecretStr(receiver.url(SECRET_TARGET)), BODY))
    assert len(receiver.requests) == 3
    assert len(clock.sleeps) == 2
    assert "127.0.0.1" in str(caught.value)
    assert_clean(caught.value)


def test_a_retry_after_beyond_the_budget_hands_over_to_a_redelivery() -> None:
    clock = ManualClock(T0)
    with HttpReceiver([Answer(429, {"Retry-After": "3600"})]) as receiver, pytest.raises(TransientError) as caught:
        within(HARD_TIMEOUT, lambda: make_sender(clock=clock).deliver(receiver.url(SECRET_TARGET), BODY))
    assert len(receiver.requests) == 1
    assert clock.sleeps == []
    assert caught.value.retry_after == 3600


def test_backoff_grows_and_stays_within_the_budget() -> None:
    clock = ManualClock(T0)
    sender = HttpCallbackSender(
        loopback_policy(),
        retry=CallbackRetry(attempts=10, base_delay=4, max_delay=30, budget=40),
        clock=clock,
        rng=random.Random(1),
    )
    with HttpReceiver([Answer(503)]) as receiver, pytest.raises(TransientError):
        within(HARD_TIMEOUT, lambda: sender.deliver(receiver.url(SECRET_TARGET), BODY))
    assert 2 <= len(clock.sleeps) < 9
    assert sum(clock.sleeps) <= 40
    assert clock.sleeps[1] > clock.sleeps[0]
    assert all(2.0 <= s <= 30 for s in clock.sleeps)


def test_an_unreachable_host_raises_transient_with_a_clean_message() -> None:
    port = free_port()
    with pytest.raises(TransientError, match="connection refused") as caught:
        within(HARD_TIMEOUT, lambda: make_sender(attempts=2).deliver(f"http://127.0.0.1:{port}{SECRET_TARGET}", BODY))
    assert_clean(caught.value)


class QuotingTransport:
    """Fails the way some HTTP stacks do, quoting the URL in the error (requests: "... with url: /path?q")."""

    def __init__(self) -> None:
        self.calls = 0

    def post(
        self, target: CallbackTarget, address: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> CallbackResponse:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionResetError(f"connection to {address} reset with url: {target.request_target}")
        raise http.client.BadStatusLine(f"POST {target.request_target} HTTP/1.1")


def test_a_transport_error_quoting_the_url_never_reaches_the_message() -> None:
    transport = QuotingTransport()
    policy = CallbackUrlPolicy(resolver=PUBLIC_DNS)
    sender = HttpCallbackSender(
        policy, transport=transport, retry=CallbackRetry(attempts=2, base_delay=0.01), clock=ManualClock(T0)
    )
    with pytest.raises(TransientError, match="malformed HTTP answer") as caught:
        within(HARD_TIMEOUT, lambda: sender.deliver("https://callback.example.com" + SECRET_TARGET, BODY))
    assert transport.calls == 2
    assert_clean(caught.value)


def test_the_next_checked_address_is_tried_only_after_a_connection_failure() -> None:
    # 127.0.0.2 is loopback too but nothing listens there: the first attempt is refused, the second reaches
    # the receiver (503), the third must stay on that address rather than rotate back to the dead one.
    policy = loopback_policy(two_test=["127.0.0.2", "127.0.0.1"])
    with HttpReceiver([Answer(503), Answer(200)]) as receiver:
        sender = make_sender(policy, attempts=3)
        within(HARD_TIMEOUT, lambda: sender.deliver(receiver.url(SECRET_TARGET, host="two.test"), BODY))
    assert len(receiver.requests) == 2


def test_the_policy_is_checked_before_anything_is_sent() -> None:
    strict = CallbackUrlPolicy(resolver=PUBLIC_DNS)
    with HttpReceiver() as receiver, pytest.raises(RequestRejected) as caught:
        within(HARD_TIMEOUT, lambda: make_sender(strict).deliver(receiver.url(SECRET_TARGET), BODY))
    assert receiver.requests == []
    assert_clean(caught.value)


# ------------------------------------------------------------------------------- TLS and DNS rebinding


def test_the_connection_goes_to_the_checked_address_with_sni_and_host_kept(tmp_path: Path) -> None:
    # "callback.test" exists in no DNS: the POST can only arrive if the transport connects to the address
    # the policy resolved and checked, instead of looking the name up again (the DNS-rebinding window).
    resolver = dns(callback_test=["127.0.0.1"])
    policy = CallbackUrlPolicy(resolver=resolver, allow_insecure_loopback=True)
    with HttpReceiver([Answer(503), Answer(200)], tls_names=["callback.test"], folder=tmp_path) as receiver:
        transport = PinnedHttpTransport(receiver.client_context())
        sender = make_sender(policy, transport=transport)
        within(HARD_TIMEOUT, lambda: sender.deliver(receiver.url(SECRET_TARGET, host="callback.test"), BODY))
    assert [r.target for r in receiver.requests] == [SECRET_TARGET] * 2
    assert receiver.requests[0].headers["Host"] == f"callback.test:{receiver.port}"
    assert receiver.sni_names == ["callback.test", "callback.test"]
    # One look-up per delivery: the retry reused the checked address rather than asking DNS again.
    assert resolver.calls == [("callback.test", receiver.port)]


def test_the_certificate_is_verified_for_the_host_name(tmp_path: Path) -> None:
    policy = CallbackUrlPolicy(resolver=dns(callback_test=["127.0.0.1"]), allow_insecure_loopback=True)
    with HttpReceiver(tls_names=["someone-else.test"], folder=tmp_path) as receiver:
        sender = make_sender(policy, transport=PinnedHttpTransport(receiver.client_context()), attempts=2)
        with pytest.raises(TransientError, match="TLS certificate verification failed") as caught:
            within(HARD_TIMEOUT, lambda: sender.deliver(receiver.url(SECRET_TARGET, host="callback.test"), BODY))
    assert receiver.requests == []
    assert_clean(caught.value)


def test_the_default_trust_store_does_not_trust_a_self_signed_server(tmp_path: Path) -> None:
    policy = CallbackUrlPolicy(resolver=dns(callback_test=["127.0.0.1"]), allow_insecure_loopback=True)
    sender = make_sender(policy, attempts=1)  # the default transport: the system's trust store
    with (
        HttpReceiver(tls_names=["callback.test"], folder=tmp_path) as receiver,
        pytest.raises(TransientError, match="TLS certificate verification failed"),
    ):
        within(HARD_TIMEOUT, lambda: sender.deliver(receiver.url(SECRET_TARGET, host="callback.test"), BODY))
    assert receiver.requests == []


# ----------------------------------------------------------------------------------- the secret, overall


def test_no_logger_ever_sees_the_uri_across_every_kind_of_failure(logs: Capture, tmp_path: Path) -> None:
    # The autouse fixture asserts the absence after the test; this one only makes sure plenty was logged.
    for name in ("urllib3", "azure", "azure.core.pipeline.policies.http_logging_policy", "http.client"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    answers = [
        Answer(503, {"Retry-After": "1"}),
        Answer(hang=5),
        Answer(302, {"Location": "https://10.0.0.1/x"}),
    ]
    with HttpReceiver(answers) as receiver:
        url = receiver.url(SECRET_TARGET)
        within(HARD_TIMEOUT, lambda: make_sender(timeout=0.5).deliver(url, BODY))
    with HttpReceiver([Answer(500)]) as receiver, pytest.raises(TransientError):
        within(HARD_TIMEOUT, lambda: make_sender(attempts=2).deliver(SecretStr(receiver.url(SECRET_TARGET)), BODY))
    for bad in ("https://169.254.169.254" + SECRET_TARGET, "https://unknown.example" + SECRET_TARGET):
        with pytest.raises((RequestRejected, TransientError)) as caught:
            make_sender(CallbackUrlPolicy(resolver=PUBLIC_DNS)).deliver(bad, BODY)
        logging.getLogger("amlexec").exception("what a caller might log: %s", caught.value, exc_info=caught.value)
    assert len([r for r in logs.records if r.name.startswith("amlexec")]) >= 6


def test_the_secret_uri_is_never_in_a_repr_of_what_carries_it() -> None:
    policy = CallbackUrlPolicy(resolver=PUBLIC_DNS)
    target = policy.resolve(SecretStr("https://callback.example.com" + SECRET_TARGET))
    assert_no_secret(repr(target) + str(target) + target.origin)
    memory = MemoryCallbackSender()
    memory.deliver("https://callback.example.com" + SECRET_TARGET, BODY)
    assert_no_secret(repr(memory.deliveries))


# -------------------------------------------------------------------------------------- memory sender


def test_the_memory_sender_records_checks_and_can_fail_on_purpose() -> None:
    memory = MemoryCallbackSender(CallbackUrlPolicy(resolver=PUBLIC_DNS), fail_times=1)
    uri = "https://callback.example.com" + SECRET_TARGET
    with pytest.raises(TransientError):
        memory.deliver(uri, BODY)
    memory.deliver(SecretStr(uri), BODY)
    assert [(d.uri.get_secret_value(), d.body) for d in memory.deliveries] == [(uri, BODY)]
    with pytest.raises(RequestRejected):
        memory.deliver("https://10.0.0.1" + SECRET_TARGET, BODY)
    assert len(memory.deliveries) == 1


# ---------------------------------------------------------------------------------------------- layers


def test_importing_the_module_loads_no_http_stack_or_azure_sdk() -> None:
    code = (
        "import sys, amlexec.callbacks; "
        "print([m for m in ('azure.core', 'azure.functions', 'requests', 'urllib3', 'ssl', 'http.client') "
        "if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
