"""The work behind the Generate operators, run on a :class:`~movie_director.blender.jobboard.JobBoard` worker.

Each function gets the running :class:`~movie_director.manager.ServiceManager`, a frozen
request made on the main thread and the job to report into; it reads files, talks to
the backend and downloads results, then returns the files to import. A ComfyUI workflow
is sent as a persisted ``comfyui.submit`` operation (the job id is its ``prompt_id``, so
a replay never runs it twice); an LLM answer streams through a pooled connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from movie_director.blender.jobboard import GenerationJob, JobBoard, Output
from movie_director.blender.workflow_inputs import InputMapping, apply_inputs
from movie_director.errors import ConnectionProblem, JobCancelled, JobLost

#: How often a waiting worker looks at the Cancel button (seconds).
CANCEL_POLL = 0.25
MOVIE_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif"})
COMFYUI_SUBMIT = "comfyui.submit"
#: How often one job is followed again after ComfyUI went away (each time it came back).
MAX_RECOVERIES = 5
#: Seconds waited after a lost link before following the job again.
RECOVERY_PAUSE = 1.0


@dataclass(frozen=True)
class WorkflowRequest:
    """A ComfyUI run: the workflow from a file (read on the worker) or a Text datablock's text."""

    service: str
    filepath: str = ""
    text: str = ""
    mapping: InputMapping = InputMapping()
    prompt: str = ""
    seed: int | None = None
    #: Follow this prompt (sent by an earlier session) instead of a new one.
    prompt_id: str = ""


@dataclass(frozen=True)
class ChatRequest:
    """An LLM question; ``context`` is the text strip's or Text datablock's text."""

    service: str
    prompt: str
    context: str = ""
    model: str = ""


def group_outputs(paths: Iterable[tuple[str, Path]]) -> tuple[Output, ...]:
    """Files as strips: a movie each, one node's several images as one image sequence."""
    by_node: dict[str, list[Path]] = {}
    movies = []
    for node_id, path in paths:
        if path.suffix.lower() in MOVIE_SUFFIXES:
            movies.append(Output("movie", (path,)))
        else:
            by_node.setdefault(node_id, []).append(path)
    images = [Output("image" if len(files) == 1 else "sequence", tuple(sorted(files))) for files in by_node.values()]
    return tuple(images + movies)


def run_workflow(manager: Any, request: WorkflowRequest, job: GenerationJob) -> tuple[Output, ...]:
    from movie_director_plugins.comfyui.workflow import load_workflow

    job.update(status="Reading the workflow…")
    graph = apply_inputs(load_workflow(request.text or request.filepath), request.mapping, request.prompt, request.seed)
    job.check_cancel()
    prompt_id, sent, recoveries = request.prompt_id or job.id, False, 0
    while True:
        if not sent:
            job.update(status="Waiting for ComfyUI…")
            job.sent(prompt_id, json.dumps(graph))
            _wait_sent(manager.submit(request.service, COMFYUI_SUBMIT, {"workflow": graph}, idempotency_key=prompt_id), job)
            sent = True
        try:
            return _collect(manager, request.service, prompt_id, job)
        except (JobLost, ConnectionProblem) as error:
            recoveries += 1
            if recoveries > MAX_RECOVERIES:
                raise
            if isinstance(error, JobLost):  # ComfyUI restarted without the prompt: send it again, as a new one
                prompt_id, sent = JobBoard.new_id(), False
            else:  # the link broke: the prompt may still run there; follow it again once ComfyUI answers
                _wait_connected(manager, request.service, job)


def _collect(manager: Any, service: str, prompt_id: str, job: GenerationJob) -> tuple[Output, ...]:
    """Follow the prompt to its end and download its output files into the job's folder."""
    with manager.acquire(service) as client:
        comfy_job = client.attach(prompt_id)
        _follow(comfy_job, job)
        files = comfy_job.outputs()
        files = [file for file in files if file.type == "output"] or files
        job.update(status=f"Downloading {len(files)} file(s)…")
        paths = client.download(files, job.folder)
    return group_outputs((file.node_id, path) for file, path in zip(files, paths))


def _wait_connected(manager: Any, service: str, job: GenerationJob) -> None:
    """Wait (Cancel still works) until the manager sees ``service`` connected again.

    The first :data:`RECOVERY_PAUSE` seconds are waited in any case: the manager may not
    have noticed the loss yet and would still call it connected.
    """
    job.update(status="ComfyUI went away; waiting for it to come back…")
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_PAUSE or manager.snapshot().service(service).state != "connected":
        job.check_cancel()
        manager.queue.wait_for_change(CANCEL_POLL)


def _wait_sent(handle: Any, job: GenerationJob) -> None:
    """Wait until the queued operation was sent (or failed); Cancel withdraws it while queued
    (closing Blender leaves it queued: the next session sends it)."""
    while not handle.done():
        if job.abandoned:
            job.check_cancel()
        if job.cancel_requested and handle.cancel():
            raise JobCancelled(f"{job.title} was cancelled before it was sent.", service=job.service)
        handle.queue.wait_for_change(CANCEL_POLL)
    handle.wait(0)  # raises the operation's typed error


def _follow(comfy_job: Any, job: GenerationJob) -> None:
    """Copy ComfyUI's progress into the job until it ends; Cancel interrupts it on the server
    (closing Blender only stops following it)."""
    version, cancelled = -1, False
    while not comfy_job.done:
        if job.abandoned:
            job.check_cancel()
        if job.cancel_requested and not cancelled:
            cancelled = True
            comfy_job.cancel()
        version = comfy_job.wait_for_change(version, CANCEL_POLL)
        progress = comfy_job.progress
        job.update(progress=progress.fraction, status=describe_progress(progress))
    comfy_job.wait(0)


def describe_progress(progress: Any) -> str:
    if progress.queue_position is not None and progress.node is None:
        return f"Queued (position {progress.queue_position + 1})"
    if progress.node is None:
        return "Waiting for ComfyUI…"
    steps = f" {int(progress.value)}/{int(progress.max)}" if progress.max else ""
    return f"{progress.node_type or 'node ' + progress.node}{steps}"


@dataclass(frozen=True)
class VideoRequest:
    """A Wan2GP video; ``start_image`` is the image under the playhead (read on the worker)."""

    service: str
    prompt: str
    model: str = ""
    resolution: str = "832x480"
    frames: int = 81
    seed: int = -1
    steps: int = 30
    guidance: float = 5.0
    start_image: str = ""


def generate_video(manager: Any, request: VideoRequest, job: GenerationJob) -> tuple[Output, ...]:
    """One Wan2GP generation through the service's transport (web UI or MCP); Cancel aborts it there."""
    from movie_director_plugins.wan2gp.settings import Wan2GPSettings

    settings = Wan2GPSettings(
        prompt=request.prompt, resolution=request.resolution, video_length=request.frames, seed=request.seed,
        num_inference_steps=request.steps, guidance_scale=request.guidance, model=request.model or None, image_start=request.start_image or None,
    )  # fmt: skip
    job.update(status="Connecting to Wan2GP…")
    with manager.acquire(request.service) as transport:

        def progress(event: Any) -> None:
            if job.cancel_requested:
                transport.abort()
            steps = f" {event.step}/{event.total}" if event.step and event.total else ""
            job.update(progress=event.fraction, status=f"{event.message or event.phase.value.capitalize()}{steps}")

        result = transport.generate(settings, job.folder, on_progress=progress)
    job.check_cancel()
    return tuple(Output("movie", (path,)) for path in result.files)


def video_models(manager: Any, service: str) -> list[str]:
    """The model names the Wan2GP service offers (its own list)."""
    with manager.acquire(service) as transport:
        return list(transport.models())


def ask_llm(manager: Any, request: ChatRequest, job: GenerationJob) -> tuple[Output, ...]:
    """Stream the answer into the job's text (the timer copies it into the Text datablock)."""
    messages = []
    if request.context:
        messages.append({"role": "system", "content": f"Context from the artist's project:\n{request.context}"})
    messages.append({"role": "user", "content": request.prompt})
    job.update(status="Asking…")
    with manager.acquire(request.service) as client:
        with client.stream_chat(messages, request.model or None) as stream:
            job.update(status=f"Answering ({stream.model})…")
            for delta in stream:
                job.append_text(delta)
                job.check_cancel()
    return ()


__all__ = ["ChatRequest", "VideoRequest", "WorkflowRequest", "ask_llm", "describe_progress", "generate_video", "group_outputs", "run_workflow", "video_models"]
