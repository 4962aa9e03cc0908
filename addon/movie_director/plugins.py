"""Load backend plugins from the ``movie_director.backends`` entry-point group.

Built-in backends (comfyui, wan2gp, litellm, gradio) come through the same group as
third-party packs. One broken plugin (import error, unknown hook, hook raising) is
reported with its error and never takes the others down.

``MOVIE_DIRECTOR_LOAD_PLUGINS=comfyui,echo`` restricts which entry points load (an
empty value loads none), as llm's ``LLM_LOAD_PLUGINS`` does.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from movie_director import hookspecs
from movie_director.backend import Backend

log = logging.getLogger(__name__)

LOAD_PLUGINS_ENV = "MOVIE_DIRECTOR_LOAD_PLUGINS"


@dataclass
class PluginInfo:
    """One entry point as the ``plugins`` command reports it."""

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "backends": self.kinds,
            "ok": not self.error,
            "error": self.error,
        }


class PluginManager:
    """The loaded plugins and the backends they registered, keyed by kind."""

    def __init__(self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
        self.pluggy = pluggy.PluginManager(hookspecs.PROJECT)
        self.pluggy.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.backends: dict[str, Backend] = {}
        points = list(entry_points) if entry_points is not None else _entry_points()
        for point in _allowed(points):
            self._load(point)
        self._collect_backends()

    def _load(self, point: importlib.metadata.EntryPoint) -> None:
        dist = getattr(point, "dist", None)
        info = PluginInfo(
            name=point.name,
            module=point.value,
            distribution=dist.metadata["Name"] if dist is not None else "",
            version=dist.version if dist is not None else "",
        )
        self.plugins[point.name] = info
        try:
            plugin = point.load()
            self.pluggy.register(plugin, name=point.name)
        except Exception as exc:  # noqa: BLE001 - any failure of foreign code is reported, not raised
            info.error = _describe(exc)
            log.warning("plugin %s failed to load: %s", point.name, info.error)
            return
        try:
            self.pluggy.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pluggy.unregister(name=point.name)
            info.error = _describe(exc)
            log.warning("plugin %s is invalid: %s", point.name, info.error)
            return
        info.hooks = sorted(impl.function.__name__ for impl in _hookimpls_of(self.pluggy, point.name))

    def _collect_backends(self) -> None:
        for impl in self.pluggy.hook.register_backends.get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            try:
                impl.function(register=self._registrar(impl.plugin_name))
            except Exception as exc:  # noqa: BLE001 - a raising hook disables only its plugin
                if info is not None:
                    info.error = _describe(exc)
                log.warning("plugin %s failed in register_backends: %s", impl.plugin_name, _describe(exc))

    def _registrar(self, plugin_name: str) -> Callable[[type[Backend]], None]:
        def register(backend_class: type[Backend]) -> None:
            if not (isinstance(backend_class, type) and issubclass(backend_class, Backend)) or not backend_class.kind:
                raise TypeError(f"{backend_class!r} is not a Backend subclass with a kind")
            kind = backend_class.kind
            if kind in self.backends:
                log.warning("backend kind %r from %s ignored: already registered", kind, plugin_name)
                return
            self.backends[kind] = backend_class()
            info = self.plugins.get(plugin_name)
            if info is not None:
                info.kinds.append(kind)

        return register

    def backend(self, kind: str) -> Backend:
        """The backend for ``kind``; a clear error lists the known kinds."""
        try:
            return self.backends[kind]
        except KeyError:
            from movie_director.errors import ConfigError

            known = ", ".join(sorted(self.backends)) or "none"
            raise ConfigError(
                f"No backend plugin provides the kind {kind!r} (installed: {known}).",
                hints=["Install the plugin pack that provides it, then run `movie-director plugins`."],
            ) from None

    def backends_by_specificity(self) -> list[Backend]:
        """Backends in the order discovery should ask them (most specific first)."""
        return sorted(self.backends.values(), key=lambda backend: (-backend.probe_priority, backend.kind))

    def register_commands(self, subcommands: Any) -> None:
        for impl in self.pluggy.hook.register_commands.get_hookimpls():
            try:
                impl.function(subcommands=subcommands)
            except Exception as exc:  # noqa: BLE001
                info = self.plugins.get(impl.plugin_name)
                if info is not None:
                    info.error = _describe(exc)
                log.warning("plugin %s failed in register_commands: %s", impl.plugin_name, _describe(exc))


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    for point in importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        seen.setdefault(point.name, point)  # a stale second copy of a distribution must not load twice
    return list(seen.values())


def _allowed(points: list[importlib.metadata.EntryPoint]) -> list[importlib.metadata.EntryPoint]:
    wanted = os.environ.get(LOAD_PLUGINS_ENV)
    if wanted is None:
        return points
    names = {name.strip() for name in wanted.split(",") if name.strip()}
    return [point for point in points if point.name in names]


def _hookimpls_of(manager: pluggy.PluginManager, name: str) -> list[Any]:
    plugin = manager.get_plugin(name)
    return [impl for caller in manager.get_hookcallers(plugin) or [] for impl in caller.get_hookimpls() if impl.plugin is plugin]


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PluginManager()
        return _manager


def reset_plugin_manager() -> None:
    """Forget the loaded plugins (tests; after installing a pack at run time)."""
    global _manager
    with _manager_lock:
        _manager = None
