"""The built-in `comfyui` backend plugin: ComfyUI over HTTP and its live WebSocket."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl
from movie_director.operations import register_operation
from movie_director_plugins.comfyui.backend import ComfyUIBackend
from movie_director_plugins.comfyui.cli import add_parser
from movie_director_plugins.comfyui.operations import SUBMIT, submit_operation


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ComfyUIBackend)
    register_operation(SUBMIT, submit_operation, replace=True)


@hookimpl
def register_commands(subcommands: argparse._SubParsersAction) -> None:
    add_parser(subcommands)
