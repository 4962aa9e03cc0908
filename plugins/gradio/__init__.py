"""The built-in `gradio` backend plugin: any Gradio app by URL, its endpoints as capabilities."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl
from movie_director_plugins.gradio.backend import GradioBackend


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(GradioBackend)


@hookimpl
def register_commands(subcommands: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    from movie_director_plugins.gradio import cli

    cli.add_parser(subcommands)
