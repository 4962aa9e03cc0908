"""Liveness pushed, not polled: how a lost service is seen at once and a returning one too.

One thread per watched service (``md-watch-<name>``, joined on :meth:`Liveness.close`):

- **Connected**: hold the backend's :class:`~movie_director.backend.Watch` (ComfyUI's
  ``/ws``, Gradio's heartbeat, the MCP event stream). Its end is reported as a loss, and
  the manager confirms it with a health check at once. A loopback service without a
  stream gets a TCP connect every :data:`TCP_CHECK_S` instead; a remote one relies on its
  health interval.
- **Not connected, on loopback**: a TCP connect every :data:`PORT_POLL_S` (refused in
  microseconds) until the port opens, then the health check confirms it, so the service
  is back within a poll of its port opening rather than at the next backoff step.
  Remote services keep the reconnect backoff.

The manager tells this module when a service's state changes (:meth:`Liveness.wake`);
this module tells the manager through two callbacks and never touches its state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from movie_director.backend import Watch

log = logging.getLogger(__name__)

#: While connected and without a held stream: how often a loopback port is tried.
TCP_CHECK_S = 1.0
#: While not connected: how often a loopback port is tried to see it open again.
PORT_POLL_S = 0.1
#: While a reopened port does not answer yet: how often to ask for a check, and for how long.
CONFIRM_S = 0.5
CONFIRM_WINDOW_S = 10.0
#: A stream that ended while the check said "still there" is reopened after this pause.
REOPEN_S = 1.0
TCP_TIMEOUT_S = 0.5
JOIN_S = 5.0


@dataclass(frozen=True)
class Watched:
    """What the liveness thread needs of one service (all calls thread-safe)."""

    name: str
    loopback: bool
    #: The reconnect state's value ("connected", "disconnected", …).
    state: Callable[[], str]
    #: ``Backend.watch`` bound to the service; raises when the stream cannot be opened.
    open_watch: Callable[[], Watch | None]
    #: ``Backend.reachable`` bound to the service: raises ``OSError`` when the port is closed.
    reachable: Callable[[float], None]


class Liveness:
    """Owns the watch threads; see the module docstring."""

    def __init__(self, on_lost: Callable[[str, str], None], on_port_open: Callable[[str], None]) -> None:
        self._on_lost = on_lost
        self._on_port_open = on_port_open
        self._stopping = threading.Event()
        self._wakes: dict[str, threading.Event] = {}
        self._watches: dict[str, Watch] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, services: list[Watched]) -> None:
        for service in services:
            self._wakes[service.name] = threading.Event()
            thread = threading.Thread(target=self._run, args=(service,), name=f"md-watch-{service.name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def wake(self, name: str) -> None:
        """The state of ``name`` changed: drop its stream (a check saw it go) and re-decide."""
        wake = self._wakes.get(name)
        if wake is None:
            return
        wake.set()
        with self._lock:
            watch = self._watches.get(name)
        if watch is not None:
            watch.close()

    def close(self) -> None:
        """Close every held stream and join every thread."""
        self._stopping.set()
        with self._lock:
            watches = list(self._watches.values())
        for watch in watches:
            watch.close()
        for wake in self._wakes.values():
            wake.set()
        for thread in self._threads:
            thread.join(JOIN_S)
        self._threads.clear()

    # -- one thread per service ------------------------------------------------------------

    def _run(self, service: Watched) -> None:
        wake = self._wakes[service.name]
        while not self._stopping.is_set():
            wake.clear()
            state = service.state()
            try:
                if state == "connected":
                    self._hold(service, wake)
                elif state != "unknown" and service.loopback:
                    self._await_port(service, wake)
                else:
                    wake.wait()  # first check pending, or remote: the backoff checks decide
            except Exception:  # noqa: BLE001 - a plugin's watch must never kill the thread
                log.exception("liveness watch of %s failed", service.name)
                self._stopping.wait(REOPEN_S)

    def _hold(self, service: Watched, wake: threading.Event) -> None:
        """While connected: hold the stream (or TCP-check a loopback port) until it ends."""
        try:
            watch = service.open_watch()
        except Exception as exc:  # noqa: BLE001 - any failure to open is a sign of loss
            self._lost(service, wake, f"watch could not open: {exc}")
            return
        if watch is None:
            self._check_port(service, wake)
            return
        with self._lock:
            self._watches[service.name] = watch
        try:
            if self._stopping.is_set():
                return
            reason = watch.wait()
        finally:
            with self._lock:
                self._watches.pop(service.name, None)
            watch.close()
        if not self._stopping.is_set() and not wake.is_set():
            self._lost(service, wake, reason)

    def _check_port(self, service: Watched, wake: threading.Event) -> None:
        if not service.loopback:
            wake.wait()
            return
        while not wake.wait(TCP_CHECK_S):
            try:
                service.reachable(TCP_TIMEOUT_S)
            except OSError as exc:
                self._lost(service, wake, f"port closed ({exc})")
                return

    def _lost(self, service: Watched, wake: threading.Event, reason: str) -> None:
        """Report the loss, give the confirming check time; a false alarm reopens after a pause."""
        log.info("%s: liveness lost (%s)", service.name, reason)
        self._on_lost(service.name, reason)
        wake.wait(REOPEN_S)

    def _await_port(self, service: Watched, wake: threading.Event) -> None:
        """While not connected: poll the loopback port; when it opens after being closed, ask
        for a health check at once, and again every :data:`CONFIRM_S` for :data:`CONFIRM_WINDOW_S`
        (a server may open its port before it answers). A port that never closed (a proxy in
        front, or a server answering wrongly) triggers nothing: the backoff checks decide."""
        seen_closed = False
        opened_at = triggered_at = None
        while not self._stopping.is_set() and service.state() not in ("connected", "unknown"):
            wake.clear()
            try:
                service.reachable(TCP_TIMEOUT_S)
            except OSError:
                seen_closed, opened_at = True, None
            else:
                now = time.monotonic()
                opened_at = opened_at or now
                if seen_closed and now - opened_at <= CONFIRM_WINDOW_S and (triggered_at is None or now - triggered_at >= CONFIRM_S):
                    triggered_at = now
                    self._on_port_open(service.name)
            wake.wait(PORT_POLL_S)


__all__ = ["CONFIRM_S", "PORT_POLL_S", "TCP_CHECK_S", "Liveness", "Watched"]
