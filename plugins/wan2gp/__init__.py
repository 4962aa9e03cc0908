"""The built-in `wan2gp` backend plugin: Wan2GP through its web UI or its headless MCP mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from movie_director.hookspecs import hookimpl

if TYPE_CHECKING:
    from movie_director.backend import Backend
    from movie_director.cli.commands import Commands


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    from movie_director_plugins.wan2gp.backend import Wan2GPBackend  # here: loading the plugin must stay light

    register(Wan2GPBackend)


@hookimpl
def register_commands(commands: Commands) -> None:
    from movie_director_plugins.wan2gp import cli

    cli.add_commands(commands)
