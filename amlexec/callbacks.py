"""Tell a Data Factory WebHook activity how its run ended: POST the outcome to its ``callBackUri``, safely.

A WebHook activity adds ``callBackUri`` to the body it sends and then waits until that URI is called; with
``reportStatusOnCallBack: true`` the callback's ``StatusCode`` (≥ 400 fails the activity) and ``Error``
decide the activity's result, and ``Output`` becomes its output. This module builds that body from a
terminal event (:func:`callback_body`) and delivers it (:class:`HttpCallbackSender`).

Three promises:

* **At least once.** Connection errors, timeouts, 408, 429 and 5xx are retried with backoff and jitter
  (never sooner than ``Retry-After``) within a bounded budget; past it :class:`~amlexec.errors.TransientError`
  is raised, the caller's message is redelivered and the callback tried again. A 2xx is delivered; any other
  answer (400, 404, 410: Data Factory stopped waiting or the URI expired; a redirect) is logged once and
  dropped, since sending it again cannot help. The run's outcome is on the events topic either way.
* **The URI is a secret.** It is a bearer capability (no auth header; the signature is in its path and
  query), so it is accepted as :class:`pydantic.SecretStr` and its path and query never reach a log record,
  an exception message, a rejection or an event: only the scheme and host are ever named.
* **No request forgery.** amlexec must not become a way to make the app call internal URLs. There is no
  documented list of Data Factory's callback hosts, so none is hard-coded: :class:`CallbackUrlPolicy`
  requires https, refuses user information, resolves the host and refuses the URI unless every address is
  public (not private, loopback, link-local, multicast, reserved, unspecified, nor an IPv6 form of those),
  and applies an optional operator allow-list. Redirects are never followed.

DNS rebinding (the name resolves to a public address when checked and to an internal one when connected)
is closed, not just documented: :class:`PinnedHttpTransport` connects to the very address the policy
checked, while TLS still verifies the certificate for the host name (SNI) and ``Host`` names the host. One
delivery resolves once; every retry inside it uses the checked addresses; a redelivery checks again.

Why the standard library's ``http.client`` rather than azure-core's ``PipelineClient`` and ``RetryPolicy``:
for a POST, azure-core's RetryPolicy retries neither timeouts nor connection errors nor 408/429 (its method
allow-list leaves POST out), retries *any* 4xx that carries ``Retry-After`` (a 410 included) and sleeps
whatever ``Retry-After`` asks, unbounded; pinning an address under requests/urllib3 needs a custom pool
manager; urllib3 logs each request line, query included, at DEBUG; azure-core's HttpLoggingPolicy logs the
path at INFO; and with Application Insights on, azure-core's tracing policy and azure-monitor-opentelemetry's
requests/urllib3 instrumentation put the URL's path on every dependency span (the first redacts query
values, the second only a few well-known query keys). ``http.client`` is not instrumented, logs nothing,
follows no redirect and can be handed an already connected socket. Nothing here imports azure-core;
``http.client`` and ``ssl`` load on the first delivery (cold start).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import json
import logging
import random
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from amlexec.clock import Clock, SystemClock
from amlexec.errors import ConfigurationError, Issue, RequestRejected, TransientError
from amlexec.launch.failures import retry_after_seconds

if TYPE_CHECKING:
    import ssl

    from amlexec.launch.base import RunStatus

__all__ = [
    "CALLBACK_STATUS_CODES",
    "MAX_CALLBACK_BYTES",
    "CallbackResponse",
    "CallbackRetry",
    "CallbackSender",
    "CallbackTarget",
    "CallbackTransport",
    "CallbackUrlPolicy",
    "Delivery",
    "HttpCallbackSender",
    "MemoryCallbackSender",
    "PinnedHttpTransport",
    "Resolver",
    "callback_body",
    "parse_allowed_hosts",
    "split_callback_uri",
    "system_resolver",
]

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> addresses``: every address the host name resolves to, as text."""

# ------------------------------------------------------------------------------------------- the body

# StatusCode per terminal outcome. Data Factory fails the activity for any StatusCode >= 400 and shows the
# code with the error, so each failure gets a distinct, standard code whose meaning is closest:
#   failed   500  the work itself failed on the service side;
#   timedOut 504  amlexec, standing between Data Factory and Azure ML like a gateway, stopped waiting for
#                 the run at the activity's policy.timeout (408 would say the *caller* was too slow);
#   canceled 409  the run was stopped before completing: its state conflicts with the completion asked
#                 for, and re-running as is will not change that by itself (no non-standard 499);
#   rejected 400  the request can never succeed as written: the sender's to fix.
CALLBACK_STATUS_CODES: dict[str, str] = {
    "completed": "200",
    "failed": "500",
    "timedOut": "504",
    "canceled": "409",
    "rejected": "400",
}

# Data Factory refuses activity output over 4 MB; stay far below it, whatever a pipeline reports.
MAX_CALLBACK_BYTES = 1024 * 1024
_MAX_OUTPUTS_BYTES = 512 * 1024
_MAX_OUTPUT_VALUE_CHARS = 32 * 1024
_MAX_MESSAGE_CHARS = 4000
_MAX_FIELD_CHARS = 2048
_MAX_ISSUES = 20


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field_text(value: Any) -> Any:
    return _clip(value, _MAX_FIELD_CHARS) if isinstance(value, str) else value


def _json_value(value: Any) -> Any:
    """``value`` if it is plain JSON, else its text: the body must always serialise."""
    if isinstance(value, str):
        return _clip(value, _MAX_OUTPUT_VALUE_CHARS)
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return _clip(str(value), _MAX_OUTPUT_VALUE_CHARS)
    return value if len(text) <= _MAX_OUTPUT_VALUE_CHARS else _clip(text, _MAX_OUTPUT_VALUE_CHARS)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _bounded_outputs(outputs: Mapping[Any, Any]) -> tuple[dict[str, Any], bool]:
    """The outputs, each value clipped, as many whole entries (in name order) as fit the outputs budget."""
    kept: dict[str, Any] = {}
    used = 2
    for name in sorted(outputs, key=str):
        value = _json_value(outputs[name])
        cost = _size({str(name): value})
        if used + cost > _MAX_OUTPUTS_BYTES:
            return kept, True
        kept[str(name)] = value
        used += cost
    return kept, False


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _run_output(kind: str, status: RunStatus | None, data: Mapping[str, Any]) -> dict[str, Any]:
    # The event data already applies secureOutput (no outputs, no service error message): build from it;
    # the status only fills fields that are never secret.
    started = data.get("startedAt") or (_iso(status.started_at) if status else None)
    ended = data.get("endedAt") or (_iso(status.ended_at) if status else None)
    duration = data.get("durationSeconds")
    if duration is None and status is not None and status.started_at and status.ended_at:
        duration = round((status.ended_at - status.started_at).total_seconds(), 3)
    output: dict[str, Any] = {
        "runId": data.get("runId") or (status.run_id if status else None),
        "status": kind,
        "requestId": data.get("requestId"),
        "correlationId": data.get("correlationId"),
        "attempt": data.get("attempt"),
        "startedAt": started,
        "endedAt": ended,
        "durationSeconds": duration,
        "studioUrl": data.get("studioUrl") or (status.studio_url if status else None),
        "serviceStatus": data.get("serviceStatus") or (status.raw_status if status else None),
    }
    output = {key: _field_text(value) for key, value in output.items()}
    outputs = data.get("outputs")
    if isinstance(outputs, Mapping):
        output["outputs"], truncated = _bounded_outputs(outputs)
        if truncated:
            output["outputsTruncated"] = True
    elif status is not None and not status.outputs:
        # Nothing to hide: the run reported none. (Absent from the data with outputs on the status means
        # secureOutput withheld them, and then the key is left out altogether.)
        output["outputs"] = {}
    return output


def _run_error(kind: str, output: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, str]:
    run = output.get("runId") or "the run"
    service = output.get("serviceStatus") or "unknown"
    message = data.get("errorMessage")
    if not isinstance(message, str) or not message.strip():
        sentences = {
            "failed": f"Azure ML run {run} failed (service status {service}).",
            "timedOut": f"Azure ML run {run} did not finish within the activity's timeout; amlexec canceled it.",
            "canceled": f"Azure ML run {run} was canceled (service status {service}).",
        }
        message = sentences[kind]
    return {"ErrorCode": _clip(str(data.get("errorCode") or kind), 256), "Message": _clip(message, _MAX_MESSAGE_CHARS)}


def _rejected_parts(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    raw = data.get("issues")
    issues = [i for i in raw if isinstance(i, Mapping)] if isinstance(raw, list) else []
    shown = [{str(k): _field_text(v) for k, v in issue.items()} for issue in issues[:_MAX_ISSUES]]
    output: dict[str, Any] = {
        "status": "rejected",
        "requestId": _field_text(data.get("requestId")),
        "correlationId": _field_text(data.get("correlationId")),
        "activityName": _field_text(data.get("activityName")),
        "issueCount": len(issues),
        "issues": shown,
    }
    reasons = "; ".join(f"{issue.get('path') or '$'}: {issue.get('message')}" for issue in issues[:5])
    more = f" (+{len(issues) - 5} more)" if len(issues) > 5 else ""
    message = f"The request was rejected: {reasons}{more}" if issues else "The request was rejected."
    return output, {
        "ErrorCode": _clip(str(data.get("errorCode") or "rejected"), 256),
        "Message": _clip(message, _MAX_MESSAGE_CHARS),
    }


def callback_body(kind: str, status: RunStatus | None, data: Mapping[str, Any]) -> dict[str, Any]:
    """The WebHook callback body for a terminal outcome: ``{"Output", "Error", "StatusCode"}``.

    ``kind`` is the terminal event's kind (``completed``, ``failed``, ``timedOut``, ``canceled``,
    ``rejected``); ``data`` is that event's ``data`` (from :func:`amlexec.events.run_event` or
    :func:`amlexec.events.rejected_event`), which already leaves outputs and the service's error message out
    under ``secureOutput``; ``status`` is the run's last status, used only for fields that are never secret.
    ``Error`` is present for failures only. The body is plain JSON and at most :data:`MAX_CALLBACK_BYTES`.
    """
    code = CALLBACK_STATUS_CODES.get(kind)
    if code is None:
        raise ValueError(f"no callback for a {kind!r} outcome; expected one of {', '.join(CALLBACK_STATUS_CODES)}")
    if kind == "rejected":
        output, error = _rejected_parts(data)
        body: dict[str, Any] = {"Output": output, "Error": error, "StatusCode": code}
    else:
        output = _run_output(kind, status, data)
        body = {"Output": output, "StatusCode": code}
        if kind != "completed":
            body["Error"] = _run_error(kind, output, data)
    if _size(body) > MAX_CALLBACK_BYTES:
        # Only the pipeline's outputs or the issue list can be this large; the rest is bounded field by field.
        if output.pop("outputs", None) is not None:
            output["outputsTruncated"] = True
        if output.get("issues"):
            output["issues"] = []
    return body


# ------------------------------------------------------------------------------------ the URL policy

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_EXPECTED = "an https URL whose host resolves only to public addresses"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the system's preference order (``socket.getaddrinfo``).

    Only families this machine can reach (``AI_ADDRCONFIG``): an IPv4-only worker is not handed IPv6
    addresses that would each waste an attempt.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refused(reason: str) -> RequestRejected:
    return RequestRejected(
        [Issue("callBackUri", f"callback URI refused: {reason}", expected=_EXPECTED, code="callback_refused")]
    )


def _dns_name(text: str) -> str | None:
    """``text`` as a lower-case ASCII (IDNA) host name without a trailing dot, or None if it is not one."""
    try:
        name = text.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        return None
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return None
    return name


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _non_public(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public internet address, or None if it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Forms that carry an IPv4 address, which a translator on the way may deliver to: judge that address.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = _non_public(embedded)
            return f"an IPv6 form of {inner}" if inner else None
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        if ip.is_site_local:
            return "a site-local address"
    # Order matters: 127.0.0.1, 169.254.169.254 and 240.0.0.1 are "private" too; the narrower word helps more.
    for test, words in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
    ):
        if test:
            return words
    return None if ip.is_global else "a non-public address"


def _allow_list_entry(entry: str) -> str:
    text = entry.strip().lower()
    wildcard = text.startswith("*.")
    rest = text[2:] if wildcard else text
    literal = None if wildcard else _ip(rest.strip("[]"))
    name = str(literal) if literal is not None else _dns_name(rest)
    if name is None or (wildcard and "." not in name):
        raise ConfigurationError(
            f"callback allow-list entry {entry!r} is neither a host name nor a '*.suffix' pattern "
            "(for example 'callbacks.example.com' or '*.example.com')"
        )
    return f"*.{name}" if wildcard else name


def parse_allowed_hosts(text: str | None) -> tuple[str, ...]:
    """An allow-list setting (names and ``*.suffix`` patterns separated by commas, semicolons or spaces)."""
    entries = [part for part in re.split(r"[,;\s]+", text or "") if part]
    return tuple(_allow_list_entry(entry) for entry in entries)


@dataclass(frozen=True)
class CallbackTarget:
    """A callback URI that passed the policy, with the addresses it was checked against.

    ``request_target`` (path and query) is the secret part: it is left out of ``repr`` and must only ever be
    written into the HTTP request line.
    """

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    request_target: str = field(repr=False)

    @property
    def origin(self) -> str:
        """``scheme://host:port``: what logs and errors may name."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{shown}:{self.port}"


@dataclass(frozen=True)
class CallbackUrlPolicy:
    """Which callback URIs amlexec will call: https, no user information, only public addresses.

    ``allowed_hosts``: the operator's allow-list, exact host names or ``*.suffix`` patterns (a pattern
    matches names *below* the suffix, not the suffix itself); empty means any public host. It narrows the
    rules, never widens them: an allowed host that resolves to a private address is still refused.

    ``resolver``: how a host name becomes addresses (``socket.getaddrinfo`` by default); tests inject one.

    ``allow_insecure_loopback`` — **FOR TESTS ONLY. Production never sets it; no setting turns it on.** It
    accepts loopback addresses (127.0.0.0/8, ::1), and plain http to them, so tests can deliver to a real
    server on 127.0.0.1. Private, link-local and every other address are refused all the same.
    """

    allowed_hosts: tuple[str, ...] = ()
    resolver: Resolver = field(default=system_resolver, repr=False)
    allow_insecure_loopback: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", tuple(_allow_list_entry(e) for e in self.allowed_hosts))

    def check(self, uri: SecretStr | str) -> None:
        """Raise ``RequestRejected`` (issue ``callBackUri`` / ``callback_refused``) if ``uri`` may not be
        called, ``TransientError`` if its host cannot be resolved now. Messages name the scheme or host,
        never the path or query."""
        self.resolve(uri)

    def resolve(self, uri: SecretStr | str) -> CallbackTarget:
        """Check ``uri`` as :meth:`check` does and return where to connect: the checked addresses."""
        text = uri.get_secret_value() if isinstance(uri, SecretStr) else uri
        if not isinstance(text, str) or not text:
            raise _refused("it is empty")
        if len(text) > 8192:
            raise _refused("it is longer than 8192 characters")
        if any(ch <= " " or ch == "\x7f" for ch in text):
            raise _refused("it contains whitespace or control characters")
        try:
            parts = urlsplit(text)
            explicit_port = parts.port
        except ValueError:
            raise _refused("it is not a valid URL (or its port is out of range)") from None
        scheme = parts.scheme.lower()
        insecure = scheme == "http" and self.allow_insecure_loopback
        if scheme != "https" and not insecure:
            raise _refused(f"the scheme must be https (got {_clip(scheme, 16) or 'none'!r})")
        if "@" in parts.netloc:
            raise _refused("user information (user:password@) is not allowed in it")
        raw_host = parts.hostname
        if not raw_host:
            raise _refused("it has no host")
        if explicit_port == 0:
            raise _refused(f"the port of host {_clip(raw_host, 255)} is 0")
        port = explicit_port or (443 if scheme == "https" else 80)
        if not (parts.path + parts.query).isascii():
            raise _refused("its path or query is not ASCII (percent-encode it)")
        literal = _ip(raw_host)
        host = str(literal) if literal is not None else _dns_name(raw_host)
        if host is None:
            raise _refused(f"host {_clip(raw_host, 255)!r} is not a valid host name")
        if self.allowed_hosts and not any(_matches(host, entry) for entry in self.allowed_hosts):
            raise _refused(f"host {host} is not on the callback allow-list")
        addresses = [host] if literal is not None else self._lookup(host, port)
        for address in addresses:
            ip = _ip(address)
            if ip is None:
                raise TransientError(f"resolving the callback host {host} gave something that is not an address")
            reason = _non_public(ip)
            if reason is None or (self.allow_insecure_loopback and ip.is_loopback):
                continue
            # Name the category, never the internal address a name resolved to: the rejection goes back to
            # whoever sent the request, and would otherwise map internal DNS for them.
            if literal is not None:
                raise _refused(f"host {host} is {reason}")
            raise _refused(f"host {host} resolves to {reason}; only public addresses may be called back")
        if scheme == "http" and not all(_is_loopback(a) for a in addresses):
            raise _refused("the scheme must be https (got 'http')")
        path = parts.path or "/"
        return CallbackTarget(
            scheme=scheme,
            host=host,
            port=port,
            addresses=tuple(addresses),
            request_target=f"{path}?{parts.query}" if parts.query else path,
        )

    def _lookup(self, host: str, port: int) -> list[str]:
        try:
            addresses = list(self.resolver(host, port))
        except (OSError, UnicodeError, ValueError):
            # DNS may recover: a redelivery checks again. The resolver's own words add nothing for the caller.
            raise TransientError(f"could not resolve the callback host {host}") from None
        if not addresses:
            raise TransientError(f"the callback host {host} resolved to no address")
        return addresses


def _is_loopback(address: str) -> bool:
    ip = _ip(address)
    return ip is not None and ip.is_loopback


def _matches(host: str, entry: str) -> bool:
    if entry.startswith("*."):
        return host.endswith(entry[1:]) and len(host) > len(entry) - 1
    return host == entry


def split_callback_uri(body: bytes | str) -> tuple[bytes | str, SecretStr | None]:
    """Take the ``callBackUri`` Data Factory added to a WebHook body out of it: ``(the rest, the URI)``.

    The rest is what validation, the payload digest and the rejected queue should see: the URI is a secret,
    and a WebHook activity's retry gets a new one, which must not make the same request look like another
    payload. A body without the key (or not a JSON object) comes back as it is, with ``None``; a key whose
    value is not a non-empty string is refused. Call it after the payload size check.
    """
    # Fast path: most bodies have no callback. A key written with a JSON escape still takes the slow one.
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if b"callBack" not in raw and b"\\u" not in raw:
        return body, None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body, None  # validation says what is wrong with it
    if not isinstance(data, dict) or "callBackUri" not in data:
        return body, None
    value = data.pop("callBackUri")
    if not isinstance(value, str) or not value:
        raise _refused("callBackUri must be a non-empty string")
    rest = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if isinstance(body, str):
        return rest, SecretStr(value)
    try:
        return rest.encode(), SecretStr(value)
    except UnicodeEncodeError:  # a lone surrogate from a "\\ud800" escape: keep it escaped
        return json.dumps(data, separators=(",", ":")).encode(), SecretStr(value)


# --------------------------------------------------------------------------------------- the transport


@dataclass(frozen=True)
class CallbackResponse:
    """What the callback's answer says that matters: the status and the headers (for ``Retry-After``)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


class CallbackTransport(Protocol):
    """Sends one POST to ``address`` for ``target``; raises ``OSError`` or ``http.client.HTTPException``."""

    def post(
        self, target: CallbackTarget, address: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> CallbackResponse: ...


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, even on a TLS socket: it wakes a read blocked in another thread.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Deadline:
    """Ends an attempt at its deadline: a socket timeout bounds each read, not a server that drips bytes."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shutdown(self._sock)

    def cancel(self) -> None:
        self._timer.cancel()


@functools.lru_cache(maxsize=1)
def _default_tls_context() -> ssl.SSLContext:
    import ssl

    # The system's trust store, plus certifi's bundle when installed: the roots requests (and so the Azure
    # SDKs in this app) would trust. Hostname checks and TLS >= 1.2 are create_default_context's defaults.
    context = ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return context
    context.load_verify_locations(certifi.where())
    return context


class PinnedHttpTransport:
    """POSTs over a connection to the address the policy checked, not to whatever DNS says now.

    TLS is verified for the host name (sent as SNI) and ``Host`` names the host, so the server sees an
    ordinary request; only the address lookup is taken out of the connection's hands (DNS rebinding).
    ``timeout`` bounds the whole attempt: connect, handshake, request and the answer's head.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context

    def post(
        self, target: CallbackTarget, address: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> CallbackResponse:
        import http.client

        deadline = _Deadline(timeout)
        connection: http.client.HTTPConnection | None = None
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection((address, target.port), timeout=timeout)
            deadline.watch(sock)
            if target.scheme == "https":
                context = self._ssl_context or _default_tls_context()
                sock = context.wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False)
                deadline.watch(sock)
                sock.do_handshake()
                connection = http.client.HTTPSConnection(target.host, target.port, timeout=timeout, context=context)
            else:
                connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
            # A connected socket: http.client uses it as it is and never looks the host up itself.
            connection.sock = sock
            connection.request("POST", target.request_target, body=body, headers=dict(headers))
            response = connection.getresponse()
            answer = CallbackResponse(response.status, {k.lower(): v for k, v in response.getheaders()})
        except (OSError, http.client.HTTPException):
            if deadline.expired:
                raise TimeoutError("the attempt ran past its deadline") from None
            raise
        finally:
            deadline.cancel()
            if connection is not None:
                connection.close()
            elif sock is not None:
                sock.close()
        if deadline.expired:
            # Cut off mid-answer, http.client can still return the head it had (it treats EOF as the end
            # of the headers): an answer the deadline truncated is not one to trust.
            raise TimeoutError("the attempt ran past its deadline")
        return answer


# -------------------------------------------------------------------------------------------- senders


class CallbackSender(Protocol):
    """Delivers a callback body to a WebHook activity's ``callBackUri``."""

    def deliver(self, uri: SecretStr | str, body: dict[str, Any]) -> None:
        """Deliver ``body``, or raise ``TransientError`` (try again later) or ``RequestRejected`` (never)."""
        ...


@dataclass(frozen=True)
class CallbackRetry:
    """How hard one delivery tries: ``attempts`` POSTs, exponential backoff with jitter, never sooner than
    ``Retry-After``, and everything (attempts and waits) within ``budget`` seconds."""

    attempts: int = 4
    base_delay: float = 2.0
    max_delay: float = 30.0
    budget: float = 100.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(ceiling / 2, ceiling)


_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": "amlexec-callback/1",
    "Connection": "close",
}


def _failure_reason(error: BaseException) -> str:
    """What went wrong, in words of our own: exception texts may quote a URL or a server's answer."""
    import http.client
    import ssl

    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return "could not resolve the host"
    if isinstance(error, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed"
    if isinstance(error, ssl.SSLError):
        return "TLS error"
    if isinstance(error, http.client.RemoteDisconnected):
        return "connection closed without an answer"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionError):
        return "connection lost"
    if isinstance(error, http.client.HTTPException):
        return "malformed HTTP answer"
    code = getattr(error, "errno", None)
    return f"network error ({errno.errorcode.get(code, code)})" if isinstance(code, int) else "network error"


class HttpCallbackSender:
    """Checks the policy, then POSTs the body as JSON, retrying what a retry can cure (see the module doc).

    ``transport`` defaults to :class:`PinnedHttpTransport`; ``timeout`` bounds each attempt; ``retry`` the
    whole delivery; ``clock`` and ``rng`` make waits and jitter controllable in tests.
    """

    def __init__(
        self,
        policy: CallbackUrlPolicy,
        *,
        transport: CallbackTransport | None = None,
        timeout: float = 30.0,
        retry: CallbackRetry | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._policy = policy
        self._transport: CallbackTransport = transport or PinnedHttpTransport()
        self._timeout = timeout
        self._retry = retry or CallbackRetry()
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def deliver(self, uri: SecretStr | str, body: dict[str, Any]) -> None:
        """Deliver ``body`` to ``uri``.

        Returns when the callback answered 2xx, or answered something sending again cannot change (another
        4xx, a redirect: logged once as a WARNING). Raises ``RequestRejected`` if the policy refuses ``uri``
        and ``TransientError`` when the host cannot be resolved or the retry budget ran out.
        """
        import http.client

        target = self._policy.resolve(uri)
        payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        retry = self._retry
        started = self._clock.now()
        attempt = 0
        which = 0  # the checked address in use; the next one only after a connection-level failure
        while True:
            attempt += 1
            address = target.addresses[which % len(target.addresses)]
            elapsed = (self._clock.now() - started).total_seconds()
            timeout = max(0.1, min(self._timeout, retry.budget - elapsed))
            logger.debug("callback to %s: attempt %d via %s", target.origin, attempt, address)
            retry_after: float | None = None
            try:
                response = self._transport.post(target, address, payload, _HEADERS, timeout)
            except (OSError, http.client.HTTPException) as error:
                reason = _failure_reason(error)
                which += 1
            else:
                status = response.status
                if 200 <= status < 300:
                    logger.info("callback to %s delivered (HTTP %d, attempt %d)", target.origin, status, attempt)
                    return
                if status not in (408, 429) and status < 500:
                    # Sending again cannot change this answer; the outcome is on the events topic anyway.
                    why = (
                        "a redirect, which is never followed"
                        if 300 <= status < 400
                        else "Data Factory no longer waits for this callback or its URI expired"
                    )
                    logger.warning(
                        "callback to %s answered HTTP %d (%s): not delivered, not retried", target.origin, status, why
                    )
                    return
                reason = f"answered HTTP {status}"
                retry_after = retry_after_seconds(response.headers, now=self._clock.now())
            elapsed = (self._clock.now() - started).total_seconds()
            pause = max(retry.backoff(attempt, self._rng), retry_after or 0.0)
            if attempt >= retry.attempts or elapsed + pause > retry.budget:
                # Leave it to a redelivery of the caller's message: the at-least-once path.
                raise TransientError(
                    f"callback to {target.origin} not delivered after {attempt} attempt(s): {reason}",
                    retry_after=retry_after,
                ) from None
            logger.warning(
                "callback to %s: %s (attempt %d of %d); retrying in %.1fs",
                target.origin,
                reason,
                attempt,
                retry.attempts,
                pause,
            )
            self._clock.sleep(pause)


@dataclass(frozen=True)
class Delivery:
    """One callback :class:`MemoryCallbackSender` received."""

    uri: SecretStr
    body: dict[str, Any]


class MemoryCallbackSender:
    """Records deliveries instead of sending them: the local host and tests.

    With a ``policy`` the URI is checked as the HTTP sender would check it; ``fail_times`` makes the first
    deliveries raise ``TransientError`` (to exercise a caller's redelivery path).
    """

    def __init__(self, policy: CallbackUrlPolicy | None = None, *, fail_times: int = 0) -> None:
        self._policy = policy
        self._failures_left = fail_times
        self._lock = threading.Lock()
        self.deliveries: list[Delivery] = []

    def deliver(self, uri: SecretStr | str, body: dict[str, Any]) -> None:
        if self._policy is not None:
            self._policy.check(uri)
        # A copy through JSON: what is recorded is exactly what would have been sent, and must serialise.
        sent = json.loads(json.dumps(body, allow_nan=False))
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                raise TransientError("callback not delivered: an injected failure of the memory sender")
            self.deliveries.append(Delivery(uri if isinstance(uri, SecretStr) else SecretStr(uri), sent))
