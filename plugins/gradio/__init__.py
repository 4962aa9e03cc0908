"""The built-in `gradio` backend plugin: any Gradio app by URL, its endpoints as capabilities."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from movie_director.hookspecs import hookimpl

if TYPE_CHECKING:
    from movie_director.backend import Backend
    from movie_director.cli.commands import Commands


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    from movie_director_plugins.gradio.backend import GradioBackend  # here: loading the plugin must stay light

    register(GradioBackend)


@hookimpl
def register_commands(commands: Commands) -> None:
    from movie_director_plugins.gradio import cli

    cli.add_commands(commands)
