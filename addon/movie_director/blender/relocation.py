"""Results of an unsaved file move next to it when it is saved: ``<data dir>/unsaved/<job>/``
becomes ``//movie_director/<job>/``.

``save_post`` lists the strips whose files sit in the unsaved folder; a board job moves the
folders on a worker (the panel shows it) and, when it is done, the timer points the strips
at the new place. A job still running just downloads into the new folder.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import bpy

from movie_director.blender.jobboard import GenerationJob, Output, Target
from movie_director.blender.placement import UNSAVED, job_folder, move_folders

MOVE = "move"


def strip_folder(strip: Any) -> Path | None:
    """The folder a media strip's files are in (absolute, normalized: saving makes paths
    relative, ``//../…``), None for other strips."""
    if strip.type == "IMAGE":
        return Path(os.path.normpath(bpy.path.abspath(strip.directory)))
    if strip.type == "MOVIE":
        return Path(os.path.normpath(bpy.path.abspath(strip.filepath))).parent
    return None


def unsaved_folders(editor_strips: Any, data_dir: Path) -> set[Path]:
    root = data_dir / UNSAVED
    return {folder for strip in editor_strips if (folder := strip_folder(strip)) is not None and folder.parent == root}


def relocate(state: Any, blend: str) -> None:
    """Move the unsaved results of the file just saved as ``blend`` (``save_post``)."""
    controller = state.controller
    if controller.config is None:
        return
    data_dir = controller.config.data_dir
    for job in controller.board.active:
        if job.folder.parent == data_dir / UNSAVED:
            job.folder = job_folder(blend, data_dir, job.id)
    folders = set()
    for scene in bpy.data.scenes:
        if scene.sequence_editor is not None:
            folders |= unsaved_folders(scene.sequence_editor.strips_all, data_dir)
    if not folders:
        return
    moves = tuple((folder, job_folder(blend, data_dir, folder.name)) for folder in sorted(folders))
    job = GenerationJob(controller.board.new_id(), MOVE, "", str(data_dir / UNSAVED), f"Moving {len(moves)} result folder(s) next to {Path(blend).name}", Path(blend).parent, Target("", 0, blend=blend), controller.wall_clock())
    controller.board.start(job, partial(_move, moves))


def _move(moves: tuple[tuple[Path, Path], ...], job: GenerationJob) -> tuple[Output, ...]:
    return tuple(Output(MOVE, pair) for pair in move_folders(moves))


def repoint(job: GenerationJob) -> int:
    """Point the strips at the moved folders (main thread); returns how many changed."""
    moved = {output.paths[0]: output.paths[1] for output in job.outputs}
    changed = 0
    for scene in bpy.data.scenes:
        for strip in scene.sequence_editor.strips_all if scene.sequence_editor else ():
            folder = strip_folder(strip)
            new = moved.get(folder) if folder is not None else None
            if new is None:
                continue
            if strip.type == "IMAGE":
                strip.directory = bpy.path.relpath(str(new)) + "/"
            else:
                strip.filepath = bpy.path.relpath(str(new / Path(strip.filepath).name))
            changed += 1
    return changed


__all__ = ["MOVE", "relocate", "repoint", "strip_folder"]
