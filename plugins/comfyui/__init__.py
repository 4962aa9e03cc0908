"""The built-in `comfyui` backend plugin: ComfyUI over HTTP and its live WebSocket."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from movie_director.hookspecs import hookimpl

if TYPE_CHECKING:
    from movie_director.backend import Backend
    from movie_director.cli.commands import Commands
    from movie_director.operations import OperationExecutor


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    from movie_director_plugins.comfyui.backend import ComfyUIBackend  # here: loading the plugin must stay light

    register(ComfyUIBackend)


@hookimpl
def register_operations(register: Callable[[str, OperationExecutor], None]) -> None:
    from movie_director_plugins.comfyui.operations import SUBMIT, submit_operation  # here: loading the plugin must stay light

    register(SUBMIT, submit_operation)


@hookimpl
def register_commands(commands: Commands) -> None:
    from movie_director_plugins.comfyui import cli

    cli.add_commands(commands)
