"""A small thread-safe event bus: worker threads publish, the UI drains or subscribes.

Two ways to consume, because Blender and the CLI differ:

- :meth:`EventBus.drain` never blocks: the add-on calls it from a ``bpy.app.timers``
  tick (events wait in a bounded backlog; the oldest are dropped if nobody drains).
- :meth:`EventBus.subscribe` calls a function for every event on the bus's own thread
  (``md-events``), never on the thread that published, so a slow subscriber cannot
  stall a health check. The CLI prints state changes this way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: Health status of one service changed (``old``/``new`` are Status values).
STATUS = "status"
#: Connection state of one service changed (connected, reconnecting, ...).
STATE = "state"
#: The overall system status changed.
SYSTEM = "system"
#: A queued operation finished, failed, expired or was cancelled.
OPERATION = "operation"


@dataclass(frozen=True)
class Event:
    """One change, immutable so it can cross threads safely."""

    kind: str
    service: str | None
    old: str | None
    new: str
    timestamp: float = field(default_factory=time.time)
    error: Mapping[str, Any] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "service": self.service,
            "old": self.old,
            "new": self.new,
            "timestamp": self.timestamp,
            "error": dict(self.error) if self.error else None,
            "details": dict(self.details),
        }

    def describe(self) -> str:
        """One line for a log or the CLI: "comfyui: online → offline (ComfyUI is not running…)"."""
        who = self.service or "system"
        change = f"{self.old} → {self.new}" if self.old is not None else self.new
        extra = ""
        if self.kind == STATE and self.details.get("next_attempt_in") is not None:
            extra = f", next attempt in {self.details['next_attempt_in']:.0f} s"
        if self.kind == OPERATION:
            change = f"operation {self.details.get('op_type', '')} #{self.details.get('id', '?')} {self.new}"
        reason = f" ({self.error.get('message', '')})" if self.error else ""
        return f"{who}: {change}{extra}{reason}"


Subscriber = Callable[[Event], None]


class EventBus:
    """Publish from any thread; drain without blocking, or subscribe on our own thread."""

    def __init__(self, backlog: int = 1000) -> None:
        self._cond = threading.Condition()
        self._backlog: deque[Event] = deque(maxlen=backlog)
        self._outbox: deque[Event] = deque(maxlen=backlog)
        self._subscribers: list[Subscriber] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def publish(self, event: Event) -> None:
        with self._cond:
            if self._closed:
                return
            self._backlog.append(event)
            if self._subscribers:
                self._outbox.append(event)
                self._cond.notify()

    def drain(self, max_items: int | None = None) -> list[Event]:
        """Take the waiting events, oldest first, without blocking."""
        with self._cond:
            count = len(self._backlog) if max_items is None else min(max_items, len(self._backlog))
            return [self._backlog.popleft() for _ in range(count)]

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every later event, on the ``md-events`` thread.

        Returns a function that unsubscribes.
        """
        with self._cond:
            if self._closed:
                raise RuntimeError("the event bus is closed")
            self._subscribers.append(callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch, name="md-events", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._outbox and not self._closed:
                    self._cond.wait()
                if not self._outbox:
                    return
                event = self._outbox.popleft()
                subscribers = list(self._subscribers)
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:  # noqa: BLE001 - one broken subscriber must not silence the others
                    log.exception("event subscriber %r failed", callback)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is already published, then stop and join the dispatcher thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


__all__ = ["OPERATION", "STATE", "STATUS", "SYSTEM", "Event", "EventBus", "Subscriber"]
