"""An azure-core HttpTransport answering from a Python router, with a request log and fault injection.

The SDK builds its real requests (URLs, bodies, headers) and parses real responses; only the socket is
replaced. ``send`` returns the response classes azure-core expects for both request flavours.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import urllib3
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import _tools
from azure.core.pipeline.transport import HttpTransport, RequestsTransportResponse
from azure.core.rest._requests_basic import RestRequestsTransportResponse


@dataclass
class Call:
    """One request as the service saw it."""

    method: str
    url: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    def json(self) -> Any:
        return self.body


@dataclass
class Reply:
    """What a route answers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., Reply]


class Fault:
    """Something to do instead of (or after) answering; consumed once per matching request."""

    def __init__(
        self,
        method: str,
        pattern: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        drop: str | None = None,
        times: int = 1,
    ) -> None:
        self.method = method
        self.pattern = re.compile(pattern)
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.drop = drop  # "before": fail before the service sees it; "after": the service acts, reply is lost
        self.times = times


class Router:
    """Routes (method, path regex) to handlers; records every call; applies queued faults."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        # Optional: decides a fault for any request (fault-injection runs); queued faults take precedence.
        self.chaos: Callable[[str, str], Fault | None] | None = None

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    def fail(self, method: str, pattern: str, **kwargs: Any) -> Fault:
        fault = Fault(method, pattern, **kwargs)
        self.faults.append(fault)
        return fault

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        regex = re.compile(pattern)
        return [c for c in self.calls if c.method == method and regex.search(c.path)]

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.pattern.search(path) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def handle(self, method: str, url: str, headers: dict[str, str], raw_body: bytes | None) -> Reply:
        parts = urlsplit(url)
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body
        call = Call(method, url, parts.path, parse_qs(parts.query), dict(headers), body)
        with self.lock:
            self.calls.append(call)
            fault = self._fault_for(method, parts.path)
            if fault is None and self.chaos is not None:
                fault = self.chaos(method, parts.path)
        if fault is not None and fault.drop == "before":
            raise ServiceRequestError("connection refused (injected)")
        if fault is not None and fault.status is not None:
            return Reply(
                fault.status,
                fault.body
                if fault.body is not None
                else {"error": {"code": "Injected", "message": f"injected {fault.status}"}},
                fault.headers,
            )
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(parts.path)
            if route_method == method and match:
                with self.lock:
                    reply = handler(call, **match.groupdict())
                if fault is not None and fault.drop == "after":
                    raise ServiceResponseError("connection reset after the request was processed (injected)")
                return reply
        return Reply(404, {"error": {"code": "NoRoute", "message": f"fake has no route for {method} {parts.path}"}})


class FakeTransport(HttpTransport):  # type: ignore[type-arg]  # azure-core's transport is generic only in its stubs
    """Sends every request to a Router instead of the network."""

    def __init__(self, router: Router, clock: Any = None) -> None:
        self.router = router
        self.clock = clock
        self.sleeps: list[float] = []

    def sleep(self, duration: float) -> None:
        # azure-core's retry policy waits through the transport: record the wait (and move a manual clock)
        # instead of sleeping.
        self.sleeps.append(duration)
        if self.clock is not None:
            self.clock.advance(duration)

    def __enter__(self) -> FakeTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def send(self, request: Any, **kwargs: Any) -> Any:
        body = request.content if _tools.is_rest(request) else request.body
        if isinstance(body, str):
            body = body.encode()
        elif body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        reply = self.router.handle(request.method, request.url, dict(request.headers), body)
        raw = requests.Response()
        raw.status_code = reply.status
        payload = (
            b""
            if reply.body is None
            else (reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode())
        )
        raw._content = payload
        # Some SDK paths stream the body from the underlying urllib3 response: give them a real one.
        raw.raw = urllib3.HTTPResponse(
            body=io.BytesIO(payload),
            preload_content=False,
            status=reply.status,
            headers={"Content-Type": "application/json", **reply.headers},
        )
        raw.headers.update({"Content-Type": "application/json", **reply.headers})
        raw.url = request.url
        raw.reason = "OK" if reply.status < 400 else "Error"
        if _tools.is_rest(request):
            response = RestRequestsTransportResponse(request=request, internal_response=raw)  # type: ignore[no-untyped-call]
            response.read()
            return response
        return RequestsTransportResponse(request, raw)
