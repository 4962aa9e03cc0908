"""Health rules and the one scheduler that runs every service's checks.

Vocabulary: the API speaks :class:`~movie_director.backend.Status` everywhere. The
product spec's words map onto it one to one:

==============  ===================  ===============================================
spec            ``Status``           rule (:class:`HealthTracker`)
==============  ===================  ===============================================
healthy         ``online``           the check succeeded in under 1 s
degraded        ``degraded``         it succeeded in 1 s or more, or it failed
                                     (fewer than 3 failures in a row)
unhealthy       ``offline``          3 consecutive failures
unknown         ``unknown``          never checked (or not allowed to: offline mode)
==============  ===================  ===============================================

System status (:func:`system_status`): a *critical* service (ComfyUI) offline → the
system is offline; any other service offline, or any degraded → degraded; all online
→ online; otherwise (some never checked) → unknown.

:class:`HealthScheduler` is one thread that sleeps on a condition until the next check
is due (never a polling loop: an idle manager costs no CPU) and hands due checks to a
bounded executor. Each check reschedules itself through :meth:`HealthScheduler.set_due`,
so the caller decides the next interval (the health interval while connected, the
reconnect backoff while not).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from movie_director.backend import HealthSample, Status
from movie_director.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

SLOW_MS = 1000.0
FAILURES_TO_OFFLINE = 3
#: Spec word for each status, for reports that quote the spec.
SPEC_NAMES = {Status.ONLINE: "healthy", Status.DEGRADED: "degraded", Status.OFFLINE: "unhealthy", Status.UNKNOWN: "unknown"}


class HealthTracker:
    """Applies the rule table to a stream of samples of one service."""

    def __init__(self, slow_ms: float = SLOW_MS, failures_to_offline: int = FAILURES_TO_OFFLINE) -> None:
        self.slow_ms = slow_ms
        self.failures_to_offline = failures_to_offline
        self.status = Status.UNKNOWN
        self.consecutive_failures = 0
        self.last_sample: HealthSample | None = None

    def record(self, sample: HealthSample) -> tuple[Status, Status]:
        """Fold in one sample; returns ``(old, new)`` status."""
        old = self.status
        self.last_sample = sample
        if sample.ok:
            self.consecutive_failures = 0
            self.status = Status.ONLINE if sample.latency_ms < self.slow_ms else Status.DEGRADED
        else:
            self.consecutive_failures += 1
            self.status = Status.OFFLINE if self.consecutive_failures >= self.failures_to_offline else Status.DEGRADED
        return old, self.status


def system_status(services: Iterable[tuple[Status, bool]]) -> Status:
    """Overall status from ``(status, critical)`` pairs; see the module docstring."""
    statuses = list(services)
    if any(status is Status.OFFLINE and critical for status, critical in statuses):
        return Status.OFFLINE
    if any(status in (Status.OFFLINE, Status.DEGRADED) for status, _ in statuses):
        return Status.DEGRADED
    if statuses and all(status is Status.ONLINE for status, _ in statuses):
        return Status.ONLINE
    return Status.UNKNOWN


class HealthScheduler:
    """Runs ``run(key)`` for each key when it is due, on at most ``max_workers`` threads.

    A key is never run twice at once; :meth:`check_now` on a running key runs it again
    right after. ``run`` must call :meth:`set_due` to be run again.
    """

    def __init__(self, run: Callable[[str], None], *, max_workers: int = 8, clock: Clock = SYSTEM_CLOCK, name: str = "md-health") -> None:
        self._run = run
        self._clock = clock
        self._name = name
        self._max_workers = max_workers
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- scheduling (any thread) -------------------------------------------------------

    def set_due(self, key: str, delay: float) -> None:
        """Run ``key`` ``delay`` seconds from now (replacing any earlier plan)."""
        with self._cond:
            self._due[key] = self._clock.monotonic() + max(0.0, delay)
            self._cond.notify()

    def check_now(self, key: str) -> None:
        with self._cond:
            if key in self._running:
                self._again.add(key)
            else:
                self._due[key] = self._clock.monotonic()
            self._cond.notify()

    def remove(self, key: str) -> None:
        with self._cond:
            self._due.pop(key, None)
            self._again.discard(key)

    def next_due_in(self, key: str) -> float | None:
        """Seconds until ``key`` runs, ``0`` while it runs, ``None`` if not planned."""
        with self._cond:
            if key in self._running:
                return 0.0
            due = self._due.get(key)
            return None if due is None else max(0.0, due - self._clock.monotonic())

    # -- the scheduling decision, pure for tests -------------------------------------

    def take_due(self, now: float) -> list[str]:
        """Keys due at ``now`` that are not running; they are marked running."""
        with self._cond:
            keys = sorted((key for key, due in self._due.items() if due <= now and key not in self._running), key=self._due.__getitem__)
            for key in keys:
                del self._due[key]
                self._running.add(key)
            return keys

    def seconds_to_next(self, now: float) -> float | None:
        """How long the scheduler may sleep: until the earliest due key not running."""
        with self._cond:
            waiting = [due for key, due in self._due.items() if key not in self._running]
            return max(0.0, min(waiting) - now) if waiting else None

    def finished(self, key: str) -> None:
        with self._cond:
            self._running.discard(key)
            if key in self._again:
                self._again.discard(key)
                self._due[key] = self._clock.monotonic()
            self._cond.notify()

    # -- the thread ------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._executor = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix=f"{self._name}-check")
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                keys = self.take_due(self._clock.monotonic())
                if not keys:
                    self._cond.wait(self.seconds_to_next(self._clock.monotonic()))
                    continue
            for key in keys:
                assert self._executor is not None
                try:
                    self._executor.submit(self._run_one, key)
                except RuntimeError:  # executor shut down while closing
                    return

    def _run_one(self, key: str) -> None:
        try:
            self._run(key)
        except Exception:  # noqa: BLE001 - a failing check must not kill the scheduler
            log.exception("health check of %s failed unexpectedly", key)
        finally:
            self.finished(key)

    def close(self, timeout: float = 10.0) -> None:
        """Stop planning, wait for running checks, join every thread."""
        with self._cond:
            self._closed = True
            self._due.clear()
            self._cond.notify_all()
            thread, executor = self._thread, self._executor
        if thread is not None:
            thread.join(timeout)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


__all__ = ["FAILURES_TO_OFFLINE", "SLOW_MS", "SPEC_NAMES", "HealthScheduler", "HealthTracker", "system_status"]
