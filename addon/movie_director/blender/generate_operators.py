"""The Generate operators: each ``execute`` freezes a request on the main thread, starts a
job on the controller's :class:`~movie_director.blender.jobboard.JobBoard` and returns at
once. Workers read workflow files, talk to the backends and download results; the timer
imports them (see ``delivery.py``). No ``execute`` here opens a socket or a file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import Context, Operator

from movie_director.blender import runtime
from movie_director.blender.controller import RUNNING
from movie_director.blender.generators import ChatRequest, VideoRequest, WorkflowRequest, ask_llm, generate_video, run_workflow
from movie_director.blender.jobboard import GenerationJob, JobBoard, Target
from movie_director.blender.placement import job_folder
from movie_director.blender.workflow_inputs import InputMapping
from movie_director.configdata import ServiceConfig

LABELS = {"comfyui": "ComfyUI", "litellm": "LiteLLM", "wan2gp": "Wan2GP"}


class Refused(Exception):
    """Why a job cannot start (shown with ``Operator.report``)."""


def pick_service(kind: str, requested: str) -> ServiceConfig:
    """The service named ``requested``, else the first enabled one of ``kind``."""
    controller = runtime.get().controller
    if controller.state != RUNNING or controller.config is None:
        raise Refused(f"Not connected yet ({controller.state_message or controller.state}); try again in a moment.")
    services = controller.config.services
    if requested:
        if requested not in services:
            raise Refused(f"There is no service named {requested!r}.")
        return services[requested]
    found = next((service for service in services.values() if service.kind == kind and service.enabled), None)
    if found is None:
        raise Refused(f"No {LABELS.get(kind, kind)} service is enabled: add or enable one in the add-on's preferences.")
    return found


def start_job(context: Context, kind: str, service: ServiceConfig, title: str, work: Callable[..., Any], request: Any, text: str = "", text_strip: bool = False) -> GenerationJob:
    """Start ``work(manager, request, job)`` on a worker; results land at the playhead of this scene."""
    controller = runtime.get().controller
    job_id = JobBoard.new_id()
    scene = context.scene
    if controller.config is None:
        raise Refused("The services are not set up yet: wait until the panel shows their state, then try again.")
    folder = job_folder(bpy.data.filepath, controller.config.data_dir, job_id)
    target = Target(scene.name, scene.frame_current, blend=bpy.data.filepath, text=text, text_strip=text_strip)
    job = GenerationJob(job_id, kind, service.name, service.url, title, folder, target, time.time())
    controller.board.start(job, partial(work, controller.manager, request))
    controller.touch()
    return job


def remembered_mapping(settings: Any, key: str, prompt_node: str, seed_node: str) -> InputMapping:
    """The nodes given now (remembered for ``key``), else the ones remembered for it."""
    entry = settings.workflows.get(key)
    if prompt_node or seed_node:
        if entry is None:
            entry = settings.workflows.add()
            entry.name = key
        entry.prompt_node, entry.seed_node = prompt_node, seed_node
    return InputMapping(entry.prompt_node, entry.seed_node) if entry is not None else InputMapping()


class _Starter:
    """``execute`` runs :meth:`start`; a :class:`Refused` is reported and cancels the operator."""

    def execute(self, context: Context) -> set[str]:
        try:
            self.start(context)
        except Refused as refused:
            self.report({"ERROR"}, str(refused))  # type: ignore[attr-defined]
            return {"CANCELLED"}
        return {"FINISHED"}

    def start(self, context: Context) -> None:
        raise NotImplementedError


class MOVIE_DIRECTOR_OT_run_workflow(_Starter, Operator):
    bl_idname = "movie_director.run_workflow"
    bl_label = "Run Workflow"
    bl_description = "Queue a ComfyUI workflow (API format); its images and videos land at the playhead"

    filepath: StringProperty(name="Workflow file", subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    workflow_text: StringProperty(name="Workflow text", description="A Text datablock holding the workflow (instead of a file)", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    prompt: StringProperty(name="Prompt", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    seed: IntProperty(name="Seed", default=-1, min=-1, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    prompt_node: StringProperty(name="Prompt node", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    seed_node: StringProperty(name="Seed node", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    service: StringProperty(name="Service", description="Empty: the first enabled ComfyUI", options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def start(self, context: Context) -> None:
        service = pick_service("comfyui", self.service)
        if self.workflow_text:
            text = bpy.data.texts.get(self.workflow_text)
            if text is None:
                raise Refused(f"There is no Text datablock named {self.workflow_text!r}.")
            key, source, name = f"text:{text.name}", {"text": text.as_string()}, text.name
        elif self.filepath:
            path = bpy.path.abspath(self.filepath)
            key, source, name = path, {"filepath": path}, Path(path).stem
        else:
            raise Refused("Choose a workflow file or a Text datablock holding one.")
        mapping = remembered_mapping(context.scene.movie_director_generate, key, self.prompt_node, self.seed_node)
        request = WorkflowRequest(service.name, mapping=mapping, prompt=self.prompt, seed=None if self.seed < 0 else self.seed, **source)
        start_job(context, "comfyui", service, f"ComfyUI: {name}", run_workflow, request)


class MOVIE_DIRECTOR_OT_ask_llm(_Starter, Operator):
    bl_idname = "movie_director.ask_llm"
    bl_label = "Ask the LLM"
    bl_description = "Ask the LiteLLM service; the answer streams into a new Text datablock"

    prompt: StringProperty(name="Question", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    context_text: StringProperty(name="Context", description="A Text datablock sent along as context", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    use_selected_strip: BoolProperty(name="Selected text strip as context", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    text_strip: BoolProperty(name="Add a text strip", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    model: StringProperty(name="Model", description="Empty: the service's first model", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    service: StringProperty(name="Service", description="Empty: the first enabled LiteLLM", options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def start(self, context: Context) -> None:
        if not self.prompt.strip():
            raise Refused("Type a question first.")
        service = pick_service("litellm", self.service)
        request = ChatRequest(service.name, self.prompt, self.context_of(context), self.model)
        answer = bpy.data.texts.new("LLM answer")
        start_job(context, "llm", service, f"LLM: {self.prompt[:40]}", ask_llm, request, text=answer.name, text_strip=self.text_strip)

    def context_of(self, context: Context) -> str:
        parts = []
        if self.use_selected_strip:
            editor = context.scene.sequence_editor
            strip = editor.active_strip if editor is not None else None
            if strip is None or strip.type != "TEXT":
                raise Refused("Select a text strip to use as context.")
            parts.append(strip.text)
        if self.context_text:
            text = bpy.data.texts.get(self.context_text)
            if text is None:
                raise Refused(f"There is no Text datablock named {self.context_text!r}.")
            parts.append(text.as_string())
        return "\n\n".join(parts)


def image_under_playhead(context: Context) -> str:
    """The file of the selected image strip's frame at the playhead (its path, not read here)."""
    editor = context.scene.sequence_editor
    strip = editor.active_strip if editor is not None else None
    frame = context.scene.frame_current
    if strip is None or strip.type != "IMAGE" or not strip.frame_final_start <= frame < strip.frame_final_end:
        raise Refused("Select an image strip under the playhead to start the video from.")
    index = min(max(0, frame - int(strip.frame_start)), len(strip.elements) - 1)
    return str(Path(bpy.path.abspath(strip.directory)) / strip.elements[index].filename)


class MOVIE_DIRECTOR_OT_generate_video(_Starter, Operator):
    bl_idname = "movie_director.generate_video"
    bl_label = "Generate Video"
    bl_description = "Generate a video with Wan2GP; it lands at the playhead as a movie strip"

    prompt: StringProperty(name="Prompt", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    model: StringProperty(name="Model", description="Empty: the model Wan2GP has loaded", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    resolution: StringProperty(name="Resolution", default="832x480", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    frames: IntProperty(name="Frames", default=81, min=1, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    seed: IntProperty(name="Seed", default=-1, min=-1, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    steps: IntProperty(name="Steps", default=30, min=1, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    guidance: FloatProperty(name="Guidance", default=5.0, min=0.0, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    use_start_image: BoolProperty(name="Start from the image strip", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    service: StringProperty(name="Service", description="Empty: the first enabled Wan2GP", options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def start(self, context: Context) -> None:
        if not self.prompt.strip():
            raise Refused("Type a prompt for the video first.")
        service = pick_service("wan2gp", self.service)
        known = runtime.get().controller.video_models.get(service.name)
        if self.model and known and self.model not in known:
            raise Refused(f"{service.name} has no model {self.model!r}; it offers {', '.join(known)}.")
        start_image = image_under_playhead(context) if self.use_start_image else ""
        request = VideoRequest(service.name, self.prompt, self.model, self.resolution, self.frames, self.seed, self.steps, self.guidance, start_image)
        start_job(context, "wan2gp", service, f"Wan2GP: {self.prompt[:40]}", generate_video, request)


class MOVIE_DIRECTOR_OT_refresh_video_models(_Starter, Operator):
    bl_idname = "movie_director.refresh_video_models"
    bl_label = "Refresh Models"
    bl_description = "Read the Wan2GP service's own model list (on a worker)"

    def start(self, context: Context) -> None:
        runtime.get().controller.list_video_models(pick_service("wan2gp", "").name)


class MOVIE_DIRECTOR_OT_cancel_job(Operator):
    bl_idname = "movie_director.cancel_job"
    bl_label = "Cancel"
    bl_description = "Cancel this job (withdrawn if still queued, interrupted on the server if running)"

    job_id: StringProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[str]:
        controller = runtime.get().controller
        if not controller.board.cancel(self.job_id):
            self.report({"WARNING"}, "This job is not running any more.")
            return {"CANCELLED"}
        controller.touch()
        return {"FINISHED"}


class MOVIE_DIRECTOR_OT_clear_jobs(Operator):
    bl_idname = "movie_director.clear_jobs"
    bl_label = "Clear Finished"
    bl_description = "Remove finished, failed and cancelled jobs from the list"

    def execute(self, context: Context) -> set[str]:
        controller = runtime.get().controller
        controller.board.clear_finished()
        controller.touch()
        return {"FINISHED"}


CLASSES = (
    MOVIE_DIRECTOR_OT_run_workflow,
    MOVIE_DIRECTOR_OT_ask_llm,
    MOVIE_DIRECTOR_OT_generate_video,
    MOVIE_DIRECTOR_OT_refresh_video_models,
    MOVIE_DIRECTOR_OT_cancel_job,
    MOVIE_DIRECTOR_OT_clear_jobs,
)

#: Registered in this order, unregistered in reverse.
register, unregister = bpy.utils.register_classes_factory(CLASSES)
