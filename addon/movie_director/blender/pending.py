"""Workflow jobs kept in the .blend: a result that arrives after the file was closed is
imported the next time that file is open.

``save_pre`` writes the file's running and not-yet-imported jobs into its scene
(``Scene.movie_director_generate.pending``). In the same session, a finished job simply
waits in the board until its file is open again. In a later session ``load_post`` lists the
kept jobs, and the first tick with the services running follows each again by its prompt
id (the persisted queue and ComfyUI's history make sure it never runs twice, and a
server that lost it gets the kept workflow again). An imported job leaves the list.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import bpy

from movie_director.blender.controller import RUNNING
from movie_director.blender.generators import WorkflowRequest, run_workflow
from movie_director.blender.jobboard import RUNNING as JOB_RUNNING
from movie_director.blender.jobboard import GenerationJob, Target


def kept_jobs(board: Any, blend: str) -> list[GenerationJob]:
    """The workflow jobs of ``blend`` whose results are not in it yet."""
    waiting = {job.id for job in board.undelivered()}
    return [job for job in board.jobs.values() if job.kind == "comfyui" and job.target.blend == blend and job.workflow and (job.state == JOB_RUNNING or job.id in waiting)]


def store(scene: Any, jobs: list[GenerationJob]) -> None:
    pending = scene.movie_director_generate.pending
    pending.clear()
    for job in jobs:
        item = pending.add()
        item.name, item.prompt_id, item.service, item.instance, item.title = job.id, job.prompt_id, job.service, job.instance, job.title
        item.frame, item.folder, item.workflow = job.target.frame, str(job.folder), job.workflow


def forget(job_id: str) -> None:
    """The job's results are in the file: it is no longer pending anywhere."""
    for scene in bpy.data.scenes:
        pending = scene.movie_director_generate.pending
        index = pending.find(job_id)
        if index >= 0:
            pending.remove(index)


def resume(state: Any) -> None:
    """Follow the jobs the open file kept (once the services run); called by the timer."""
    controller = state.controller
    if not state.pending_check or controller.state != RUNNING:
        return
    state.pending_check = False
    for scene in bpy.data.scenes:
        for item in scene.movie_director_generate.pending:
            if item.name in controller.board.jobs or item.service not in controller.config.services:
                continue
            target = Target(scene.name, item.frame, blend=bpy.data.filepath)
            job = GenerationJob(item.name, "comfyui", item.service, item.instance, item.title, Path(item.folder), target, controller.wall_clock())
            request = WorkflowRequest(item.service, text=item.workflow, prompt_id=item.prompt_id)
            controller.board.start(job, partial(run_workflow, controller.manager, request))


def retarget(board: Any, old: str, new: str) -> None:
    if old == new:
        return
    for job in board.jobs.values():
        if job.target.blend == old:
            job.target = replace(job.target, blend=new)
