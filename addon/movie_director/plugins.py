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
from typing import TYPE_CHECKING, Any

import pluggy

from movie_director import hookspecs
from movie_director.backend import Backend
from movie_director.operations import OperationExecutor, register_operation, unregister_operation

if TYPE_CHECKING:
    from movie_director.cli.commands import Commands

log = logging.getLogger(__name__)

LOAD_PLUGINS_ENV = "MOVIE_DIRECTOR_LOAD_PLUGINS"
#: The distribution of the built-in plugins: registered after the others, so called before them.
BUILTIN_DISTRIBUTION = "movie-director-connect"


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
    """The loaded plugins and what they registered: backends keyed by kind, operation executors by type.

    Hooks are called through pluggy, so ``tryfirst``/``trylast``, wrappers and argnames
    behave as for any pluggy project, but once per plugin (a subset caller holding that
    plugin's implementation and every wrapper): a plugin whose implementation raises is
    disabled and listed with its error, and what it registered is dropped, while the
    others are unaffected. Within one hook the first registration of a name wins, in
    pluggy's call order; built-in plugins are registered last so that they are called
    before other plain implementations (see :mod:`movie_director.hookspecs`).
    """

    def __init__(self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
        self.pluggy = pluggy.PluginManager(hookspecs.PROJECT)
        self.pluggy.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._backends: dict[str, Backend[Any]] = {}
        self._operations: dict[str, OperationExecutor] = {}
        self._operation_sources: dict[str, str] = {}
        self._registered = False
        self._registering = threading.RLock()
        points = _allowed(list(entry_points) if entry_points is not None else _entry_points())
        for point in points:
            self._plugins[point.name] = _info(point)
        for point in sorted(points, key=lambda point: self._plugins[point.name].distribution == BUILTIN_DISTRIBUTION):
            self._load(point)

    @property
    def plugins(self) -> dict[str, PluginInfo]:
        """Every plugin found, with the kinds it registered or why it is disabled."""
        self._register()
        return self._plugins

    @property
    def backends(self) -> dict[str, Backend[Any]]:
        """One backend instance per kind."""
        self._register()
        return self._backends

    @property
    def operations(self) -> dict[str, OperationExecutor]:
        """The operation executors by operation type."""
        self._register()
        return self._operations

    def _register(self) -> None:
        """Call ``register_backends`` and ``register_operations`` on first use, not when the plugins load:
        building the CLI's parser (``register_commands``) must not import every backend's HTTP stack."""
        with self._registering:
            if self._registered:
                return
            self._registered = True
            self._call_per_plugin("register_backends", self._backend_registrar)
            self._call_per_plugin("register_operations", self._operation_registrar)

    def _load(self, point: importlib.metadata.EntryPoint) -> None:
        info = self._plugins[point.name]
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

    def _call_per_plugin(self, hook_name: str, argument_for: Callable[[str], tuple[dict[str, Any], Callable[[], None]]]) -> None:
        """Call ``hook_name`` once per plugin implementing it, in pluggy's call order, each with its
        own arguments; ``argument_for(plugin)`` gives them and a ``commit`` run only when the call succeeds."""
        caller: pluggy.HookCaller = getattr(self.pluggy.hook, hook_name)
        plain = [impl for impl in reversed(caller.get_hookimpls()) if not (impl.wrapper or impl.hookwrapper)]
        for impl in plain:
            while self.pluggy.is_registered(impl.plugin):
                others = [other.plugin for other in plain if other is not impl]
                kwargs, commit = argument_for(impl.plugin_name)
                try:
                    self.pluggy.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs)
                except Exception as exc:  # noqa: BLE001 - a raising hook disables only its plugin
                    self._disable(_raiser(exc, caller.get_hookimpls(), default=impl.plugin_name), hook_name, exc)
                    continue  # a raising wrapper is gone now: call this plugin again
                commit()
                break

    def _disable(self, plugin_name: str, hook_name: str, exc: BaseException) -> None:
        """Take a plugin out: unregistered, its backends and executors dropped, listed with its error."""
        info = self._plugins.get(plugin_name)
        described = _describe(exc)
        log.warning("plugin %s failed in %s and is disabled: %s", plugin_name, hook_name, described)
        self.pluggy.unregister(name=plugin_name)
        if info is None:
            return
        info.error = f"{hook_name}: {described}"
        for kind in info.kinds:
            self._backends.pop(kind, None)
        info.kinds = []
        for op_type in [op for op, source in self._operation_sources.items() if source == plugin_name]:
            del self._operations[op_type], self._operation_sources[op_type]
            unregister_operation(op_type)

    def _backend_registrar(self, plugin_name: str) -> tuple[dict[str, Any], Callable[[], None]]:
        staged: list[type[Backend]] = []

        def register(backend_class: type[Backend]) -> None:
            if not (isinstance(backend_class, type) and issubclass(backend_class, Backend)) or not backend_class.kind:
                raise TypeError(f"{backend_class!r} is not a Backend subclass with a kind")
            staged.append(backend_class)

        def commit() -> None:
            for backend_class in staged:
                kind = backend_class.kind
                if kind in self._backends:
                    log.warning("backend kind %r from %s ignored: already registered by an earlier plugin", kind, plugin_name)
                    continue
                self._backends[kind] = backend_class()
                self._plugins[plugin_name].kinds.append(kind)

        return {"register": register}, commit

    def _operation_registrar(self, plugin_name: str) -> tuple[dict[str, Any], Callable[[], None]]:
        staged: dict[str, OperationExecutor] = {}

        def register(op_type: str, executor: OperationExecutor) -> None:
            if not (isinstance(op_type, str) and op_type and callable(executor)):
                raise TypeError(f"register({op_type!r}, {executor!r}) needs an operation type and a callable executor")
            staged[op_type] = executor

        def commit() -> None:
            for op_type, executor in staged.items():
                if op_type in self._operations:
                    log.warning("operation %r from %s ignored: already registered by an earlier plugin", op_type, plugin_name)
                    continue
                self._operations[op_type] = executor
                self._operation_sources[op_type] = plugin_name
                register_operation(op_type, executor, replace=True)  # a rebuilt manager's plugins take over

        return {"register": register}, commit

    def backend(self, kind: str) -> Backend[Any]:
        """The backend for ``kind``; a clear error lists the known kinds."""
        try:
            return self.backends[kind]
        except KeyError:
            from movie_director.errors import InvalidConfigError

            known = ", ".join(sorted(self.backends)) or "none"
            raise InvalidConfigError(
                f"No backend plugin provides the kind {kind!r} (installed: {known}).",
                hints=["Install the plugin pack that provides it, then run `movie-director plugins`."],
            ) from None

    def backends_by_specificity(self) -> list[Backend[Any]]:
        """Backends in the order discovery should ask them (most specific first)."""
        return sorted(self.backends.values(), key=lambda backend: (-backend.probe_priority, backend.kind))

    def register_commands(self, commands: Commands) -> None:
        """Let every plugin add its commands to the CLI (a raising plugin is disabled, the others' commands stay)."""
        self._call_per_plugin("register_commands", lambda plugin_name: ({"commands": commands}, lambda: None))


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


def _info(point: importlib.metadata.EntryPoint) -> PluginInfo:
    dist = getattr(point, "dist", None)
    return PluginInfo(
        name=point.name,
        module=point.value,
        distribution=dist.metadata["Name"] if dist is not None else "",
        version=dist.version if dist is not None else "",
    )


def _raiser(exc: BaseException, impls: Iterable[pluggy.HookImpl], default: str) -> str:
    """The plugin whose implementation raised ``exc``: the outermost of their frames in its traceback
    (a wrapper's own failure is its fault, not that of the plugin it wrapped)."""
    owners = {_code_of(impl.function): impl.plugin_name for impl in impls}
    tb = exc.__traceback__
    while tb is not None:
        owner = owners.get(tb.tb_frame.f_code)
        if owner is not None:
            return owner
        tb = tb.tb_next
    return default


def _code_of(function: Callable[..., object]) -> Any:
    return getattr(function, "__code__", None)


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
