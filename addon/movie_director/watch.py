"""Held HTTP streams as liveness signals (Gradio's heartbeat, the MCP event stream).

A server that dies closes the TCP connection of every stream it holds, so a reader
blocked on one learns of the death at once. :class:`HttpStreamWatch` is such a reader;
backends return it from :meth:`~movie_director.backend.Backend.watch`.

``http.client`` rather than ``requests``: the watch must be woken from another thread
(``close`` shuts the socket down), which needs the socket itself, and it carries no
retries or pooling that could hide the end of the stream.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from movie_director.configdata import ServiceConfig
from movie_director.errors import RequestRejected

READ_SIZE = 4096


class HttpStreamWatch:
    """A ``GET`` held open; :meth:`wait` returns when it ends or stays silent too long."""

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse, silence: float | None) -> None:
        self._connection = connection
        self._response = response
        self._silence = silence
        self._closed = threading.Event()

    def wait(self) -> str:
        sock = self._connection.sock
        if sock is None:
            return "stream closed"
        sock.settimeout(self._silence)
        try:
            while not self._closed.is_set():
                if not self._response.read1(READ_SIZE):
                    return "stream ended"
        except TimeoutError:
            return f"no data for {self._silence:g} s"
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return "closed" if self._closed.is_set() else f"stream broken ({type(exc).__name__})"
        finally:
            self._connection.close()
        return "closed"

    def close(self) -> None:
        self._closed.set()
        wake_reader(self._connection.sock)


def wake_reader(sock: socket.socket | None) -> None:
    """Make a ``recv`` blocked on ``sock`` in another thread return (shutdown, not close:
    the reader owns the file descriptor and closes it itself)."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def open_stream(
    service: ServiceConfig,
    paths: Sequence[str],
    headers: Mapping[str, str] | None = None,
    silence: float | None = None,
) -> HttpStreamWatch | None:
    """Hold the first of ``paths`` (request paths on the service's host) that answers 200.

    ``silence``: seconds without a byte after which the stream counts as dead (``None``:
    only its end counts, for servers that send nothing while idle). Raises ``OSError``
    when nothing listens, ``RequestRejected`` when no path is a stream. ``None`` for a
    remote service behind a proxy: a direct stream would not take the path its work takes.
    """
    if service.proxy and not service.is_loopback:
        return None
    parts = urlsplit(service.url)
    sent = {**(service.auth.headers() if service.auth else {}), **(headers or {})}
    statuses = []
    for path in paths:
        connection = _connection(service, parts.scheme, parts.hostname or "127.0.0.1", parts.port)
        try:
            connection.request("GET", path, headers=sent)
            response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        if response.status == 200:
            return HttpStreamWatch(connection, response, silence)
        statuses.append(f"{path} → {response.status}")
        connection.close()
    raise RequestRejected(f"{service.name} offers no liveness stream ({', '.join(statuses)}).", service=service.name)


def _connection(service: ServiceConfig, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
    if scheme == "https":
        context = ssl.create_default_context(cafile=service.ca_bundle)
        if not service.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(host, port, timeout=service.connect_timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=service.connect_timeout)


__all__ = ["HttpStreamWatch", "open_stream", "wake_reader"]
