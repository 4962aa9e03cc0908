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

Hooks are called through pluggy, once per plugin: ``tryfirst``/``trylast`` and
``wrapper=True`` work as in any pluggy project (a wrapper wraps each plugin's
implementation in turn), and an implementation may take fewer arguments than its
spec. A plugin whose implementation raises is disabled, listed by ``movie-director
plugins`` with its error, and what it registered is dropped; the others go on.

**Conflicts: the first registration of a name wins, in pluggy's call order.** Pluggy
calls ``tryfirst`` implementations first, then the others from the last registered
plugin to the first, ``trylast`` ones last. The built-in plugins are registered after
every other, so a pack cannot take a built-in kind or operation type with a plain or a
``trylast`` implementation; it replaces one only by saying so with ``tryfirst=True``.
A name registered twice is logged as a conflict and the later one ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from movie_director.backend import Backend
    from movie_director.cli.commands import Commands
    from movie_director.operations import OperationExecutor

PROJECT = "movie_director"
ENTRY_POINT_GROUP = "movie_director.backends"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    """Register backend classes.

    Called once when the plugin manager is built (CLI start-up, add-on registration).
    Call ``register(BackendSubclass)`` for every backend kind the plugin provides; a
    ``kind`` already registered earlier in the call order is logged and ignored.

    :param register: adds one :class:`~movie_director.backend.Backend` subclass.
    :return: nothing; results are ignored.
    """


@hookspec
def register_operations(register: Callable[[str, OperationExecutor], None]) -> None:
    """Register the executors of the queued operations the plugin's backends run.

    Called once when the plugin manager is built, after ``register_backends``. Call
    ``register(op_type, executor)`` for each operation type (name it ``<kind>.<verb>``,
    e.g. ``comfyui.submit``); the executor takes an
    :class:`~movie_director.operations.OperationContext` and runs again after a crash
    (``ctx.is_replay``), so it must use ``ctx.idempotency_key`` where the protocol allows.

    :param register: makes one operation type runnable by the service manager's queue.
    :return: nothing; results are ignored.
    """


@hookspec
def register_commands(commands: Commands) -> None:
    """Add sub-commands to the ``movie-director`` command line.

    Called once while the CLI builds its parser, after the built-in commands exist.
    ``commands.add(name, handler, help=...)`` returns the command's
    :class:`argparse.ArgumentParser` for its arguments; ``handler`` takes the parsed
    :class:`argparse.Namespace` and returns the exit code. ``commands.group(name,
    help=...)`` adds a command holding sub-commands (``movie-director llm chat``) and
    returns a :class:`~movie_director.cli.commands.Commands` for them.

    :param commands: the CLI's top-level commands.
    :return: nothing; results are ignored.
    """
