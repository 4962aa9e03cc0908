"""The built-in `gradio` backend plugin."""

from __future__ import annotations

from collections.abc import Callable

from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl
from movie_director_plugins.gradio.backend import GradioBackend


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(GradioBackend)
