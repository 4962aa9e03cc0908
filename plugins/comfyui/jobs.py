"""Job handles and the tracker that keeps them true, over WebSocket events or HTTP polling.

Events from the socket move a :class:`Job` along (queued → running → succeeded /
failed / cancelled). Events can be lost (a dropped socket gets no replay, a
WebSocket-less proxy gets none at all), so a watcher thread reconciles active jobs
from ``/queue`` and ``/history``: at once after a reconnect, every ``poll_interval``
while events are not flowing, and every ``safety_interval`` otherwise. A job the
server no longer knows (it restarted) ends as :class:`~movie_director.errors.JobLost`;
nothing waits forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movie_director.errors import (
    ConnectionLost,
    JobCancelled,
    JobFailed,
    JobLost,
    MovieDirectorError,
    OperationTimeout,
)
from movie_director.progress import Phase, Progress
from movie_director_plugins.comfyui import events as ev
from movie_director_plugins.comfyui.outputs import OutputFile, output_files

if TYPE_CHECKING:
    from movie_director_plugins.comfyui.client import ComfyUIClient

log = logging.getLogger(__name__)

KEEP_FINISHED = 500
NOTIFY_INTERVAL = 0.05
#: Events no job needs: per-node state (executing/progress say the same), replies, garbage.
_NOT_ROUTED = frozenset({ev.PROGRESS_STATE, ev.FEATURE_FLAGS, ev.MALFORMED, ev.BINARY})
#: Per-step events of the prompt running now (the server sends them to its socket only): a job
#: keeps the latest one undecoded and reads it when someone asks for its progress.
_OF_RUNNING_PROMPT = frozenset({ev.PROGRESS, ev.PREVIEW_IMAGE, ev.PROGRESS_TEXT})


class JobState(str, Enum):
    SUBMITTING = "submitting"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.LOST)


_PHASES = {
    JobState.SUBMITTING: Phase.CONNECTING,
    JobState.QUEUED: Phase.QUEUED,
    JobState.RUNNING: Phase.RUNNING,
}


@dataclass(frozen=True)
class JobProgress:
    """An immutable snapshot: the node running now, its value/max, and the whole job's fraction."""

    state: JobState
    node: str | None = None
    node_type: str = ""
    value: float = 0.0
    max: float = 0.0
    fraction: float = 0.0
    nodes_done: int = 0
    nodes_total: int = 0
    queue_position: int | None = None
    text: str = ""

    def as_progress(self) -> Progress:
        """The project-wide progress event (one bar for every backend)."""
        message = f"node {self.node} {self.node_type}".strip() if self.node else self.text
        return Progress(
            phase=_PHASES.get(self.state, Phase.DONE),
            fraction=self.fraction,
            step=int(self.value) if self.max else None,
            total=int(self.max) if self.max else None,
            unit="steps" if self.max else "",
            queue_rank=self.queue_position,
            message=message,
        )


@dataclass(frozen=True)
class Location:
    """Where ``/queue`` + ``/history`` put a prompt: running, pending (with position), history, or absent."""

    where: str
    position: int | None = None
    entry: Mapping[str, Any] | None = None
    client_id: str | None = None
    graph: Mapping[str, Any] | None = None


class Job:
    """The handle ``submit`` returns: status, progress, wait, cancel, outputs.

    Thread-safe; survives the socket being replaced (it belongs to the tracker, not to a socket).
    """

    def __init__(self, tracker: JobTracker, prompt_id: str, graph: Mapping[str, Any], to_run: frozenset[str], bound: bool) -> None:
        self.prompt_id = prompt_id
        self.graph = graph
        self.number: float | None = None
        #: True when the events of this prompt come to our socket (our client id submitted it).
        self.bound = bound
        self.error: MovieDirectorError | None = None
        self._preview: ev.ComfyUIEvent | None = None
        self._tracker = tracker
        self._service = tracker.service
        self._cond = threading.Condition(threading.Lock())
        self._state = JobState.SUBMITTING
        self._success_seen = False
        self._cancel_requested = False
        self._to_run = to_run
        self._done: set[str] = set()
        self._node: str | None = None
        self._step: ev.ComfyUIEvent | None = None
        self._position: int | None = None
        self._text_event: ev.ComfyUIEvent | None = None
        self._outputs_seen: dict[str, Any] = {}
        self._history: Mapping[str, Any] | None = None
        self._version = 0
        self._notified_at = 0.0
        self._handlers: dict[str, Callable[[ev.ComfyUIEvent], bool]] = {
            ev.EXECUTION_START: self._on_start,
            ev.EXECUTION_CACHED: self._on_cached,
            ev.EXECUTING: self._on_executing,
            ev.EXECUTED: self._on_executed,
            ev.EXECUTION_SUCCESS: self._on_success,
            ev.EXECUTION_ERROR: self._on_error,
            ev.EXECUTION_INTERRUPTED: self._on_interrupted,
        }

    def __repr__(self) -> str:
        return f"<Job {self.prompt_id} {self._state.value}>"

    # -- what callers read -----------------------------------------------------------

    @property
    def status(self) -> JobState:
        return self._state

    @property
    def done(self) -> bool:
        return self._state.terminal

    @property
    def progress(self) -> JobProgress:
        with self._cond:
            return self._snapshot()

    @property
    def preview(self) -> tuple[str, bytes] | None:
        """The latest preview image as (MIME type, bytes), when the server sends previews."""
        event = self._preview
        return (event.image_type, event.payload) if event is not None else None  # type: ignore[attr-defined]

    @property
    def version(self) -> int:
        """Grows when the state or the running node changes; pass it to :meth:`wait_for_change`.

        Step values are not counted: read :attr:`progress` as often as you redraw.
        """
        return self._version

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends; return it on success, raise its typed error otherwise.

        Raises ``OperationTimeout`` after ``timeout`` seconds (the job keeps running).
        """
        with self._cond:
            finished = self._cond.wait_for(lambda: self._state.terminal or self._tracker.closed, timeout)
            if finished and not self._state.terminal:
                raise ConnectionLost(
                    f"The connection watching job {self.prompt_id} was closed before the job ended; it may still run on {self._service}.",
                    service=self._service,
                    hints=[f"Call attach({self.prompt_id!r}) on a new connection to follow it; submitting with the same prompt_id never runs it twice."],
                    details={"prompt_id": self.prompt_id, "state": self._state.value},
                )
            if not finished:
                raise OperationTimeout(
                    f"The job {self.prompt_id} on {self._service} did not finish within {timeout:g} s.",
                    service=self._service,
                    details={"prompt_id": self.prompt_id, "state": self._state.value},
                )
            error = self.error
        if error is not None:
            raise error
        return self

    def wait_for_change(self, version: int, timeout: float) -> int:
        """Block until :attr:`version` differs from ``version`` or the job ends; return the new version."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != version or self._state.terminal, timeout)
            return self._version

    def cancel(self) -> None:
        """Delete the prompt if it is pending, interrupt it if it runs; ``wait`` then raises JobCancelled."""
        if self.done:
            return
        with self._cond:
            self._cancel_requested = True
        self._tracker.cancel(self)

    def outputs(self) -> list[OutputFile]:
        """The job's files, from ``/history/{prompt_id}`` once it is over (else what ran so far)."""
        if self._state is JobState.SUCCEEDED and self._history is None:
            try:
                entry = self._tracker.api.history(self.prompt_id)
            except MovieDirectorError as error:
                log.warning("%s history of %s unavailable (%s); using the outputs seen live", self._service, self.prompt_id, error.message)
                entry = None
            if entry is not None:
                with self._cond:
                    self._history = entry
        history = self._history
        outputs = history.get("outputs") if history is not None else None
        return output_files(outputs if isinstance(outputs, Mapping) and outputs else self._outputs_seen)

    def download(self, directory: str | Path, types: Iterable[str] | None = None, max_bytes: int | None = None) -> list[Path]:
        """Download the outputs (of ``types``: output, temp, input; all by default) into ``directory``."""
        files = [file for file in self.outputs() if types is None or file.type in set(types)]
        return self._tracker.api.download(files, directory, max_bytes=max_bytes)

    # -- what the tracker feeds ------------------------------------------------------

    def apply(self, event: ev.ComfyUIEvent) -> bool:
        """Apply one event; True when the outcome must be read from the server instead."""
        handler = self._handlers.get(event.type)
        if handler is None or self._state.terminal:
            return False
        with self._cond:
            before = self._state
            reconcile = handler(event)
            self._version += 1
            # Waking waiters costs a thread switch per event; progress alone wakes them at most every NOTIFY_INTERVAL.
            now = time.monotonic()
            if self._state is not before or now - self._notified_at >= NOTIFY_INTERVAL:
                self._notified_at = now
                self._cond.notify_all()
        return reconcile

    def keep(self, event: ev.ComfyUIEvent) -> None:
        """Remember the latest step, preview or node text, undecoded (no lock: one reference swap)."""
        kind = event.type
        if kind == ev.PROGRESS:
            self._step = event
        elif kind == ev.PREVIEW_IMAGE:
            self._preview = event
        else:
            self._text_event = event

    def observe(self, location: Location) -> bool:
        """Apply what /queue and /history say; True when a finished job learnt its end this way."""
        with self._cond:
            if self._state.terminal:
                return False
            if location.where == "pending":
                self._state = JobState.QUEUED
                self._position = location.position
            elif location.where == "running":
                self._state = JobState.RUNNING
                self._position = None
            elif location.where == "history" and location.entry is not None:
                self._settle_from_history(location.entry)
            elif self._cancel_requested:
                self._settle(JobState.CANCELLED, JobCancelled(f"The job {self.prompt_id} was removed from the {self._service} queue.", service=self._service))
            elif self._success_seen:
                self._settle(JobState.SUCCEEDED)
            else:
                self._settle(
                    JobState.LOST,
                    JobLost(
                        f"{self._service} no longer knows the job {self.prompt_id}: it restarted or the job was removed from its queue.",
                        service=self._service,
                        details={"prompt_id": self.prompt_id},
                    ),
                )
            self._version += 1
            self._cond.notify_all()
            return self._state.terminal

    def submitted(self, number: float | None) -> None:
        """The POST was accepted: the prompt is in the server's queue."""
        with self._cond:
            self.number = number
            if self._state is JobState.SUBMITTING:
                self._state = JobState.QUEUED
            self._version += 1
            self._cond.notify_all()

    def wake(self) -> None:
        """Let waiters re-check (the tracker closed)."""
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    @property
    def needs_polling(self) -> bool:
        """Events will not tell us the end: not our socket, or the end frame has not come."""
        return not self.bound or self._success_seen

    @property
    def submitting(self) -> bool:
        return self._state is JobState.SUBMITTING

    # -- event handlers (called with the lock held) -----------------------------------

    def _on_start(self, event: ev.ComfyUIEvent) -> bool:
        self._state = JobState.RUNNING
        self._position = None
        return False

    def _on_cached(self, event: ev.ComfyUIEvent) -> bool:
        self._done.update(event.nodes)  # type: ignore[attr-defined]
        return False

    def _on_executing(self, event: ev.ComfyUIEvent) -> bool:
        node = event.node  # type: ignore[attr-defined]
        if node is None:
            if event.prompt_id is None:
                return False
            if self._success_seen:
                self._settle(JobState.SUCCEEDED)
                return False
            return True  # the prompt ended and we missed how: ask the server
        if self._node is not None and self._node != node:
            self._done.add(self._node)
        self._state = JobState.RUNNING
        self._node, self._step = node, None
        return False

    def _on_executed(self, event: ev.ComfyUIEvent) -> bool:
        node = event.node  # type: ignore[attr-defined]
        if node is not None:
            self._done.add(node)
            self._outputs_seen[node] = dict(event.output)  # type: ignore[attr-defined]
        return False

    def _on_success(self, event: ev.ComfyUIEvent) -> bool:
        # History is written only after this frame; the job ends at executing{node:null}.
        self._success_seen = True
        self._done.update(self._to_run)
        return False

    def _on_error(self, event: ev.ComfyUIEvent) -> bool:
        self._settle(JobState.FAILED, failure(event.data, self.prompt_id, self._service))
        return False

    def _on_interrupted(self, event: ev.ComfyUIEvent) -> bool:
        self._settle(JobState.CANCELLED, interruption(event.data, self.prompt_id, self._service))
        return False


    # -- helpers (lock held) ----------------------------------------------------------

    def _settle_from_history(self, entry: Mapping[str, Any]) -> None:
        status = found if isinstance(found := entry.get("status"), Mapping) else {}
        if status.get("status_str") == "error" or status.get("completed") is False:
            for message in reversed(status.get("messages") or []):
                if isinstance(message, list) and len(message) == 2 and isinstance(message[1], Mapping):
                    if message[0] == ev.EXECUTION_ERROR:
                        self._settle(JobState.FAILED, failure(message[1], self.prompt_id, self._service))
                        return
                    if message[0] == ev.EXECUTION_INTERRUPTED:
                        self._settle(JobState.CANCELLED, interruption(message[1], self.prompt_id, self._service))
                        return
            self._settle(JobState.FAILED, JobFailed(f"{self._service} reports the job {self.prompt_id} as failed, without a reason.", service=self._service))
            return
        self._history = entry
        self._settle(JobState.SUCCEEDED)

    def _settle(self, state: JobState, error: MovieDirectorError | None = None) -> None:
        self._state = state
        self.error = error
        if state is JobState.SUCCEEDED:
            self._done.update(self._to_run)
        self._tracker.settled(self)

    def _step_of(self, node: str | None) -> tuple[float, float]:
        """(value, max) of the latest ``progress`` event, if it is about ``node`` of this prompt."""
        step = self._step
        if step is None or node is None or step.node != node or step.prompt_id not in (None, self.prompt_id):  # type: ignore[attr-defined]
            return 0.0, 0.0
        return step.value, step.max  # type: ignore[attr-defined]

    def _snapshot(self) -> JobProgress:
        total = len(self._to_run)
        done = len(self._done & self._to_run) if total else 0
        value, maximum = self._step_of(self._node)
        current = 0.0
        if self._node is not None and self._node in self._to_run and self._node not in self._done and maximum > 0:
            current = min(value / maximum, 1.0)
        if self._state is JobState.SUCCEEDED:
            fraction = 1.0
        elif total:
            fraction = min((done + current) / total, 0.999)
        else:
            fraction = 0.0
        node = self._node if self._state is JobState.RUNNING else None
        node_type = str(self.graph.get(node, {}).get("class_type", "")) if node else ""
        return JobProgress(
            state=self._state,
            node=node,
            node_type=node_type,
            value=value if node else 0.0,
            max=maximum if node else 0.0,
            fraction=fraction,
            nodes_done=done,
            nodes_total=total,
            queue_position=self._position if self._state is JobState.QUEUED else None,
            text=self._text_event.text if self._text_event is not None else "",  # type: ignore[attr-defined]
        )


def failure(data: Mapping[str, Any], prompt_id: str, service: str) -> JobFailed:
    """A runtime failure (``execution_error``) as a typed error naming the node and ComfyUI's message."""
    node_id, node_type = data.get("node_id"), data.get("node_type") or ""
    reason = str(data.get("exception_message") or "").strip() or str(data.get("exception_type") or "an unknown error")
    where = f" in node {node_id}" + (f" ({node_type})" if node_type else "") if node_id is not None else ""
    hints = ["Read the message above: it is ComfyUI's own reason.", "Check the inputs, files and models this node uses."]
    if "out of memory" in reason.lower():
        hints.insert(0, "Lower the resolution, frame count or batch size, or free VRAM in ComfyUI (Manager → Free model and node cache).")
    traceback = data.get("traceback")
    return JobFailed(
        f"{service} failed{where}: {reason}",
        service=service,
        hints=hints,
        details={
            "prompt_id": prompt_id,
            "node_id": node_id,
            "node_type": node_type,
            "exception_type": data.get("exception_type"),
            "exception_message": data.get("exception_message"),
            "traceback": list(traceback)[-20:] if isinstance(traceback, list) else [],
        },
    )


def interruption(data: Mapping[str, Any], prompt_id: str, service: str) -> JobCancelled:
    node_id, node_type = data.get("node_id"), data.get("node_type") or ""
    where = f" at node {node_id}" + (f" ({node_type})" if node_type else "") if node_id is not None else ""
    return JobCancelled(
        f"The job {prompt_id} on {service} was interrupted{where}.",
        service=service,
        details={"prompt_id": prompt_id, "node_id": node_id, "node_type": node_type},
    )


class JobTracker:
    """All jobs of one client: routes socket events to them and reconciles them over HTTP."""

    def __init__(
        self,
        api: ComfyUIClient,
        service: str,
        poll_interval: float,
        safety_interval: float,
        events_live: Callable[[], bool],
        on_missed_events: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        self.service = service
        self.poll_interval = poll_interval
        self.safety_interval = safety_interval
        self.events_live = events_live
        self.on_missed_events = on_missed_events
        self.queue_remaining: int | None = None
        self.last_error: MovieDirectorError | None = None
        self.running_prompt: str | None = None
        self.events_seen = 0
        self._events_at_last_check = 0
        self._jobs: dict[str, Job] = {}
        self._finished: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def get(self, prompt_id: str) -> Job | None:
        return self._jobs.get(prompt_id)

    def active(self) -> list[Job]:
        with self._lock:
            return [job for job in self._jobs.values() if not job.done]

    def track(self, prompt_id: str, graph: Mapping[str, Any], to_run: frozenset[str], bound: bool = True) -> Job:
        """Register a job before its POST (its first events may beat the response)."""
        job = Job(self, prompt_id, graph, to_run, bound)
        with self._lock:
            self._jobs[prompt_id] = job
        return job

    def forget(self, prompt_id: str) -> None:
        with self._lock:
            self._jobs.pop(prompt_id, None)

    def start_watching(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._watch, name="comfyui-jobs", daemon=True)
                self._thread.start()

    def request_reconcile(self) -> None:
        self._wake.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout: float = 5.0) -> None:
        """Stop the watcher; anyone waiting on an unfinished job gets ConnectionLost."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        for job in self.active():
            job.wake()

    # -- events (reader thread) -------------------------------------------------------

    def on_event(self, event: ev.ComfyUIEvent) -> None:
        """Route one event to its job. Runs on the reader thread for every frame: keep it cheap."""
        self.events_seen += 1
        kind = event.type
        if kind in _NOT_ROUTED:
            return
        if kind == ev.STATUS:
            self.queue_remaining = event.queue_remaining  # type: ignore[attr-defined]
            return
        if kind in _OF_RUNNING_PROMPT:
            # Previews and node text go to the socket of the prompt running now: keep them undecoded.
            job = self._jobs.get(self.running_prompt or "")
            if job is not None:
                job.keep(event)
            return
        # After a reconnect `executing` comes without a prompt id: it is the running prompt's.
        prompt_id = event.data.get("prompt_id") or self.running_prompt
        if prompt_id is None:
            return
        job = self._jobs.get(prompt_id)
        if job is None:
            return
        if kind == ev.EXECUTION_START:
            self.running_prompt = prompt_id
        if job.apply(event):
            self._wake.set()

    def on_socket_state(self, reconnected: bool) -> None:
        """The socket dropped or came back: either way, look at the server now."""
        if reconnected or self.active():
            self._wake.set()

    # -- reconciliation (watcher thread, cancel, submit) --------------------------------

    def locate(self, prompt_ids: Iterable[str]) -> dict[str, Location]:
        """Where the server has each prompt: one /queue read, then /history for the rest."""
        queue = self.api.queue()
        found: dict[str, Location] = {}
        for prompt_id in prompt_ids:
            item = queue.find(prompt_id)
            if item is not None:
                running = queue.is_running(prompt_id)
                found[prompt_id] = Location(
                    "running" if running else "pending",
                    None if running else queue.position(prompt_id),
                    client_id=item.client_id,
                    graph=item.graph,
                )
                continue
            entry = self.api.history(prompt_id)
            found[prompt_id] = Location("history", entry=entry, client_id=_client_of(entry), graph=_graph_of(entry)) if entry else Location("absent")
        running_now = [item.prompt_id for item in queue.running]
        self.running_prompt = running_now[0] if len(running_now) == 1 else self.running_prompt
        return found

    def reconcile(self, jobs: Iterable[Job] | None = None, periodic: bool = False) -> None:
        """Bring ``jobs`` (all active ones by default) in line with /queue and /history."""
        candidates = [job for job in (self.active() if jobs is None else jobs) if not job.done and not job.submitting]
        if not candidates:
            return
        locations = self.locate(job.prompt_id for job in candidates)
        quiet = self.events_seen == self._events_at_last_check
        self._events_at_last_check = self.events_seen
        missed = False
        for job in candidates:
            blind = job.bound and not job.needs_polling
            if job.observe(locations[job.prompt_id]) and locations[job.prompt_id].where == "history" and blind:
                missed = True
        if missed and periodic and quiet and self.events_live() and self.on_missed_events is not None:
            log.warning("%s: a job ended without its events reaching us; reopening the live connection", self.service)
            self.on_missed_events()

    def cancel(self, job: Job) -> None:
        """Delete (if pending) then interrupt (if running): in that order no state is missed."""
        self.api.delete_queued([job.prompt_id])
        self.api.interrupt(job.prompt_id)
        self.reconcile([job])

    def settled(self, job: Job) -> None:
        """Called by a job as it ends (its lock held): bound the memory of finished jobs."""
        if self.running_prompt == job.prompt_id:
            self.running_prompt = None
        with self._lock:
            self._finished.append(job.prompt_id)
            if len(self._finished) > KEEP_FINISHED:
                self._jobs.pop(self._finished.pop(0), None)

    def _watch(self) -> None:
        while True:
            with self._lock:
                active = [job for job in self._jobs.values() if not job.done]
                if self._closed or not active:
                    self._thread = None
                    return
            fast = not self.events_live() or any(job.needs_polling for job in active)
            woken = self._wake.wait(self.poll_interval if fast else self.safety_interval)
            self._wake.clear()
            if self._closed:
                continue
            try:
                self.reconcile(periodic=not woken)
                self.last_error = None
            except MovieDirectorError as error:  # the server is down: keep trying until it is back
                if self.last_error is None or self.last_error.code != error.code:
                    log.info("%s job watcher: %s", self.service, error.message)
                self.last_error = error
            except Exception:
                log.exception("%s job watcher failed", self.service)


def _client_of(entry: Mapping[str, Any]) -> str | None:
    prompt = entry.get("prompt")
    if isinstance(prompt, list) and len(prompt) > 3 and isinstance(prompt[3], Mapping):
        return prompt[3].get("client_id")
    return None


def _graph_of(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    prompt = entry.get("prompt")
    if isinstance(prompt, list) and len(prompt) > 2 and isinstance(prompt[2], Mapping):
        return prompt[2]
    return None


__all__ = ["Job", "JobProgress", "JobState", "JobTracker", "Location", "failure", "interruption"]
