"""A loopback HTTP(S) server that records every request and answers from a script: the far end of callbacks.

Each request takes the next scripted :class:`Answer` (the last one repeats): a status with headers, an
answer held back until the client has given up (a hang), or a head dripped a byte at a time (a server too
slow for any per-read timeout to catch). With ``tls_names`` it serves TLS with a throwaway certificate for
those names (and 127.0.0.1), records the SNI name each client sent, and :meth:`HttpReceiver.client_context`
trusts that certificate and nothing else.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Answer:
    """What the server does with one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"
    hang: float = 0.0  # hold the answer back this long (or until the receiver stops)
    drip: bool = False  # send the head one byte every 50 ms, never finishing it


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    target: str  # path and query, exactly as on the request line
    headers: dict[str, str]
    body: bytes


def write_certificate(folder: Path, names: Sequence[str]) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` and 127.0.0.1, valid for a day; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    alternatives: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alternatives.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "receiver-cert.pem", folder / "receiver-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class HttpReceiver:
    """A threaded server on an ephemeral 127.0.0.1 port; use it as a context manager."""

    def __init__(
        self,
        answers: Iterable[Answer] = (),
        *,
        tls_names: Sequence[str] | None = None,
        folder: Path | None = None,
    ) -> None:
        self._answers = list(answers) or [Answer()]
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        self.sni_names: list[str | None] = []
        self.stopping = threading.Event()
        self._tls: ssl.SSLContext | None = None
        self.cert: Path | None = None
        if tls_names is not None:
            if folder is None:
                raise ValueError("a TLS receiver needs a folder for its certificate")
            self.cert, key = write_certificate(folder, tls_names)
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(self.cert, key)
            self._tls.sni_callback = self._record_sni
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def setup(self) -> None:
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.do_handshake()
                super().setup()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = receiver._record(Received(self.command, self.path, dict(self.headers), body))
                self.close_connection = True
                if answer.hang:
                    receiver.stopping.wait(answer.hang)
                if answer.drip:
                    receiver._drip(self.wfile)
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, address = self.socket.accept()
                if receiver._tls is not None:
                    # The handshake happens in the handler's thread: a client that never completes it
                    # (or refuses the certificate) cannot stall the accepting loop.
                    sock = receiver._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return sock, address

            def handle_error(self, request: Any, client_address: Any) -> None:
                return None  # a client that gave up (a timeout test) is expected, not an error

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record_sni(self, sock: Any, name: str | None, context: Any) -> None:
        with self._lock:
            self.sni_names.append(name)

    def _record(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            return self._answers[min(len(self.requests), len(self._answers)) - 1]

    def _drip(self, out: Any) -> None:
        head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100_000
        for byte in head:
            if self.stopping.wait(0.05):
                return
            try:
                out.write(bytes([byte]))
                out.flush()
            except OSError:
                return

    def url(self, target: str, *, host: str = "127.0.0.1") -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{target}"

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this receiver's certificate only (hostname checks on)."""
        if self.cert is None:
            raise ValueError("not a TLS receiver")
        return ssl.create_default_context(cafile=str(self.cert))

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
