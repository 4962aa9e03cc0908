"""Hook specifications: the whole plugin API of Movie Director.

Written in the style of pytest's ``hookspec.py`` and llm's ``hookspecs.py``: every hook
says when it is called and what it must return. A plugin is a module (or object)
with functions marked ``@hookimpl`` and named like the specs below, published through
the ``movie_director.backends`` entry-point group::

    # setup.cfg of a plugin pack
    [options.entry_points]
    movie_director.backends =
        echo = md_echo.plugin

Hook implementations that match no spec are refused when the plugin is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import argparse

    from movie_director.backend import Backend

PROJECT = "movie_director"
ENTRY_POINT_GROUP = "movie_director.backends"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    """Register backend classes.

    Called once, when the plugin manager is built (CLI start-up, add-on
    registration). Call ``register(BackendSubclass)`` for every backend kind the
    plugin provides; a ``kind`` registered twice is reported as a conflict and the
    later one ignored.

    :param register: adds one :class:`~movie_director.backend.Backend` subclass.
    :return: nothing; results are ignored.
    """


@hookspec
def register_commands(subcommands: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    """Add sub-commands to the ``movie-director`` command line.

    Called once while the CLI builds its parser, after the built-in commands exist.
    Add a parser with ``subcommands.add_parser(name, help=...)`` and set its
    ``handler`` default to a callable taking the parsed ``argparse.Namespace`` and
    returning the exit code.

    :param subcommands: the CLI's sub-parser collection.
    :return: nothing; results are ignored.
    """
