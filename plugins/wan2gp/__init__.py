"""The built-in `wan2gp` backend plugin: Wan2GP through its web UI or its headless MCP mode."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl
from movie_director_plugins.wan2gp.backend import Wan2GPBackend


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(Wan2GPBackend)


@hookimpl
def register_commands(subcommands: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    from movie_director_plugins.wan2gp import cli

    cli.add_parser(subcommands)
