"""Blender's file handlers: what the running add-on does when a .blend opens or is saved.

:mod:`~movie_director.blender.persistence` (the settings) and
:mod:`~movie_director.blender.pending` (the kept jobs) give the data; these handlers
apply it to the :mod:`~movie_director.blender.runtime` state, so the layers import one way.
"""

from __future__ import annotations

import time
from typing import Any

import bpy
from bpy.app.handlers import persistent

from movie_director.blender import runtime
from movie_director.blender.pending import kept_jobs, retarget, store
from movie_director.blender.persistence import apply_file_settings, store_settings
from movie_director.blender.relocation import relocate

#: The file's path before the save in progress ("" while unsaved).
_saving = [""]


@persistent
def on_load_post(*_args: Any) -> None:
    """Apply the file's settings, then follow the jobs it kept once the services run."""
    state = runtime._runtime
    if state is None:
        return
    if bpy.context.scene is not None:
        apply_file_settings(state, bpy.context.scene)
    state.pending_check = True


@persistent
def on_save_pre(*_args: Any) -> None:
    """Write the services in use and the file's unfinished jobs into its scene."""
    state = runtime._runtime
    scene = bpy.context.scene
    _saving[0] = bpy.data.filepath
    if state is None or scene is None:
        return
    states = {row.name: row.state for row in state.controller.rows}
    store_settings(scene.movie_director_props, state.settings(), states, time.time())
    store(scene, kept_jobs(state.controller.board, bpy.data.filepath))


@persistent
def on_save_post(*_args: Any) -> None:
    """Jobs of the file as it was (unsaved, or under its old name) now belong to the saved one;
    the results of a file saved for the first time move next to it."""
    state = runtime._runtime
    if state is not None:
        retarget(state.controller.board, _saving[0], bpy.data.filepath)
        if not _saving[0]:
            relocate(state, bpy.data.filepath)


HANDLERS = ((bpy.app.handlers.load_post, on_load_post), (bpy.app.handlers.save_pre, on_save_pre), (bpy.app.handlers.save_post, on_save_post))


def register() -> None:
    for handlers, handler in HANDLERS:
        if handler not in handlers:
            handlers.append(handler)


def unregister() -> None:
    for handlers, handler in HANDLERS:
        while handler in handlers:
            handlers.remove(handler)
