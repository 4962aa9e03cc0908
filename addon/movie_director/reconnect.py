"""Reconnection: the per-service connection state machine, its backoff and circuit breaker.

Pure logic with an injectable clock (unit tests never sleep); the manager drives it
from health checks. While a service is not connected, its checks *are* the reconnect
attempts: the manager plans the next check at :meth:`Reconnector.next_check_in`
instead of the health interval, so a service that comes back is reconnected within
one backoff step.

States (:class:`ConnState`)::

    unknown ──ok──▶ connected ──check fails──▶ disconnected ──next check──▶ reconnecting
                       ▲                                                   │   │
                       └──────────────────────ok──────────────────────────┘   │ fails
                                                       failed ◀───────────────┘
        any failure that opens the breaker ──▶ suspended ──(300 s: half-open trial,
                                                             or reconnect now)──▶ reconnecting

- Backoff: 1, 2, 4 … s, capped (60 s; 5 s for loopback services: ``ServiceConfig.backoff_cap``),
  minus up to 10 % jitter so the cap is never exceeded and clients do not retry in step.
- Breaker: 5 consecutive failed checks open it for 300 s (state ``suspended``: checks
  pause; work is still accepted and waits in the queue); then one half-open trial; a
  success closes it.
  :meth:`Reconnector.reconnect_now` resets it and tries at once.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from enum import Enum

from movie_director.clock import SYSTEM_CLOCK, Clock

BREAKER_THRESHOLD = 5
BREAKER_OPEN_S = 300.0
JITTER = 0.1


class ConnState(str, Enum):
    UNKNOWN = "unknown"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    SUSPENDED = "suspended"


@dataclass
class Backoff:
    """Exponential delays ``initial * factor**attempt``, capped, with downward jitter."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = JITTER
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (0-based); always <= ``cap``."""
        base = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 - self.rng.uniform(0.0, self.jitter))


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed → (``threshold`` consecutive failures) → open for ``open_for`` s → half-open trial."""

    def __init__(self, threshold: int = BREAKER_THRESHOLD, open_for: float = BREAKER_OPEN_S, clock: Clock = SYSTEM_CLOCK) -> None:
        self.threshold = threshold
        self.open_for = open_for
        self.clock = clock
        self.failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock.monotonic() - self._opened_at >= self.open_for:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May we try now? (closed, or open long enough to allow the half-open trial)."""
        return self.state is not BreakerState.OPEN

    def retry_in(self) -> float:
        """Seconds until the half-open trial (0 when not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.open_for - self.clock.monotonic())

    def record_success(self) -> None:
        self.failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        self.failures += 1
        if self._opened_at is not None or self.failures >= self.threshold:
            self._opened_at = self.clock.monotonic()  # a failed half-open trial re-opens for a full period

    def reset(self) -> None:
        self.record_success()


class Reconnector:
    """The connection state of one service; thread-safe. See the module docstring."""

    def __init__(self, backoff: Backoff | None = None, breaker: CircuitBreaker | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self.state = ConnState.UNKNOWN
        self.failed_attempts = 0
        self._next_attempt_at: float | None = None
        self._lock = threading.Lock()

    def on_success(self) -> tuple[ConnState, ConnState]:
        with self._lock:
            old = self.state
            self.breaker.record_success()
            self.failed_attempts = 0
            self._next_attempt_at = None
            self.state = ConnState.CONNECTED
            return old, self.state

    def on_failure(self) -> tuple[ConnState, ConnState]:
        """A check could not reach the service."""
        with self._lock:
            old = self.state
            self.breaker.record_failure()
            now = self.clock.monotonic()
            if not self.breaker.allow():
                self.state = ConnState.SUSPENDED
                self._next_attempt_at = now + self.breaker.retry_in()
            else:
                self.state = ConnState.DISCONNECTED if old in (ConnState.CONNECTED, ConnState.UNKNOWN) else ConnState.FAILED
                self._next_attempt_at = now + self.backoff.delay(self.failed_attempts)
            self.failed_attempts += 1
            return old, self.state

    def begin_attempt(self) -> tuple[ConnState, ConnState]:
        """A check starts; while not connected it is a reconnect attempt."""
        with self._lock:
            old = self.state
            if old in (ConnState.DISCONNECTED, ConnState.FAILED, ConnState.SUSPENDED):
                self.state = ConnState.RECONNECTING
            return old, self.state

    def reconnect_now(self) -> tuple[ConnState, ConnState]:
        """Manual "reconnect now": reset the breaker and the backoff, try at once."""
        with self._lock:
            old = self.state
            self.breaker.reset()
            self.failed_attempts = 0
            self._next_attempt_at = self.clock.monotonic()
            return old, self.state

    def next_check_in(self, health_interval: float) -> float:
        """When to check next: the health interval while connected, else the next attempt."""
        with self._lock:
            if self.state in (ConnState.CONNECTED, ConnState.UNKNOWN) or self._next_attempt_at is None:
                return health_interval
            return max(0.0, self._next_attempt_at - self.clock.monotonic())

    def next_attempt_in(self) -> float | None:
        """Seconds until the next reconnect attempt; ``None`` while connected."""
        with self._lock:
            if self.state is ConnState.CONNECTED or self._next_attempt_at is None:
                return None
            return max(0.0, self._next_attempt_at - self.clock.monotonic())


__all__ = ["BREAKER_OPEN_S", "BREAKER_THRESHOLD", "Backoff", "BreakerState", "CircuitBreaker", "ConnState", "Reconnector"]
