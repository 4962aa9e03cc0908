"""ComfyUI's ``/ws?clientId=<id>`` held by one reader thread that survives drops.

The reader decodes every frame into an :mod:`events` event and hands it to
``on_event`` (on the reader thread: keep it quick). Keep-alive: a second thread pings
when nothing arrived for ``ping_interval`` and cuts the link when the ping gets no
answer within another interval. A dropped link is reopened under the *same* client id with capped, jittered
backoff; the old socket is closed first, because ComfyUI drops the id of a newer
socket when an older one with that id closes (PROTOCOLS.md, "Reconnects and failures").
Events sent while disconnected are lost, so every state change goes to ``on_state``
and the job tracker reconciles from ``/queue`` and ``/history``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import websocket
from requests.structures import CaseInsensitiveDict

from movie_director.configdata import ServiceConfig
from movie_director.errors import (
    MovieDirectorError,
    WebSocketClosed,
    map_exception,
    response_error,
)
from movie_director.reconnect import Backoff
from movie_director_plugins.comfyui.events import (
    FEATURE_FLAGS_MESSAGE,
    ComfyUIEvent,
    decode_binary,
    parse_text,
)

log = logging.getLogger(__name__)

OPCODE_TEXT = websocket.ABNF.OPCODE_TEXT
OPCODE_BINARY = websocket.ABNF.OPCODE_BINARY
OPCODE_CLOSE = websocket.ABNF.OPCODE_CLOSE


class SocketState(str, Enum):
    """Where the live connection is; UNAVAILABLE means the server or a proxy refuses upgrades."""

    IDLE = "idle"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    UNAVAILABLE = "unavailable"
    CLOSED = "closed"


@dataclass(frozen=True)
class SocketOptions:
    """How to open the socket: URL, handshake headers (auth), TLS and proxy options."""

    url: str
    header: tuple[str, ...] = ()
    sslopt: dict[str, Any] = field(default_factory=dict)
    proxy: dict[str, Any] = field(default_factory=dict)
    connect_timeout: float = 5.0
    ping_interval: float = 20.0
    backoff: float = 0.5
    backoff_cap: float = 5.0

    def __repr__(self) -> str:  # the header may hold a bearer token
        return f"SocketOptions(url={self.url!r}, headers={len(self.header)}, ping_interval={self.ping_interval})"


def socket_options(service: ServiceConfig, http_root: str, ping_interval: float = 20.0) -> SocketOptions:
    """Options for ``service`` whose HTTP routes start at ``http_root`` (``…/api`` or not)."""
    parts = urlsplit(http_root)
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    url = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws"
    header = tuple(f"{name}: {value}" for name, value in (service.auth.headers() if service.auth else {}).items())
    sslopt: dict[str, Any] = {}
    if scheme == "wss":
        sslopt = {"cert_reqs": ssl.CERT_REQUIRED if service.verify_tls else ssl.CERT_NONE, "check_hostname": service.verify_tls}
        if service.ca_bundle:
            sslopt["ca_certs"] = service.ca_bundle
    proxy: dict[str, Any] = {"http_no_proxy": [parts.hostname or ""]}
    if not service.is_loopback:
        proxy = {}
        if service.proxy:
            proxy_parts = urlsplit(service.proxy)
            proxy = {
                "http_proxy_host": proxy_parts.hostname,
                "http_proxy_port": proxy_parts.port or 8080,
                "proxy_type": proxy_parts.scheme if proxy_parts.scheme.startswith("socks") else "http",
            }
    return SocketOptions(
        url=url,
        header=header,
        sslopt=sslopt,
        proxy=proxy,
        connect_timeout=service.connect_timeout,
        ping_interval=ping_interval,
        backoff=service.backoff,
        backoff_cap=service.backoff_cap,
    )


class WebSocketSession:
    """One client id's socket and its reader thread.

    ``connect()`` opens the first socket in the caller's thread (so refusals surface as
    typed errors there) and starts the reader; ``close()`` closes the socket and joins it.
    """

    def __init__(
        self,
        options: SocketOptions,
        client_id: str,
        on_event: Callable[[ComfyUIEvent], None],
        on_state: Callable[[SocketState, MovieDirectorError | None], None] | None = None,
        service: str = "ComfyUI",
        start_hint: str | None = None,
    ) -> None:
        self.options = options
        self.client_id = client_id
        self.on_event = on_event
        self.on_state = on_state
        self.service = service
        self.start_hint = start_hint
        self.state = SocketState.IDLE
        self.last_error: MovieDirectorError | None = None
        self.reconnects = 0
        self.opened_at = 0.0
        self._ws: websocket.WebSocket | None = None
        #: Frames received so far (pongs included); the keep-alive thread watches it.
        self.frames = 0
        self._thread: threading.Thread | None = None
        self._pinger: threading.Thread | None = None
        self._cut_reason: MovieDirectorError | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.options.url}?clientId={self.client_id}"

    @property
    def is_open(self) -> bool:
        return self.state is SocketState.OPEN

    def connect(self) -> None:
        """Open the socket and start the reader; raises a typed error if that fails.

        A refused handshake carries ``details["handshake_status"]`` so the caller can
        fall back to HTTP polling.
        """
        with self._lock:
            if self._thread is not None:
                return
            self._stopping.clear()
            self._ws = self._open()
            self._set_state(SocketState.OPEN)
            self._thread = threading.Thread(target=self._run, name=f"comfyui-ws-{self.client_id[:8]}", daemon=True)
            self._thread.start()
            self._pinger = threading.Thread(target=self._keep_alive, name=f"comfyui-ping-{self.client_id[:8]}", daemon=True)
            self._pinger.start()

    def recycle(self) -> None:
        """Drop the current socket so the reader reconnects (e.g. when events stopped arriving)."""
        ws = self._ws
        if ws is not None:
            _cut(ws)

    def close(self, timeout: float = 5.0) -> None:
        """Close the socket politely and join the reader thread."""
        self._stopping.set()
        with self._lock:
            ws, threads = self._ws, (self._thread, self._pinger)
            self._thread = self._pinger = None
        if ws is not None:
            _say_goodbye(ws)
            _cut(ws)
        for thread in threads:
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
        if ws is not None:
            ws.shutdown()
        self._set_state(SocketState.CLOSED)

    # -- reader thread ---------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            ws = self._ws
            if ws is None:
                break
            reason = self._read(ws)
            if self._stopping.is_set():
                break
            log.info("%s live connection lost (%s); reconnecting as %s", self.service, reason, self.client_id)
            _say_goodbye(ws)  # close the old socket BEFORE opening a new one under the same id
            ws.shutdown()
            self._set_state(SocketState.RECONNECTING, self.last_error)
            if not self._reconnect():
                break

    def _read(self, ws: websocket.WebSocket) -> str:
        """Dispatch frames until the link ends; returns why it ended.

        The socket blocks without a timeout (a timeout costs a poll() per read); the
        keep-alive thread watches :attr:`frames` and cuts a silent link instead.
        """
        on_event = self.on_event
        recv = ws.recv_data
        while True:
            try:
                opcode, payload = recv(True)
            except (websocket.WebSocketException, OSError, ValueError) as exc:
                self.last_error = self._cut_reason or map_exception(exc, self.service, self.start_hint)
                return type(exc).__name__
            self.frames += 1
            if opcode == OPCODE_TEXT:
                event = parse_text(payload)
            elif opcode == OPCODE_BINARY:
                event = decode_binary(payload)
            elif opcode == OPCODE_CLOSE:
                self.last_error = WebSocketClosed(service=self.service)
                return "closed by the server"
            else:
                continue  # ping (answered by websocket-client) or pong: counted as life above
            try:
                on_event(event)
            except Exception:
                log.exception("%s event handler failed on %s", self.service, event.type)

    def _keep_alive(self) -> None:
        """Ping a quiet link every ``ping_interval``; cut it when a ping got no answer in one interval.

        Pings also keep reverse proxies from closing an idle socket.
        """
        seen, pinged = -1, False
        while not self._stopping.wait(self.options.ping_interval):
            ws = self._ws
            if ws is None or self.state is not SocketState.OPEN:
                seen, pinged = -1, False
                continue
            if self.frames != seen:
                seen, pinged = self.frames, False
                continue
            if pinged:
                log.info("%s live connection silent after a ping; reconnecting", self.service)
                self._cut_reason = WebSocketClosed(f"{self.service} stopped answering on the live connection.", service=self.service)
                _cut(ws)
                seen, pinged = -1, False
                continue
            try:
                ws.ping()
                pinged = True
            except (websocket.WebSocketException, OSError):
                _cut(ws)

    def _reconnect(self) -> bool:
        """Reopen under the same id with capped, jittered backoff; False when stopping or refused for good."""
        backoff = Backoff(initial=self.options.backoff, cap=self.options.backoff_cap, jitter=0.5)
        delay = 0.0
        attempt = 0
        while not self._stopping.wait(delay):
            attempt += 1
            try:
                ws = self._open()
            except MovieDirectorError as error:
                self.last_error = error
                if "handshake_status" in error.details:
                    log.warning("%s refuses WebSocket upgrades now (%s); falling back to polling", self.service, error.message)
                    self._set_state(SocketState.UNAVAILABLE, error)
                    return False
                delay = backoff.delay(attempt)
                continue
            with self._lock:
                if self._stopping.is_set():
                    _cut(ws)
                    ws.shutdown()
                    return False
                self._ws = ws
            self.reconnects += 1
            self._set_state(SocketState.OPEN)
            return True
        return False

    def _open(self) -> websocket.WebSocket:
        options = self.options
        ws = websocket.WebSocket(sslopt=options.sslopt, skip_utf8_validation=True, enable_multithread=True)
        try:
            ws.connect(
                self.url,
                header=list(options.header),
                timeout=options.connect_timeout,
                suppress_origin=True,  # ComfyUI answers 403 when Origin and Host differ
                **options.proxy,
            )
            ws.send(FEATURE_FLAGS_MESSAGE)
        except websocket.WebSocketBadStatusException as exc:
            ws.shutdown()
            raise handshake_error(exc, self.options.url, self.service) from exc
        except Exception as exc:
            ws.shutdown()
            raise map_exception(exc, self.service, self.start_hint) from exc
        ws.settimeout(None)
        self._cut_reason = None
        self.opened_at = time.monotonic()
        return ws

    def _set_state(self, state: SocketState, error: MovieDirectorError | None = None) -> None:
        self.state = state
        if self.on_state is not None:
            try:
                self.on_state(state, error)
            except Exception:
                log.exception("%s socket state handler failed", self.service)


def handshake_error(exc: websocket.WebSocketBadStatusException, url: str, service: str) -> MovieDirectorError:
    """A refused upgrade: auth errors as such, anything else as "WebSockets blocked"."""
    status = int(getattr(exc, "status_code", 0) or 0)
    if status in (401, 407):
        body = getattr(exc, "resp_body", None) or b""
        response = SimpleNamespace(
            status_code=401,
            headers=CaseInsensitiveDict(getattr(exc, "resp_headers", None) or {}),
            text=body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body),
            url=url,
            request=None,
        )
        error = response_error(response, service=service, cause=exc)
    else:
        error = WebSocketClosed(
            f"{service} (or a proxy in front of it) refused the live connection on /ws with HTTP {status}.",
            service=service,
            hints=[
                f"A reverse proxy in front of {service} must forward WebSocket upgrades on /ws.",
                "The add-on falls back to polling over HTTP: jobs still run, with coarser progress.",
            ],
            cause=exc,
        )
    error.details["handshake_status"] = status
    return error


def _say_goodbye(ws: websocket.WebSocket) -> None:
    try:
        ws.send_close()
    except (websocket.WebSocketException, OSError) as exc:  # the link may already be gone
        log.debug("close frame not sent: %s", exc)


def _cut(ws: websocket.WebSocket) -> None:
    """Wake a reader blocked in recv on ``ws`` (shutdown, not close: the reader owns the fd)."""
    sock = ws.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


__all__ = ["SocketOptions", "SocketState", "WebSocketSession", "handshake_error", "socket_options"]
