"""Many runs of one job over a service's instances: pull-based, least loaded first, failover without duplicates.

Each instance holds one run at a time (ComfyUI executes one prompt at a time, so a run
queued on a busy instance would only wait there, and could no longer move). Whenever an
instance has a free slot, the next run goes to the best free instance that can run it,
as :func:`movie_director.routing.pick` ranks them. The backend sits behind
:class:`Member`, so the same runner serves every kind of backend.

Failover never runs a job twice behind the user's back:

- a run not yet sent, or whose send was refused, moves to another instance;
- a run sent to an instance whose process went away (:class:`InstanceGone`: its link
  closed and its port refuses) before its success was seen moves too, and is reported
  (``on_moved`` and :attr:`RunOutcome.moved_from`): the dead process's queue died with it;
- a run on an instance that is still up is waited for there (the member reconciles it),
  never sent elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from movie_director.configdata import ServiceConfig
from movie_director.errors import ConnectionProblem, MovieDirectorError
from movie_director.routing import InstanceLoad, pick

log = logging.getLogger(__name__)

Work = TypeVar("Work")
Work_contra = TypeVar("Work_contra", contravariant=True)


class InstanceGone(Exception):
    """The instance's process went away while it held a run whose success we never saw."""

    def __init__(self, ident: str, reason: str) -> None:
        super().__init__(reason)
        self.ident = ident


class Probed(Protocol):
    """An instance whose load can be read now."""

    url: str

    def load(self) -> InstanceLoad:
        """Probe the instance now (raises a ConnectionProblem when it is down)."""


class Member(Probed, Protocol[Work_contra]):
    """One instance as the batch runner sees it; the backend plugin implements it."""

    def lacks(self, work: Work_contra) -> frozenset[str]:
        """What ``work`` needs that this instance does not have (node or model names)."""

    def send(self, work: Work_contra) -> str:
        """Queue ``work``; its id on the instance. A ConnectionProblem means it was not taken."""

    def finish(self, ident: str) -> Any:
        """Wait for the run ``ident``; its result, its own error, or InstanceGone."""

    def cancel(self) -> None:
        """Interrupt the unfinished runs on the instance; ``finish`` then returns soon (Ctrl-C)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Moved:
    """Where a run had been sent before its instance went away."""

    instance: str
    ident: str

    def to_dict(self) -> dict[str, str]:
        return {"instance": self.instance, "prompt_id": self.ident}


@dataclass
class RunOutcome:
    """One run's end: where it ran, its id there, its result or error, and where it was before."""

    index: int
    instance: str | None = None
    ident: str | None = None
    result: Any = None
    error: MovieDirectorError | None = None
    elapsed: float = 0.0
    moved_from: list[Moved] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Run(Generic[Work]):
    index: int
    work: Work
    outcome: RunOutcome
    started: float = 0.0


class Fleet(Generic[Work]):
    """Runs a batch over ``members``; ``run`` returns one :class:`RunOutcome` per work item, in order.

    ``on_moved(outcome, moved, reason)`` is told of every run taken off a dead instance
    after it was sent; ``on_skipped(url, error)`` of every instance down at the start;
    ``unfit(lacking)`` builds the error for work no instance can run (``{url: missing}``).
    """

    def __init__(
        self,
        members: Sequence[Member[Work]],
        *,
        unfit: Callable[[dict[str, frozenset[str]]], MovieDirectorError],
        on_moved: Callable[[RunOutcome, Moved, str], None] | None = None,
        on_skipped: Callable[[str, MovieDirectorError], None] | None = None,
        on_done: Callable[[RunOutcome], None] | None = None,
    ) -> None:
        self.members = list(members)
        self.unfit = unfit
        self.on_moved = on_moved
        self.on_skipped = on_skipped
        self.on_done = on_done
        self._cond = threading.Condition()
        self._loads: dict[str, InstanceLoad] = {}
        self._busy: set[str] = set()
        self._down: dict[str, MovieDirectorError] = {}

    def run(self, works: Sequence[Work]) -> list[RunOutcome]:
        """Probe the members, refuse work none can run, then run everything; raises only before any run is sent."""
        self._probe()
        live = [member for member in self.members if member.url in self._loads]
        for work in {id(work): work for work in works}.values():
            lacking = {member.url: member.lacks(work) for member in live}
            if all(lacking.values()):
                raise self.unfit(lacking)
        pending: deque[_Run[Work]] = deque(_Run(index, work, RunOutcome(index)) for index, work in enumerate(works))
        by_url = {member.url: member for member in live}
        with ThreadPoolExecutor(max_workers=len(live), thread_name_prefix="fleet") as pool:
            try:
                self._dispatch(pool, pending, by_url)
            except BaseException:  # Ctrl-C: interrupt what runs, or the pool would wait for it
                for member in live:
                    member.cancel()
                raise
        return sorted((run.outcome for run in self._finished), key=lambda outcome: outcome.index)

    # -- placement -------------------------------------------------------------------------

    def _dispatch(self, pool: ThreadPoolExecutor, pending: deque[_Run[Work]], by_url: dict[str, Member[Work]]) -> None:
        """Hand the next run to a free instance whenever one is free, until every run has ended."""
        with self._cond:
            while pending or self._busy:
                placed = self._place(pending, by_url)
                if placed is None:
                    if not self._busy and pending:
                        self._fail_unplaceable(pending, by_url)
                    if pending or self._busy:
                        self._cond.wait()
                    continue
                member, run = placed
                self._busy.add(member.url)
                run.outcome.instance = member.url
                pool.submit(self._execute, member, run, pending)

    def _place(self, pending: deque[_Run[Work]], by_url: dict[str, Member[Work]]) -> tuple[Member[Work], _Run[Work]] | None:
        """The next run and the best free instance able to run it, or None when nothing can start now."""
        free = [load for url, load in self._loads.items() if url not in self._busy and url not in self._down]
        for run in pending:
            chosen = pick(free, fits=_able_to_run(run.work, by_url))
            if chosen is not None:
                pending.remove(run)
                return by_url[chosen.url], run
        return None

    def _fail_unplaceable(self, pending: deque[_Run[Work]], by_url: dict[str, Member[Work]]) -> None:
        """No instance is busy and none can take what is left: those runs end with the reason."""
        while pending:
            run = pending.popleft()
            able = [url for url in by_url if not by_url[url].lacks(run.work)]
            reasons = [self._down[url] for url in able if url in self._down]
            run.outcome.instance = None
            run.outcome.error = reasons[-1] if reasons else self.unfit({url: by_url[url].lacks(run.work) for url in by_url})
            self._settle(run)

    # -- one run on one instance (pool thread) ------------------------------------------

    def _execute(self, member: Member[Work], run: _Run[Work], pending: deque[_Run[Work]]) -> None:
        run.started = run.started or time.monotonic()
        outcome = run.outcome
        try:
            outcome.ident = member.send(run.work)
            outcome.result = member.finish(outcome.ident)
        except ConnectionProblem as error:
            if outcome.ident is None:  # never taken: it moves quietly
                log.info("%s refused run %d (%s); moving it", member.url, run.index + 1, error.message)
                self._requeue(member, run, pending, error)
                return
            outcome.error = error
        except InstanceGone as gone:
            moved = Moved(member.url, gone.ident)
            outcome.moved_from.append(moved)
            outcome.ident = None
            if self.on_moved is not None:
                self.on_moved(outcome, moved, str(gone))
            self._requeue(member, run, pending, None)
            return
        except MovieDirectorError as error:
            outcome.error = error
        except Exception as exc:  # a bug must not hang the batch
            log.exception("run %d on %s failed", run.index + 1, member.url)
            outcome.error = MovieDirectorError(f"Run {run.index + 1} failed: {exc}", cause=exc)
        with self._cond:
            self._busy.discard(member.url)
            self._settle(run)
            self._cond.notify_all()

    def _requeue(self, member: Member[Work], run: _Run[Work], pending: deque[_Run[Work]], error: MovieDirectorError | None) -> None:
        """Put ``run`` back first in line and take ``member`` out of the batch."""
        with self._cond:
            self._down[member.url] = error or self._down.get(member.url) or ConnectionProblem(f"{member.url} went away.")
            self._busy.discard(member.url)
            run.outcome.instance = None
            pending.appendleft(run)
            self._cond.notify_all()

    def _settle(self, run: _Run[Work]) -> None:
        run.outcome.elapsed = time.monotonic() - run.started if run.started else 0.0
        self._finished.append(run)
        if self.on_done is not None:
            self.on_done(run.outcome)

    # -- start ---------------------------------------------------------------------------

    def _probe(self) -> None:
        """Load every member side by side; the down ones are skipped, none up is the first one's error."""
        self._finished: list[_Run[Work]] = []
        self._loads, down = probe_all(self.members)
        for url, error in down.items():
            if self.on_skipped is not None:
                self.on_skipped(url, error)
        if not self._loads:
            raise next(iter(down.values()))


def _able_to_run(work: Work, by_url: dict[str, Member[Work]]) -> Callable[[InstanceLoad], bool]:
    return lambda load: not by_url[load.url].lacks(work)


def instance_services(service: ServiceConfig) -> list[tuple[ServiceConfig, float]]:
    """One single-server entry per instance of ``service`` (the manager's own split), with the instance's weight."""
    from movie_director.manager import member_configs  # the manager is heavy; only a batch over a service needs it

    return [(member, member.instances[0].weight) for member in member_configs(service)]


def probe_all(instances: Sequence[Probed]) -> tuple[dict[str, InstanceLoad], dict[str, MovieDirectorError]]:
    """Every instance's load, read side by side (one slow instance costs its own time only), and why the others are down."""

    def probe(instance: Probed) -> InstanceLoad | MovieDirectorError:
        try:
            return instance.load()
        except MovieDirectorError as error:
            return error

    with ThreadPoolExecutor(max_workers=max(1, len(instances)), thread_name_prefix="fleet-probe") as pool:
        answers = list(pool.map(probe, instances))
    loads = {instance.url: answer for instance, answer in zip(instances, answers) if isinstance(answer, InstanceLoad)}
    down = {instance.url: answer for instance, answer in zip(instances, answers) if isinstance(answer, MovieDirectorError)}
    return loads, down


__all__ = ["Fleet", "InstanceGone", "Member", "Moved", "Probed", "RunOutcome", "instance_services", "probe_all"]
