"""Blender's layer: panels, preferences, operators and the timer that reads core snapshots.

Only this package imports ``bpy`` (and only in ``properties``, ``operators``,
``generate_operators``, ``delivery``, ``panels``, ``pending``, ``handlers`` and
``runtime``; the rest is plain Python, tested without Blender). It never does network or disk I/O in a ``draw`` or an operator's ``execute``.

An extension's ``__init__.py`` (or a legacy add-on) calls :func:`register` with its own
package name, which Blender uses as the key of the add-on's preferences.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Registration order; unregistered in reverse.
_PARTS = ("properties", "operators", "generate_operators", "panels", "handlers")


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{part}") for part in _PARTS]


def register(package: str) -> None:
    """Register every class, handler and the timer; ``package`` keys the preferences."""
    from movie_director.blender import runtime

    properties, operators, generate_operators, panels, handlers = _modules()
    properties.register(package)
    operators.register()
    generate_operators.register()
    panels.register()
    handlers.register()
    runtime.start(package)


def unregister() -> None:
    """Undo :func:`register`: the timer first, then every thread is joined, then the classes."""
    from movie_director.blender import runtime

    runtime.stop()
    properties, operators, generate_operators, panels, handlers = _modules()
    handlers.unregister()
    panels.unregister()
    generate_operators.unregister()
    operators.unregister()
    properties.unregister()


__all__ = ["register", "unregister"]
