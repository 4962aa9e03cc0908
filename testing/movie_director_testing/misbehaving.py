"""A loopback HTTP server that answers with a chosen fault, for the fault-injection suite.

Standalone it answers every request with the fault. In front of a real backend
(``upstream``) only the requests matching ``paths`` meet the fault; the others pass
through untouched (WebSocket upgrades are tunnelled), so a client can connect, probe
and validate normally and meet the fault exactly where the test wants it::

    with MisbehavingServer("server_error", upstream=comfyui_server.url, paths=["POST /prompt"]) as bad:
        client = ComfyUIClient(adhoc_service(bad.url, "comfyui", timeout=1.0, retries=0))
        ...
        assert bad.hits("POST", "/prompt") == 1

Faults that spoil an answer (:data:`FORWARDING`) send the request to the upstream first:
it reached the backend and only the answer goes wrong, the case where a blind retry
would do the work twice. Every wait polls the client's socket and the server's stop
flag, so a handler ends as soon as the client hangs up and ``close()`` joins them all.
Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import select
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import SplitResult, urlsplit

from movie_director_testing.processes import LOOPBACK

FAULTS = {
    "silence": "accept and read the request, never answer",
    "lost_answer": "forward the request to the upstream, then never answer",
    "slow_headers": "send the status line, then one header byte per drip interval",
    "slow_body": "send the headers, then one body byte per drip interval",
    "truncated": "announce the whole body, send half of it, close",
    "garbage": "200 labelled JSON with 10 MB of random bytes",
    "html": "200 with an HTML page (a router's login page)",
    "wrong_shape": "200 with valid JSON of a foreign shape",
    "wrong_content_type": "the right answer labelled text/html",
    "rate_limited": "429 with Retry-After and an error message",
    "server_error": "500 with an error message",
    "ok": "pass through (or answer {})",
}
#: Faults that forward the request before spoiling the upstream's answer.
FORWARDING = frozenset({"lost_answer", "slow_headers", "slow_body", "truncated", "wrong_content_type"})
RETRY_AFTER = "7"
RATE_LIMIT_MESSAGE = "Rate limit reached for this key: 3 requests per minute"
SERVER_ERROR_MESSAGE = "CUDA out of memory while loading the model"
GARBAGE_BYTES = 10 * 1024 * 1024
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Router login</title></head>"
    b"<body><h1>Please log in</h1><form><input name=password></form></body></html>"
)
FOREIGN_JSON = {"status": "ok", "items": 3, "data": "this is some other program"}
#: The answer of a standalone server, long enough to drip or cut in half.
DEFAULT_BODY = json.dumps({"status": "ok", "padding": "x" * 2000}).encode()
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te", "trailer", "proxy-connection"})
POLL = 0.05


@dataclass(frozen=True)
class Hit:
    """One request the server saw, and whether the upstream got it."""

    method: str
    path: str
    faulted: bool
    forwarded: bool


@cache
def garbage() -> bytes:
    """10 MB of random bytes (seeded: every run sends the same)."""
    return random.Random(8188).randbytes(GARBAGE_BYTES)


class MisbehavingServer:
    """See the module doc. ``drip`` seconds between bytes for ``drip_for`` seconds, ``hold_for`` at most silent."""

    def __init__(
        self,
        fault: str = "ok",
        *,
        upstream: str | None = None,
        paths: Iterable[str] = (),
        drip: float = 0.1,
        drip_for: float = 3.0,
        hold_for: float = 60.0,
        port: int = 0,
    ) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.drip = drip
        self.drip_for = drip_for
        self.hold_for = hold_for
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.set(fault, paths)
        self._server = _OwnedServer((LOOPBACK, port), _Handler)
        self._server.owner = self
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": POLL}, name="misbehaving-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def set(self, fault: str, paths: Iterable[str] = ()) -> None:
        """Answer with ``fault`` from now on, on ``paths`` only (``"/prompt"``, ``"POST /prompt"``) or everywhere."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if fault in ("lost_answer", "wrong_content_type") and not self.upstream:
            raise ValueError(f"the fault {fault!r} needs an upstream")
        rules = []
        for entry in paths:
            method, _, path = entry.rpartition(" ")
            rules.append((method.upper(), path))
        with self._lock:
            self.fault, self._rules = fault, tuple(rules)

    def count(self, method: str, path: str, forwarded: bool | None = None) -> int:
        """How many requests to ``method path`` arrived (and, if asked, reached the upstream)."""
        with self._lock:
            return sum(1 for hit in self.hits if hit.method == method and hit.path == path and (forwarded is None or hit.forwarded == forwarded))

    def start(self) -> MisbehavingServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; every handler ends within a poll interval and is joined."""
        self._closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> MisbehavingServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MisbehavingServer {self.url} fault={self.fault} upstream={self.upstream}>"

    # -- used by the handler ---------------------------------------------------------------

    def fault_for(self, method: str, path: str) -> str | None:
        """The fault for this request, or None to pass it through."""
        with self._lock:
            fault, rules = self.fault, self._rules
        if fault == "ok":
            return None
        if not rules or any((not m or m == method) and path.startswith(p) for m, p in rules):
            return fault
        return None

    def record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)


class _OwnedServer(ThreadingHTTPServer):
    """The HTTP server that knows its MisbehavingServer, so the handler finds faults and upstream."""

    owner: MisbehavingServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Misbehaving/1"
    timeout = 10.0  # a client that connects and sends nothing cannot hold close() up
    server: _OwnedServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: the test reports what matters

    @property
    def owner(self) -> MisbehavingServer:
        return self.server.owner

    def __getattr__(self, name: str) -> object:
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        self.close_connection = True  # one request per connection keeps every fault simple
        body = self._request_body()
        path = urlsplit(self.path).path
        owner = self.owner
        fault = owner.fault_for(self.command, path)
        forward = owner.upstream is not None and (fault is None or fault in FORWARDING)
        owner.record(Hit(self.command, path, fault is not None, forward))
        if forward and fault is None and self.headers.get("Upgrade", "").lower() == "websocket":
            self._tunnel()
            return
        status, reason, headers, answer = self._forward(body) if forward else (200, "OK", [("Content-Type", "application/json")], DEFAULT_BODY)
        if fault is None or fault == "ok":
            self._send(status, reason, headers, answer)
        elif fault in ("silence", "lost_answer"):
            self._wait(owner.hold_for)
        elif fault == "slow_headers":
            self._slow_headers(status, reason, headers, answer)
        elif fault == "slow_body":
            self._slow_body(status, reason, headers, answer)
        elif fault == "truncated":
            self._send(status, reason, headers, answer[: len(answer) // 2], length=len(answer))
        elif fault == "garbage":
            self._send(200, "OK", [("Content-Type", "application/json")], garbage())
        elif fault == "html":
            self._send(200, "OK", [("Content-Type", "text/html; charset=utf-8")], HTML_PAGE)
        elif fault == "wrong_shape":
            self._send(200, "OK", [("Content-Type", "application/json")], json.dumps(FOREIGN_JSON).encode())
        elif fault == "wrong_content_type":
            relabelled = [(name, value) for name, value in headers if name.lower() != "content-type"]
            self._send(status, reason, [*relabelled, ("Content-Type", "text/html; charset=utf-8")], answer)
        elif fault == "rate_limited":
            error = {"error": {"message": RATE_LIMIT_MESSAGE, "type": "rate_limit_error", "code": "429"}}
            self._send(429, "Too Many Requests", [("Content-Type", "application/json"), ("Retry-After", RETRY_AFTER)], json.dumps(error).encode())
        elif fault == "server_error":
            error = {"error": {"message": SERVER_ERROR_MESSAGE, "type": "internal_server_error"}}
            self._send(500, "Internal Server Error", [("Content-Type", "application/json")], json.dumps(error).encode())

    # -- requests --------------------------------------------------------------------------

    def _request_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                chunk = self.rfile.read(size + 2)[:size]
                if not size:
                    return b"".join(chunks)
                chunks.append(chunk)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """The upstream's answer to this request (status, reason, end-to-end headers, body)."""
        parts = self._upstream()
        connection = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port or 80, timeout=30)
        try:
            headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP and name.lower() != "host"}
            headers["Host"] = parts.netloc
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            kept = [(name, value) for name, value in response.getheaders() if name.lower() not in _HOP_BY_HOP]
            return response.status, response.reason, kept, answer
        finally:
            connection.close()

    def _upstream(self) -> SplitResult:
        upstream = self.owner.upstream
        if upstream is None:  # _dispatch forwards only when there is one
            raise RuntimeError("this server has no upstream to forward to")
        return urlsplit(upstream)

    def _tunnel(self) -> None:
        """Relay a WebSocket upgrade to the upstream byte for byte until either side closes."""
        parts = self._upstream()
        with socket.create_connection((parts.hostname or LOOPBACK, parts.port or 80), timeout=10) as upstream:
            head = f"{self.requestline}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in self.headers.items()) + "\r\n"
            upstream.sendall(head.encode("latin-1"))
            ends = [self.connection, upstream]
            while not self.owner._closing.is_set():  # noqa: SLF001 - the server's own stop flag
                readable, _, _ = select.select(ends, [], [], POLL)
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.connection else self.connection).sendall(data)

    # -- answers ---------------------------------------------------------------------------

    def _head(self, status: int, reason: str, headers: list[tuple[str, str]], length: int) -> bytes:
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers), f"Content-Length: {length}", "Connection: close"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, length: int | None = None) -> None:
        with contextlib.suppress(OSError):
            self.connection.sendall(self._head(status, reason, headers, len(body) if length is None else length) + body)

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the client hangs up or the server closes; True to go on."""
        deadline = time.monotonic() + seconds
        while True:
            if self.owner._closing.is_set() or self._client_gone():  # noqa: SLF001
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            time.sleep(min(POLL, remaining))

    def _drip(self, data: bytes) -> bytes | None:
        """Send ``data`` one byte per drip interval for ``drip_for`` seconds; what is left, None if the client left."""
        owner = self.owner
        deadline = time.monotonic() + owner.drip_for
        sent = 0
        while sent < len(data) and time.monotonic() < deadline:
            self.connection.sendall(data[sent : sent + 1])
            sent += 1
            if not self._wait(owner.drip):
                return None
        return data[sent:]

    def _slow_headers(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        head = self._head(status, reason, [("X-Filler", "f" * 4096), *headers], len(body))
        line_end = head.index(b"\r\n") + 2
        with contextlib.suppress(OSError):
            self.connection.sendall(head[:line_end])
            rest = self._drip(head[line_end:])
            if rest is not None:
                self.connection.sendall(rest + body)

    def _slow_body(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        with contextlib.suppress(OSError):
            self.connection.sendall(self._head(status, reason, headers, len(body)))
            rest = self._drip(body)
            if rest:
                self.connection.sendall(rest)


__all__ = ["FAULTS", "FORWARDING", "RATE_LIMIT_MESSAGE", "RETRY_AFTER", "SERVER_ERROR_MESSAGE", "Hit", "MisbehavingServer", "garbage"]
