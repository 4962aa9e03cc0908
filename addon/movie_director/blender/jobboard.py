"""Generation jobs (a workflow, a video, an LLM answer): run on workers, shown in the Generate panel.

A job's worker writes its progress, status text, streamed text and outputs into its
:class:`GenerationJob` under a lock; the timer reads frozen :class:`JobView` copies and
takes finished jobs with :meth:`JobBoard.take_finished` to import their results into the
scene. A job never has a deadline of its own (a video may take an hour); Cancel sets an
event its worker checks between two waits. No ``bpy`` here: workers see only plain values.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from movie_director.errors import JobCancelled, MovieDirectorError, map_exception

log = logging.getLogger(__name__)

RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class Output:
    """One downloaded result: ``media`` is ``image``, ``sequence`` (several images, one strip) or ``movie``."""

    media: str
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Target:
    """Where a result lands, fixed on the main thread when the job starts."""

    scene: str
    frame: int
    #: The .blend the results belong to ("" while unsaved): imported only while it is open.
    blend: str = ""
    #: The Text datablock an answer streams into ("" for media jobs).
    text: str = ""
    #: Also add a text strip with the answer.
    text_strip: bool = False


@dataclass(frozen=True)
class JobView:
    """What the panel shows of one job (a frozen copy for the main thread)."""

    id: str
    service: str
    instance: str
    title: str
    state: str
    progress: float
    status: str
    started: float
    finished: float | None


class GenerationJob:
    """One job's shared state; workers write it through the methods, the timer reads :meth:`view`."""

    def __init__(self, job_id: str, kind: str, service: str, instance: str, title: str, folder: Path, target: Target, started: float) -> None:
        self.id = job_id
        self.kind = kind
        self.service = service
        self.instance = instance
        self.title = title
        self.folder = folder
        self.target = target
        self.started = started
        self.finished: float | None = None
        self.state = RUNNING
        self.progress = 0.0
        self.status = "Starting…"
        self.text = ""
        self.outputs: tuple[Output, ...] = ()
        self.error: MovieDirectorError | None = None
        #: The ComfyUI prompt id in force (a new one after a restart lost the first).
        self.prompt_id = job_id
        #: The workflow as sent (JSON), kept in the .blend so a later session can resume it.
        self.workflow = ""
        #: Stopped because the add-on closed: the work goes on in the backend, nothing is cancelled there.
        self.abandoned = False
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._revision = 0

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def request_cancel(self) -> None:
        self._cancel.set()
        self.update(status="Cancelling…")

    def abandon(self) -> None:
        """Stop following the job without cancelling it in the backend (Blender closes)."""
        self.abandoned = True
        self._cancel.set()

    def sent(self, prompt_id: str, workflow: str) -> None:
        with self._lock:
            self.prompt_id, self.workflow = prompt_id, workflow

    def check_cancel(self) -> None:
        """Raise JobCancelled if the artist pressed Cancel (workers call this between waits)."""
        if self._cancel.is_set():
            raise JobCancelled(f"{self.title} was cancelled.", service=self.service)

    def update(self, *, progress: float | None = None, status: str | None = None) -> None:
        with self._lock:
            if progress is not None:
                self.progress = max(0.0, min(1.0, progress))
            if status is not None:
                self.status = status
            self._revision += 1

    def append_text(self, delta: str) -> None:
        with self._lock:
            self.text += delta
            self._revision += 1

    def read_text(self) -> str:
        with self._lock:
            return self.text

    def finish(self, outputs: tuple[Output, ...] = (), error: MovieDirectorError | None = None, now: float | None = None) -> None:
        with self._lock:
            self.outputs = outputs
            self.error = error
            self.state = DONE if error is None else CANCELLED if isinstance(error, JobCancelled) else FAILED
            self.status = "Done" if error is None else error.message
            if error is None:
                self.progress = 1.0
            self.finished = time.time() if now is None else now
            self._revision += 1

    @property
    def revision(self) -> int:
        return self._revision

    def view(self) -> JobView:
        with self._lock:
            return JobView(self.id, self.service, self.instance, self.title, self.state, self.progress, self.status, self.started, self.finished)


Work = Callable[[GenerationJob], tuple[Output, ...]]


@dataclass
class JobBoard:
    """The running and recently finished generation jobs, and the workers that run them."""

    workers: int = 4
    #: Finished jobs shown in the panel, newest first, beyond the running ones.
    keep_finished: int = 10
    clock: Callable[[], float] = time.time
    jobs: dict[str, GenerationJob] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="md-generate")
        self._finished: list[GenerationJob] = []
        self._lock = threading.Lock()

    @staticmethod
    def new_id() -> str:
        """Job ids name folders (``//movie_director/<job>/``) and are ComfyUI prompt ids."""
        return str(uuid.uuid4())

    def start(self, job: GenerationJob, work: Work) -> GenerationJob:
        self.jobs[job.id] = job
        self._trim()
        self._executor.submit(self._run, job, work)
        return job

    def _run(self, job: GenerationJob, work: Work) -> None:
        """Worker thread: always finishes the job, whatever happens (never touches ``bpy``)."""
        try:
            job.finish(work(job), now=self.clock())
        except MovieDirectorError as error:
            job.finish(error=error, now=self.clock())
        except BaseException as exc:  # noqa: BLE001 - the artist must hear of every failure
            log.exception("%s failed", job.title)
            job.finish(error=map_exception(exc, service=job.service), now=self.clock())
        with self._lock:
            self._finished.append(job)

    def take_finished(self, blend: str) -> list[GenerationJob]:
        """Ended jobs of the open .blend (main thread: import their results, notify); the
        others wait until their file is open again."""
        with self._lock:
            finished = [job for job in self._finished if job.target.blend == blend]
            self._finished = [job for job in self._finished if job.target.blend != blend]
        return finished

    def undelivered(self) -> list[GenerationJob]:
        """Ended jobs whose file is not open (their results wait for it)."""
        with self._lock:
            return list(self._finished)

    def cancel(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job.state != RUNNING:
            return False
        job.request_cancel()
        return True

    def views(self) -> list[JobView]:
        """Running jobs first (oldest first), then the finished ones, newest first."""
        views = [job.view() for job in self.jobs.values()]
        running = [view for view in views if view.state == RUNNING]
        ended = sorted((view for view in views if view.state != RUNNING), key=lambda view: view.finished or 0.0, reverse=True)
        return running + ended

    @property
    def revision(self) -> int:
        return sum(job.revision for job in self.jobs.values()) + len(self.jobs)

    @property
    def active(self) -> list[GenerationJob]:
        return [job for job in self.jobs.values() if job.state == RUNNING]

    def overall_progress(self) -> float | None:
        """The mean progress of the running jobs (the status bar), None when none runs."""
        active = self.active
        return sum(job.progress for job in active) / len(active) if active else None

    def clear_finished(self) -> None:
        for job_id in [job.id for job in self.jobs.values() if job.state != RUNNING]:
            del self.jobs[job_id]

    def _trim(self) -> None:
        ended = sorted((job for job in self.jobs.values() if job.state != RUNNING), key=lambda job: job.finished or 0.0)
        for job in ended[: max(0, len(ended) - self.keep_finished)]:
            del self.jobs[job.id]

    def close(self) -> None:
        """Stop following every running job and join the workers (the add-on is disabled);
        jobs kept in a saved .blend are resumed when it is opened again."""
        for job in self.active:
            job.abandon()
        self._executor.shutdown(wait=True, cancel_futures=True)


__all__ = ["CANCELLED", "DONE", "FAILED", "RUNNING", "GenerationJob", "JobBoard", "JobView", "Output", "Target", "Work"]
