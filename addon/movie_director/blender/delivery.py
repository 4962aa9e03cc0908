"""Bring a finished job's results into the scene: strips at the playhead, answers in Text datablocks.

Main thread only (the timer calls :func:`deliver` for each job that ended, and
:func:`write_answer` for each answer still streaming); every outcome becomes a notification. The files were downloaded by the job's worker;
here Blender only creates strips that point at them, on the first channel free over the
strip's frames at the frame the playhead was on when the job started.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from movie_director.blender.jobboard import CANCELLED, GenerationJob, Output
from movie_director.blender.notifications import NotificationCenter, Severity
from movie_director.blender.placement import free_channel
from movie_director.blender.relocation import MOVE, repoint
from movie_director.errors import map_exception

#: Length of a text strip made from an answer (frames).
TEXT_STRIP_FRAMES = 48


def scene_of(job: GenerationJob) -> Any:
    return bpy.data.scenes.get(job.target.scene) or bpy.context.scene


def editor_of(scene: Any) -> Any:
    """The scene's sequence editor, created if it has none."""
    return scene.sequence_editor or scene.sequence_editor_create()


def _strips(editor: Any) -> Any:
    return editor.strips if hasattr(editor, "strips") else editor.sequences  # ``strips`` since Blender 4.4


def _all_strips(editor: Any) -> Any:
    return editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all


def _occupied(editor: Any, exclude: Any = None) -> list[tuple[int, int, int]]:
    return [(strip.channel, strip.frame_final_start, strip.frame_final_end) for strip in _all_strips(editor) if strip != exclude]


def _place(editor: Any, strip: Any) -> None:
    """Move a new strip to the first channel free over its real length (a movie's is known only now)."""
    channel = free_channel(_occupied(editor, strip), strip.frame_final_start, strip.frame_final_end)
    if strip.channel != channel:
        strip.channel = channel


def blend_path(path: Path) -> str:
    """``//…`` relative to a saved .blend (the folder moves with the project), else absolute."""
    return bpy.path.relpath(str(path)) if bpy.data.filepath else str(path)


def import_output(editor: Any, output: Output, frame: int, name: str) -> Any:
    first = output.paths[0]
    channel = free_channel(_occupied(editor), frame, frame + len(output.paths))
    strips = _strips(editor)
    if output.media == "movie":
        strip = strips.new_movie(name=name, filepath=blend_path(first), channel=channel, frame_start=frame)
    else:
        strip = strips.new_image(name=name, filepath=blend_path(first), channel=channel, frame_start=frame)
        for path in output.paths[1:]:
            strip.elements.append(path.name)
    _place(editor, strip)
    return strip


def import_outputs(job: GenerationJob) -> list[Any]:
    """Every output of ``job`` as strips in its scene; returns them."""
    editor = editor_of(scene_of(job))
    return [import_output(editor, output, job.target.frame, f"{job.title} {index + 1}" if len(job.outputs) > 1 else job.title) for index, output in enumerate(job.outputs)]


def write_answer(job: GenerationJob) -> None:
    """Copy the text streamed so far into the job's Text datablock (only when it grew)."""
    text = bpy.data.texts.get(job.target.text)
    answer = job.read_text()
    if text is not None and text.as_string() != answer:
        text.from_string(answer)


def add_text_strip(job: GenerationJob) -> Any:
    editor = editor_of(scene_of(job))
    frame = job.target.frame
    channel = free_channel(_occupied(editor), frame, frame + TEXT_STRIP_FRAMES)
    strip = _strips(editor).new_effect(name=job.title, type="TEXT", channel=channel, frame_start=frame, frame_end=frame + TEXT_STRIP_FRAMES)
    strip.text = job.read_text()
    return strip


def deliver(job: GenerationJob, notifications: NotificationCenter) -> None:
    """Import a finished job's results (or report why there are none)."""
    if job.kind == "llm":
        write_answer(job)
    if job.error is not None:
        cancelled = job.state == CANCELLED
        severity = Severity.INFO if cancelled else Severity.ERROR
        notifications.add_error(job.error.to_dict(), severity=severity, service=job.service, title=f"{job.title} {'cancelled' if cancelled else 'failed'}")
        return
    try:
        if job.kind == MOVE:
            notifications.add(Severity.INFO, f"{job.title}: {repoint(job)} strip(s) now use the moved files.", type="generated")
        elif job.kind == "llm":
            where = f"Text '{job.target.text}'"
            if job.target.text_strip:
                add_text_strip(job)
                where += " and a text strip"
            notifications.add(Severity.INFO, f"{job.title}: the answer is in {where}.", service=job.service, type="generated")
        else:
            strips = import_outputs(job)
            notifications.add(Severity.INFO, f"{job.title}: {len(strips)} strip(s) added at frame {job.target.frame}.", service=job.service, type="generated")
    except Exception as exc:  # noqa: BLE001 - a result that cannot be imported must still be heard of
        notifications.add_error(map_exception(exc, service=job.service).to_dict(), service=job.service, title=f"{job.title}: import failed")


__all__ = [
    "deliver","add_text_strip", "blend_path", "editor_of", "import_output", "import_outputs", "scene_of", "write_answer"]
