"""The built-in `wan2gp` backend plugin."""

from __future__ import annotations

from collections.abc import Callable

from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl
from movie_director_plugins.wan2gp.backend import Wan2GPBackend


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(Wan2GPBackend)
