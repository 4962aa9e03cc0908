"""The monitor socket: one ``/ws`` per enabled ComfyUI whose end means ComfyUI went away.

Separate from job sockets and under a client id of its own (``md-monitor-…``), so it
never takes a job's events over (ComfyUI routes an id's events to its newest socket).
A killed ComfyUI sends no close frame, but the kernel closes the TCP connection: the
blocked read fails within milliseconds. A link that is merely silent gets a ping after
``ping_interval`` and counts as dead when the pong does not come within another.
"""

from __future__ import annotations

import threading
import uuid

import websocket

from movie_director.configdata import ServiceConfig
from movie_director.watch import wake_reader
from movie_director_plugins.comfyui.session import socket_options

PING_INTERVAL_S = 10.0


class MonitorSocket:
    """A :class:`~movie_director.backend.Watch` on ComfyUI's ``/ws``."""

    def __init__(self, ws: websocket.WebSocket, ping_interval: float) -> None:
        self._ws = ws
        self._ping_interval = ping_interval
        self._closed = threading.Event()

    def wait(self) -> str:
        ws = self._ws
        ws.settimeout(self._ping_interval)
        pinged = False
        try:
            while not self._closed.is_set():
                try:
                    opcode, _ = ws.recv_data(True)
                except websocket.WebSocketTimeoutException:
                    if pinged:
                        return f"no answer to a ping within {self._ping_interval:g} s"
                    ws.ping()
                    pinged = True
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return "closed by the server"
                pinged = False
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            return "closed" if self._closed.is_set() else f"connection lost ({type(exc).__name__})"
        finally:
            ws.shutdown()
        return "closed"

    def close(self) -> None:
        self._closed.set()
        wake_reader(self._ws.sock)


def open_monitor(service: ServiceConfig, ping_interval: float = PING_INTERVAL_S) -> MonitorSocket:
    """Connect the monitor socket; raises what websocket-client raises when ComfyUI is not there."""
    options = socket_options(service, service.url, ping_interval)
    ws = websocket.WebSocket(sslopt=options.sslopt, skip_utf8_validation=True)
    try:
        ws.connect(
            f"{options.url}?clientId=md-monitor-{uuid.uuid4().hex[:12]}",
            header=list(options.header),
            timeout=options.connect_timeout,
            suppress_origin=True,  # ComfyUI answers 403 when Origin and Host differ
            **options.proxy,
        )
    except BaseException:
        ws.shutdown()
        raise
    return MonitorSocket(ws, ping_interval)


__all__ = ["PING_INTERVAL_S", "MonitorSocket", "open_monitor"]
