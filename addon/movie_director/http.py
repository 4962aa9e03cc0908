"""HTTP sessions built the same way for every backend.

- Loopback URLs never go through a system proxy (a VPN or corporate proxy breaking
  ``127.0.0.1`` calls is a top complaint in peer add-ons); remote hosts use the
  configured proxy or the system's.
- Every request carries an explicit (connect, read) timeout, and a non-streaming one
  also ends by connect + read after it (re)started: see :class:`DeadlineAdapter`.
- Retries are urllib3's ``Retry``: connect errors always, and 429/502/503/504 with
  backoff and ``Retry-After`` only for idempotent methods, so a POST that reached the
  server is never sent twice.
- Auth headers come from an environment reference and are masked in every message.
- A downloaded file appears under its name only when it is whole (:func:`save_body`).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager
from urllib3.util.retry import Retry

from movie_director import __version__
from movie_director.configdata import ServiceConfig, is_loopback_host
from movie_director.errors import ConnectionLost, MovieDirectorError, ServiceError, describe_unexpected, map_exception, response_error

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection

USER_AGENT = f"movie-director-connect/{__version__}"
RETRY_STATUSES = (429, 502, 503, 504)
#: A server asking us to come back later than this gets a typed ``rate_limited``
#: error instead of a frozen call (urllib3's own cap is six hours).
RETRY_AFTER_MAX_S = 30.0
#: The longest wait between two retries (urllib3's own cap is two minutes).
BACKOFF_MAX_S = 30.0
CHUNK_SIZE = 1 << 16
#: How much of a body's start :func:`save_body` hands to its ``check`` (to sniff an HTML page).
HEAD_BYTES = 512


class Deadline:
    """The wall-clock bound of one non-streaming request, restarted for each attempt.

    urllib3 and http.client apply the read timeout to each socket read, so a server that
    drips a byte now and then holds a call for as long as it drips. When an attempt's
    time is up, a timer shuts its socket down, which makes the blocked read (headers or
    body) return at once; :class:`TimeoutSession` then raises ``ReadTimeout``. Each
    attempt (a connection taken from the pool) gets the whole bound, so the retry
    policy's own waits between attempts are not cut short.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False  # some attempt ran out of time
        self._conn: HTTPConnection | None = None
        self._sock: socket.socket | None = None
        self._conn_shut = False  # the current attempt's socket was shut down
        self._attempt = 0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def watch(self, conn: HTTPConnection) -> None:
        """An attempt starts on ``conn`` (just taken from its pool): its clock starts now."""
        self.stop()
        with self._lock:
            self._conn, self._sock, self._conn_shut = conn, conn.sock, False
            self._attempt += 1
            self._timer = threading.Timer(self.seconds, self._expire, args=(self._attempt,))
        self._timer.daemon = True
        self._timer.start()

    def connected(self, conn: HTTPConnection) -> None:
        """``conn`` opened its socket: keep it, as a ``Connection: close`` answer detaches it from ``conn``."""
        with self._lock:
            if conn is self._conn:
                self._sock = conn.sock

    def release(self, conn: object) -> bool:
        """``conn`` goes back to its pool: True when it was shut down and must be closed instead."""
        if conn is not self._conn:
            return False
        self.stop()
        return self._conn_shut

    def stop(self) -> bool:
        """Stop watching (idempotent); True when some attempt ran out of time."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:  # waits for a timer that is shutting the socket down right now
            self._conn = self._sock = None
        return self.expired

    def _expire(self, attempt: int) -> None:
        with self._lock:
            # A cancelled timer may still run: only the current attempt's socket is ours to shut.
            if self._sock is not None and attempt == self._attempt:
                self.expired = self._conn_shut = True
                with contextlib.suppress(OSError):  # already closed: nothing left to stop
                    self._sock.shutdown(socket.SHUT_RDWR)


#: The deadline of the non-streaming request running on this thread (set by TimeoutSession.request).
_running = threading.local()


def overall_seconds(timeout: Any) -> float | None:
    """connect + read of a requests ``timeout`` (a number counts for both); None when unbounded."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if not isinstance(connect, (int, float)) or not isinstance(read, (int, float)):
        return None
    return float(connect) + float(read)


class _WatchedConnectionMixin:
    """Hands each socket it opens to the running request's deadline."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        deadline: Deadline | None = getattr(_running, "deadline", None)
        if deadline is not None:
            deadline.connected(self)  # type: ignore[arg-type]


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _DeadlinePoolMixin(HTTPConnectionPool):
    """Starts the running request's deadline on each connection taken; never pools one it shut down."""

    def _get_conn(self, timeout: float | None = None) -> BaseHTTPConnection:
        conn = cast(HTTPConnection, super()._get_conn(timeout))  # our pools' ConnectionCls are HTTPConnections
        deadline: Deadline | None = getattr(_running, "deadline", None)
        if deadline is not None:
            deadline.watch(conn)
        return conn

    def _put_conn(self, conn: BaseHTTPConnection | None) -> None:
        deadline: Deadline | None = getattr(_running, "deadline", None)
        if conn is not None and deadline is not None and deadline.release(conn):
            conn.close()
            conn = None
        super()._put_conn(conn)


class _DeadlineHTTPPool(_DeadlinePoolMixin, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _DeadlineHTTPSPool(_DeadlinePoolMixin, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose pools keep a :class:`TimeoutSession` request's overall deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_deadline_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _use_deadline_pools(manager)
        return manager


def _use_deadline_pools(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}


class TimeoutSession(requests.Session):
    """A ``requests.Session`` that always sends a timeout and never uses a proxy for loopback."""

    def __init__(self, timeout: tuple[float, float], loopback: bool, proxy: str | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.loopback = loopback
        # trust_env=False stops requests from reading HTTP(S)_PROXY / NO_PROXY / .netrc
        self.trust_env = not loopback and proxy is None
        if proxy and not loopback:
            self.proxies = {"http": proxy, "https": proxy}
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send with the default timeout; a non-streaming request also ends by its overall deadline.

        ``stream=True`` callers (SSE readers, downloads) read the body later and bound it themselves.
        """
        kwargs.setdefault("timeout", self.default_timeout)
        seconds = overall_seconds(kwargs["timeout"])
        if kwargs.get("stream") or seconds is None:
            return super().request(method, url, *args, **kwargs)
        deadline = _running.deadline = Deadline(seconds)
        try:
            response = super().request(method, url, *args, **kwargs)
        except Exception as exc:
            # The shut-down socket surfaces as a lost connection: say what really happened.
            if deadline.stop():
                raise requests.exceptions.ReadTimeout(f"no whole answer within {seconds:g} s") from exc
            raise
        finally:
            deadline.stop()
            _running.deadline = None
        if deadline.expired:  # a body read until close looks whole when its socket was shut down
            raise requests.exceptions.ReadTimeout(f"no whole answer within {seconds:g} s")
        return response

    def __repr__(self) -> str:  # headers may hold a bearer token: never show them
        return f"<TimeoutSession loopback={self.loopback} timeout={self.default_timeout}>"


class CappedRetry(Retry):
    """urllib3's ``Retry`` that waits at most :data:`RETRY_AFTER_MAX_S` for a ``Retry-After``
    and at most :data:`BACKOFF_MAX_S` between attempts.

    Written for every urllib3 an add-on may be handed: a copy Blender imported first wins
    over our wheels, and Blender 4.2 LTS bundles urllib3 1.26.8, 4.5 bundles 2.4.0. Only
    urllib3 2.6.3 caps ``Retry-After`` itself, and 1.26 takes the backoff cap from the
    class (``DEFAULT_BACKOFF_MAX``), not from a ``backoff_max`` argument.
    """

    DEFAULT_BACKOFF_MAX = int(BACKOFF_MAX_S)  # whole seconds, as urllib3 declares it

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), RETRY_AFTER_MAX_S)


#: urllib3 2.x takes the backoff cap per instance; 1.26 (Blender 4.2's copy) has no such argument.
_BACKOFF_MAX_ARGUMENT: dict[str, Any] = {"backoff_max": BACKOFF_MAX_S} if "backoff_max" in inspect.signature(Retry.__init__).parameters else {}


def retry_policy(retries: int, backoff: float, methods: frozenset[str] | None = None) -> Retry:
    """Our retry policy as data (urllib3 ``Retry``): idempotent methods only, honouring Retry-After."""
    return CappedRetry(
        total=retries,
        connect=retries,
        read=0,
        status=retries,
        other=0,
        backoff_factor=backoff,
        **_BACKOFF_MAX_ARGUMENT,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=methods if methods is not None else Retry.DEFAULT_ALLOWED_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def build_session(
    service: ServiceConfig,
    pool_size: int = 10,
    retry_methods: frozenset[str] | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> TimeoutSession:
    """A pooled session for ``service`` with its timeouts, retries, TLS and auth."""
    session = TimeoutSession(service.timeouts, service.is_loopback, service.proxy)
    adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=retry_policy(service.retries, service.backoff, retry_methods))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = service.ca_bundle or service.verify_tls
    if service.auth is not None:
        session.headers.update(service.auth.headers())
    if extra_headers:
        session.headers.update(extra_headers)
    return session


#: A probe's connect timeout: its ``timeout``, at most this.
PROBE_CONNECT_MAX_S = 2.0


def probe_session(url: str, timeout: float) -> TimeoutSession:
    """A throw-away session for discovery probes: no retries, no proxy for loopback."""
    from urllib.parse import urlsplit

    session = TimeoutSession((min(timeout, PROBE_CONNECT_MAX_S), timeout), is_loopback_host(urlsplit(url).hostname or ""))
    adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=4, max_retries=Retry(total=0, read=False, redirect=3))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def probe_timeout_within(seconds: float) -> float:
    """The ``timeout`` to give :func:`probe_session` so that one request ends within ``seconds`` (connect + read)."""
    return seconds / 2 if seconds <= 2 * PROBE_CONNECT_MAX_S else seconds - PROBE_CONNECT_MAX_S


def probe_json(
    session: requests.Session,
    url: str,
    *,
    service: str,
    start_hint: str | None = None,
    refusals: tuple[int, ...] = (),
) -> tuple[Any, float] | None:
    """GET ``url`` for a probe: (its JSON, latency in ms), or None when the answer says "not this kind".

    The one classification every probe shares (see :meth:`Backend.probe`): another
    status or a body that is not JSON means "not mine"; 429 and 5xx mean "maybe mine,
    but busy or broken" and raise the server's own typed error (its message and
    ``Retry-After`` kept), as does an address that cannot be reached or answers too
    late. ``refusals`` are statuses the caller also wants raised (e.g. 401 for a
    client that must say "wrong key").
    """
    started = time.perf_counter()
    try:
        response = session.get(url)
    except Exception as exc:  # noqa: BLE001 - map_exception is the one place that sorts them
        raise map_exception(exc, service=service, start_hint=start_hint) from exc
    latency_ms = (time.perf_counter() - started) * 1000
    status = response.status_code
    if status == 429 or status >= 500 or status in refusals:
        raise response_error(response, service=service)
    if status != 200:
        return None
    try:
        # json.loads on the bytes: response.json() would first guess the encoding of a
        # large non-JSON body byte by byte (seconds for a few MB of binary).
        return json.loads(response.content), latency_ms
    except ValueError:  # UnicodeDecodeError included
        return None


def call(
    session: requests.Session,
    method: str,
    url: str,
    service: str | None = None,
    start_hint: str | None = None,
    **kwargs: Any,
) -> requests.Response:
    """Send a request; network failures and HTTP errors come back as our typed errors."""
    try:
        response = session.request(method, url, **kwargs)
    except Exception as exc:  # noqa: BLE001 - map_exception is the one place that sorts them
        raise map_exception(exc, service=service, start_hint=start_hint) from exc
    if response.status_code >= 400:
        raise response_error(response, service=service)
    return response


def json_of(response: requests.Response, service: str | None = None, expected: str = "JSON") -> Any:
    """The JSON body, or a ``malformed_response`` error that says what came instead."""
    try:
        return response.json()
    except ValueError:
        raise describe_unexpected(response.content[:2048], service, expected) from None


def save_body(
    response: requests.Response,
    target: Path,
    part: Path,
    *,
    name: str,
    service: str | None = None,
    max_bytes: int | None = None,
    check: Callable[[int, bytes], None] | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Stream a (``stream=True``) response's body into ``part``, renamed to ``target`` only when whole; returns its size.

    Whole means as long as its ``Content-Length`` (unless re-encoded), within ``max_bytes``
    and accepted by ``check(size, first_bytes)``, which raises otherwise. A stream cut
    mid-file becomes our typed error; ``part`` never stays behind, Ctrl-C included.
    """
    label = service or "the server"
    expected = response.headers.get("Content-Length")
    check_length = expected is not None and expected.isdigit() and not response.headers.get("Content-Encoding")
    size, head, complete = 0, b"", False
    try:
        with part.open("wb") as handle:
            for chunk in response.iter_content(CHUNK_SIZE):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ServiceError(
                        f"The file {name} from {label} is larger than the {max_bytes} bytes allowed; it was not kept.",
                        service=service,
                        hints=["Raise the download size limit if this file is expected."],
                        details=dict(details or {}),
                    )
                head = head or chunk[:HEAD_BYTES]
                handle.write(chunk)
        if check_length and size != int(expected or 0):
            raise ConnectionLost(f"The download of {name} from {label} stopped after {size} of {expected} bytes.", service=service, details=dict(details or {}))
        if check is not None:
            check(size, head)
        os.replace(part, target)
        complete = True
    except MovieDirectorError:
        raise
    except Exception as exc:  # noqa: BLE001 - a stream cut mid-file; map_exception sorts it
        raise map_exception(exc, service=service) from exc
    finally:
        if not complete:
            part.unlink(missing_ok=True)
    return size


__all__ = ["CappedRetry", "Deadline", "DeadlineAdapter", "MovieDirectorError", "TimeoutSession", "build_session", "call", "json_of", "overall_seconds", "probe_json", "probe_session", "probe_timeout_within", "retry_policy", "save_body"]
