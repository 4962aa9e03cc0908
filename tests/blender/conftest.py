"""Blender as a module (``bpy`` from PyPI) for these tests, in a private user profile.

Blender reads ``BLENDER_USER_RESOURCES`` when ``bpy`` is first imported, so it is set
here, before any test module imports it: extensions, preferences and profiles land in
a temporary folder, never in the real profile. The add-on is enabled per test as a
legacy add-on (``movie_director_dev``, the extension's own ``__init__.py`` on the
user scripts path) so the tests drive the working tree; ``test_extension.py``
installs the built ``.zip`` instead, in a fresh process.

Tests without ``bpy`` (the pure modules) run anywhere; the others skip when ``bpy``
is not installed.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from movie_director.blender.recording import RecordingLayout
from movie_director_testing.processes import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEV_MODULE = "movie_director_dev"
HAVE_BPY = importlib.util.find_spec("bpy") is not None

USER_RESOURCES = Path(tempfile.mkdtemp(prefix="md-blender-user-"))
atexit.register(shutil.rmtree, USER_RESOURCES, True)
if HAVE_BPY:
    os.environ["BLENDER_USER_RESOURCES"] = str(USER_RESOURCES)
    shim = USER_RESOURCES / "scripts" / "addons" / DEV_MODULE
    shim.mkdir(parents=True)
    shutil.copy2(ROOT / "addon" / "extension" / "__init__.py", shim / "__init__.py")



#: tox -e blender names one folder per Blender release, each holding the HTTP stack it bundles.
BUNDLED_ENV = "BLENDER_BUNDLED_PACKAGES"  # not MOVIE_DIRECTOR_*: the bpy fixture clears those


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``bundled_stack`` runs once per Blender release's HTTP stack ("" outside tox)."""
    if "bundled_stack" in metafunc.fixturenames:
        folders = [folder for folder in os.environ.get(BUNDLED_ENV, "").split(os.pathsep) if folder] or [""]
        metafunc.parametrize("bundled_stack", folders, ids=[Path(folder).name or "unset" for folder in folders])

@pytest.fixture(scope="session")
def blender_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private config file, data folder and no MOVIE_DIRECTOR_* variables from the caller's shell."""
    folder = tmp_path_factory.mktemp("movie-director")
    config = folder / "config.json"
    config.write_text("{}\n", encoding="utf-8")
    saved = dict(os.environ)
    for name in [name for name in os.environ if name.startswith("MOVIE_DIRECTOR_") and name != "MOVIE_DIRECTOR_ENVS"]:
        del os.environ[name]
    os.environ["MOVIE_DIRECTOR_CONFIG"] = str(config)
    os.environ["MOVIE_DIRECTOR_DATA_DIR"] = str(folder / "data")
    try:
        yield {"config": str(config), "data_dir": str(folder / "data")}
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def bpy(blender_env: dict[str, str]) -> Any:
    return pytest.importorskip("bpy")


class Addon:
    """The enabled add-on: its preferences, what the timer fills, and the timer itself."""

    def __init__(self, bpy: Any) -> None:
        self.bpy = bpy
        from movie_director.blender import runtime

        self.runtime_module = runtime

    @property
    def runtime(self) -> Any:
        return self.runtime_module.get()

    @property
    def controller(self) -> Any:
        return self.runtime.controller

    @property
    def prefs(self) -> Any:
        return self.bpy.context.preferences.addons[DEV_MODULE].preferences

    @property
    def status(self) -> Any:
        return self.bpy.context.window_manager.movie_director_status

    def use(self, **urls: str) -> None:
        """Services for this test: the named ones at these URLs, every default one switched off."""
        from movie_director.blender.settings import ServiceSettings, UISettings

        defaults = {"comfyui": "http://127.0.0.1:9", "wan2gp": "http://127.0.0.1:9", "litellm": "http://127.0.0.1:9"}
        services = []
        for name in dict.fromkeys([*defaults, *urls]):
            kind = name.split("-")[0]
            services.append(ServiceSettings(name, kind, enabled=name in urls, url=urls.get(name, defaults.get(name, "")), timeout=5.0))
        self.prefs.set_from(UISettings(tuple(services)))
        self.prefs.initialized = True

    def tick(self) -> float | None:
        return self.runtime_module.tick()

    def pump(self, predicate: Callable[[], Any], timeout: float = 20.0, message: str = "condition") -> Any:
        """Run the timer by hand until ``predicate`` holds (timers never fire in module mode)."""

        def step() -> Any:
            self.tick()
            return predicate()

        return wait_until(step, timeout, interval=0.02, message=message)

    def row(self, name: str) -> Any:
        return next(item for item in self.status.services if item.name == name)

    def running(self, timeout: float = 30.0) -> None:
        self.pump(lambda: self.controller.state == "running", timeout, "the connection manager running")

    def use_fake(self, data_dir: Path, urls: dict[str, str], backend: Any = None) -> Any:
        """Build fake services (``testing.fake_backend``) instead of real ones: full control of their state."""
        from movie_director.blender.controller import Built
        from movie_director.blender.settings import ServiceSettings, UISettings
        from movie_director.manager import ServiceManager
        from movie_director_testing.fake_backend import FakeBackend, fake_config, fake_plugins

        backend = backend or FakeBackend()

        def build(layer: Any, online_access: bool) -> Built:
            config = fake_config(data_dir, urls)
            manager = ServiceManager(config, fake_plugins(backend), allow_remote=online_access)
            manager.start()
            return Built(config, manager, UISettings(), (("fake", "Fake", ""),))

        self.controller.builder = build
        self.prefs.set_from(UISettings(tuple(ServiceSettings(name, "fake", url=url) for name, url in urls.items())))
        self.prefs.initialized = True
        return backend


def enable(bpy: Any) -> Any:
    import addon_utils

    module = addon_utils.enable(DEV_MODULE, default_set=True, handle_error=_raise)
    assert module is not None, "the add-on did not enable"
    return module


def disable(bpy: Any) -> None:
    import addon_utils

    addon_utils.disable(DEV_MODULE, default_set=True, handle_error=_raise)


def _raise(exc: BaseException) -> None:
    raise exc


class Switch:
    """Enable and disable the add-on the way Blender's preferences do (``addon_utils``)."""

    module = DEV_MODULE

    def __init__(self, bpy: Any) -> None:
        self.bpy = bpy

    def on(self) -> Addon:
        enable(self.bpy)
        return Addon(self.bpy)

    def off(self) -> None:
        disable(self.bpy)


@pytest.fixture
def switch(bpy: Any) -> Iterator[Switch]:
    """For tests that enable and disable the add-on themselves; disabled afterwards in any case."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    yield Switch(bpy)
    if DEV_MODULE in bpy.context.preferences.addons:
        disable(bpy)


@pytest.fixture
def addon(bpy: Any) -> Iterator[Addon]:
    """The add-on enabled on a fresh empty file, with no saved profiles; disabled (threads joined) afterwards."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    shutil.rmtree(USER_RESOURCES / "config" / "movie_director", ignore_errors=True)
    enable(bpy)
    handle = Addon(bpy)
    try:
        yield handle
    finally:
        disable(bpy)


@pytest.fixture
def listening() -> Iterator[Callable[[], str]]:
    """URLs of loopback ports that accept connections (the manager's TCP pre-check passes; fake
    services then answer in-process). Closed after the test."""
    sockets: list[socket.socket] = []

    def url() -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sockets.append(sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield url
    for sock in sockets:
        sock.close()


@pytest.fixture(scope="session")
def recorder(bpy: Any) -> Callable[[], RecordingLayout]:
    """A recording layout that, like Blender, rejects unknown icons, operators and properties."""
    icons = set(bpy.types.UILayout.bl_rna.functions["prop"].parameters["icon"].enum_items.keys())

    def operator_check(idname: str, attribute: str) -> None:
        category, _, name = idname.partition(".")
        operator = getattr(getattr(bpy.ops, category), name)
        properties = operator.get_rna_type().properties.keys()  # raises for an unknown operator
        if attribute and attribute not in properties:
            raise AttributeError(f"{idname} has no property {attribute!r}")

    def prop_check(data: Any, name: str) -> None:
        if name not in data.bl_rna.properties.keys():
            raise AttributeError(f"{data.bl_rna.identifier} has no property {name!r}")

    return lambda: RecordingLayout(icons=icons, operator_check=operator_check, prop_check=prop_check)


class IOWatch:
    """Records file, socket, database and process events on one thread (an audit hook)."""

    PREFIXES = ("open", "socket.", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rename", "shutil.", "sqlite3.", "subprocess.", "glob.", "urllib.")

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._thread: int | None = None
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self._thread == threading.get_ident() and event.startswith(self.PREFIXES):
            self.events.append((event, args[:1]))

    @contextmanager
    def watching(self) -> Iterator[list[tuple[str, Any]]]:
        self.events = []
        self._thread = threading.get_ident()
        try:
            yield self.events
        finally:
            self._thread = None


@pytest.fixture(scope="session")
def io_watch() -> IOWatch:
    return IOWatch()
