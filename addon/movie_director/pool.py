"""A bounded, thread-safe pool of whatever a backend's ``connect`` returns.

::

    with pool.acquire(timeout=5) as session:
        session.get(...)

- At most ``max_size`` connections exist (idle + in use + being opened); a caller
  beyond that waits up to ``timeout`` and then gets a typed
  :class:`~movie_director.errors.PoolTimeout`.
- A connection whose ``with`` block raised a connection error (ours, ``OSError``, or
  anything :func:`~movie_director.errors.map_exception` calls a connection problem) is
  closed, never handed out again; :meth:`Lease.discard` does the same on purpose.
- Idle connections expire after ``idle_timeout`` (300 s), down to ``min_size``;
  a connection idle longer than ``validate_after`` is checked with ``validate``
  (the backend's ``is_usable``) before it is reused.
- Hot path: one lock, a LIFO deque (the warmest connection first), no clock read
  unless a pool has idle limits; slow work (connect, close, validate) happens outside
  the lock.

The pool starts no thread: expiry is lazy on checkout and :meth:`evict_idle`, which the
manager calls from its scheduler. :meth:`close` closes every connection (in-use ones
when they come back) and wakes every waiter.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from movie_director.clock import SYSTEM_CLOCK, Clock
from movie_director.errors import ConnectionProblem, PoolTimeout, map_exception

log = logging.getLogger(__name__)

C = TypeVar("C")

IDLE_TIMEOUT_S = 300.0
VALIDATE_AFTER_S = 30.0


class PoolClosed(RuntimeError):
    """The pool was closed (the add-on is unregistering, the CLI exiting)."""


@dataclass(frozen=True)
class PoolStats:
    """Counters since the pool was made, and what it holds now."""

    acquisitions: int
    creations: int
    reuses: int
    errors: int
    timeouts: int
    discarded: int
    expired: int
    wait_time_total_s: float
    wait_time_max_s: float
    in_use: int
    idle: int
    waiting: int
    max_size: int
    min_size: int

    @property
    def reuse_rate(self) -> float:
        return self.reuses / self.acquisitions if self.acquisitions else 0.0

    @property
    def wait_time_avg_ms(self) -> float:
        return self.wait_time_total_s * 1000 / self.acquisitions if self.acquisitions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "acquisitions": self.acquisitions,
            "creations": self.creations,
            "reuses": self.reuses,
            "reuse_rate": round(self.reuse_rate, 4),
            "errors": self.errors,
            "timeouts": self.timeouts,
            "discarded": self.discarded,
            "expired": self.expired,
            "wait_time_avg_ms": round(self.wait_time_avg_ms, 3),
            "wait_time_max_ms": round(self.wait_time_max_s * 1000, 3),
            "in_use": self.in_use,
            "idle": self.idle,
            "waiting": self.waiting,
            "max_size": self.max_size,
            "min_size": self.min_size,
        }


def is_connection_error(exc: BaseException) -> bool:
    """Does ``exc`` mean the connection itself is broken (so it must not be reused)?"""
    if isinstance(exc, (ConnectionProblem, OSError)):
        return True
    if isinstance(exc, Exception) and type(exc).__module__.split(".")[0] in ("requests", "urllib3", "websocket", "httpx", "gradio_client"):
        return isinstance(map_exception(exc), ConnectionProblem)
    return False


class Lease(Generic[C]):
    """One checkout; a context manager that gives the connection back on exit."""

    __slots__ = ("_broken", "_pool", "_timeout", "connection")

    def __init__(self, pool: ConnectionPool[C], timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._broken = False

    def __enter__(self) -> C:
        self.connection = self._pool._checkout(self._timeout)
        return self.connection

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        broken = self._broken or (exc is not None and is_connection_error(exc))
        self._pool._checkin(self.connection, broken, exc if broken else None)

    def discard(self) -> None:
        """Close this connection when the block ends instead of returning it."""
        self._broken = True


class ConnectionPool(Generic[C]):
    """See the module docstring."""

    def __init__(
        self,
        create: Callable[[], C],
        *,
        name: str = "service",
        max_size: int = 10,
        min_size: int = 0,
        idle_timeout: float | None = IDLE_TIMEOUT_S,
        validate_after: float | None = VALIDATE_AFTER_S,
        validate: Callable[[C], bool] | None = None,
        close: Callable[[C], None] | None = None,
        on_broken: Callable[[BaseException | None], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_size < 1 or not 0 <= min_size <= max_size:
            raise ValueError(f"pool sizes must satisfy 0 <= min ({min_size}) <= max ({max_size}) and max >= 1")
        self.name = name
        self.max_size = max_size
        self.min_size = min_size
        self.idle_timeout = idle_timeout
        self.validate_after = validate_after if validate is not None else None
        self._create = create
        self._validate = validate
        self._close_one = close or _close
        self._on_broken = on_broken
        self._clock = clock
        self._timed = idle_timeout is not None or self.validate_after is not None
        self._cond = threading.Condition(threading.Lock())
        self._idle: deque[tuple[C, float]] = deque()
        self._total = 0  # idle + in use + being created
        self._waiting = 0
        self._closed = False
        self._acquisitions = self._creations = self._reuses = 0
        self._errors = self._timeouts = self._discarded = self._expired = 0
        self._wait_total = self._wait_max = 0.0

    def acquire(self, timeout: float | None = 10.0) -> Lease[C]:
        """A lease for ``with``: waits up to ``timeout`` s for a free slot (``None``: forever)."""
        return Lease(self, timeout)

    # -- checkout / checkin ------------------------------------------------------------

    def _checkout(self, timeout: float | None) -> C:
        while True:
            connection, stale, create, doomed = self._reserve(timeout)
            self._close_all(doomed)
            if create:
                return self._open()
            if stale and not self._still_usable(connection):
                self._drop(connection, expired=False)
                continue
            return connection

    def _reserve(self, timeout: float | None) -> tuple[Any, bool, bool, list[C]]:
        """Under the lock: pick an idle connection or a slot to create one; wait if neither."""
        doomed: list[C] = []
        started: float | None = None
        deadline: float | None = None
        with self._cond:
            self._acquisitions += 1
            while not self._closed:
                now = self._clock.monotonic() if self._timed else 0.0
                while self._idle:
                    connection, since = self._idle.pop()
                    if self.idle_timeout is not None and now - since > self.idle_timeout:
                        self._total -= 1
                        self._expired += 1
                        doomed.append(connection)
                        continue
                    self._reuses += 1
                    self._record_wait(started)
                    stale = self.validate_after is not None and now - since > self.validate_after
                    return connection, stale, False, doomed
                if self._total < self.max_size:
                    self._total += 1
                    self._creations += 1
                    self._record_wait(started)
                    return None, False, True, doomed
                if started is None:
                    started = self._clock.monotonic()
                    deadline = None if timeout is None else started + timeout
                remaining = None if deadline is None else deadline - self._clock.monotonic()
                if remaining is not None and remaining <= 0:
                    self._timeouts += 1
                    self._record_wait(started)
                    break
                self._waiting += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._waiting -= 1
            closed = self._closed
        self._close_all(doomed)
        if closed:
            raise PoolClosed(f"the connection pool of {self.name} is closed")
        raise PoolTimeout(
            f"All {self.max_size} connections to {self.name} stayed busy for {timeout:.1f} s.",
            service=self.name,
            details={"max_size": self.max_size, "timeout": timeout},
        )

    def _record_wait(self, started: float | None) -> None:
        if started is not None:
            waited = self._clock.monotonic() - started
            self._wait_total += waited
            self._wait_max = max(self._wait_max, waited)

    def _open(self) -> C:
        try:
            return self._create()
        except BaseException:
            with self._cond:
                self._total -= 1
                self._errors += 1
                self._cond.notify()
            raise

    def _still_usable(self, connection: C) -> bool:
        assert self._validate is not None
        try:
            return bool(self._validate(connection))
        except Exception:  # noqa: BLE001 - a validator that fails means "not usable"
            return False

    def _checkin(self, connection: C, broken: bool, error: BaseException | None = None) -> None:
        if broken:
            self._drop(connection, expired=False)
            if self._on_broken is not None:
                self._on_broken(error)
            return
        with self._cond:
            if not self._closed:
                self._idle.append((connection, self._clock.monotonic() if self._timed else 0.0))
                self._cond.notify()
                return
            self._total -= 1
        self._close_all([connection])

    def _drop(self, connection: C, expired: bool) -> None:
        with self._cond:
            self._total -= 1
            if expired:
                self._expired += 1
            else:
                self._discarded += 1
                self._errors += 1
            self._cond.notify()
        self._close_all([connection])

    def _close_all(self, connections: list[C]) -> None:
        for connection in connections:
            try:
                self._close_one(connection)
            except Exception:  # noqa: BLE001 - closing a dead connection may fail; it is gone either way
                log.debug("closing a connection of %s failed", self.name, exc_info=True)

    # -- maintenance ---------------------------------------------------------------------

    def fill(self) -> int:
        """Open connections until ``min_size`` exist; returns how many were opened."""
        opened = 0
        for _ in range(self.min_size):
            with self._cond:
                if self._closed or self._total >= self.min_size:
                    break
                self._total += 1
                self._creations += 1
            connection = self._open()
            self._checkin(connection, broken=False)
            opened += 1
        return opened

    def evict_idle(self) -> int:
        """Close idle connections past ``idle_timeout``, keeping ``min_size``; returns how many."""
        if self.idle_timeout is None:
            return 0
        doomed: list[C] = []
        with self._cond:
            now = self._clock.monotonic()
            while self._idle and self._total > self.min_size and now - self._idle[0][1] > self.idle_timeout:
                doomed.append(self._idle.popleft()[0])
                self._total -= 1
                self._expired += 1
        self._close_all(doomed)
        return len(doomed)

    def clear(self) -> int:
        """Close every idle connection (the service restarted: they are all stale)."""
        with self._cond:
            doomed = [connection for connection, _ in self._idle]
            self._idle.clear()
            self._total -= len(doomed)
            self._discarded += len(doomed)
            self._cond.notify_all()
        self._close_all(doomed)
        return len(doomed)

    def close(self) -> None:
        """Close idle connections now and in-use ones when they are given back; wake waiters."""
        with self._cond:
            self._closed = True
            doomed = [connection for connection, _ in self._idle]
            self._idle.clear()
            self._total -= len(doomed)
            self._cond.notify_all()
        self._close_all(doomed)

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> PoolStats:
        with self._cond:
            idle = len(self._idle)
            return PoolStats(
                acquisitions=self._acquisitions,
                creations=self._creations,
                reuses=self._reuses,
                errors=self._errors,
                timeouts=self._timeouts,
                discarded=self._discarded,
                expired=self._expired,
                wait_time_total_s=self._wait_total,
                wait_time_max_s=self._wait_max,
                in_use=self._total - idle,
                idle=idle,
                waiting=self._waiting,
                max_size=self.max_size,
                min_size=self.min_size,
            )

    def __repr__(self) -> str:
        return f"<ConnectionPool {self.name} {self._total}/{self.max_size}>"


def _close(connection: Any) -> None:
    close = getattr(connection, "close", None)
    if close is not None:
        close()


__all__ = ["ConnectionPool", "Lease", "PoolClosed", "PoolStats", "is_connection_error"]
