"""The plugin manager: entry points, broken plugins isolated, unknown hooks refused, env filter."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from movie_director import hookspecs
from movie_director.backend import Backend
from movie_director.plugins import PluginManager, get_plugin_manager

GOOD = """
from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl

class Good(Backend):
    kind = "good"
    default_url = "http://127.0.0.1:9"

@hookimpl
def register_backends(register):
    register(Good)
"""
BROKEN_IMPORT = "import does_not_exist_anywhere\n"
UNKNOWN_HOOK = """
from movie_director.hookspecs import hookimpl

@hookimpl
def register_backendz(register):
    pass
"""
RAISING = """
from movie_director.hookspecs import hookimpl

@hookimpl
def register_backends(register):
    raise RuntimeError("plugin bug")
"""
DUPLICATE = """
from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl

class Again(Backend):
    kind = "good"

@hookimpl
def register_backends(register):
    register(Again)
"""
NOT_A_BACKEND = """
from movie_director.hookspecs import hookimpl

@hookimpl
def register_backends(register):
    register(object)
"""


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("mdtest_")]:
        del sys.modules[name]


def points(plugin_dir: Path, **sources: str) -> list[importlib.metadata.EntryPoint]:
    result = []
    for name, source in sources.items():
        (plugin_dir / f"mdtest_{name}.py").write_text(textwrap.dedent(source))
        result.append(importlib.metadata.EntryPoint(name, f"mdtest_{name}", hookspecs.ENTRY_POINT_GROUP))
    return result


def test_broken_plugins_do_not_take_others_down(plugin_dir: Path) -> None:
    manager = PluginManager(points(plugin_dir, good=GOOD, broken=BROKEN_IMPORT, unknown=UNKNOWN_HOOK, raising=RAISING))
    assert list(manager.backends) == ["good"]
    assert manager.plugins["good"].kinds == ["good"] and not manager.plugins["good"].error
    assert "ModuleNotFoundError" in manager.plugins["broken"].error
    assert "register_backendz" in manager.plugins["unknown"].error
    assert "plugin bug" in manager.plugins["raising"].error
    assert manager.pluggy.get_plugin("unknown") is None  # refused hooks are unregistered


def test_duplicate_kind_keeps_the_first_and_bad_registration_is_reported(plugin_dir: Path) -> None:
    manager = PluginManager(points(plugin_dir, good=GOOD, again=DUPLICATE, bad=NOT_A_BACKEND))
    assert type(manager.backends["good"]).__name__ == "Good"
    assert manager.plugins["again"].kinds == []
    assert "not a Backend subclass" in manager.plugins["bad"].error


def test_env_restricts_loaded_plugins(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_DIRECTOR_LOAD_PLUGINS", "good")
    manager = PluginManager(points(plugin_dir, good=GOOD, broken=BROKEN_IMPORT))
    assert list(manager.plugins) == ["good"]
    monkeypatch.setenv("MOVIE_DIRECTOR_LOAD_PLUGINS", "")
    assert PluginManager(points(plugin_dir, good=GOOD)).plugins == {}


def test_unknown_kind_error_lists_installed(plugin_dir: Path) -> None:
    manager = PluginManager(points(plugin_dir, good=GOOD))
    with pytest.raises(Exception, match="installed: good"):
        manager.backend("nope")


def test_builtin_backends_register_through_entry_points() -> None:
    manager = get_plugin_manager()
    for kind in ("comfyui", "wan2gp", "litellm", "gradio"):
        assert kind in manager.backends, kind
        info = manager.plugins[kind]
        assert info.distribution == "movie-director-connect" and info.version


def test_specificity_order_puts_generic_gradio_after_wan2gp() -> None:
    order = [backend.kind for backend in get_plugin_manager().backends_by_specificity()]
    assert order.index("wan2gp") < order.index("gradio")


def test_every_hook_is_documented_for_plugin_authors() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    hooks = [name for name in dir(hookspecs) if getattr(getattr(hookspecs, name), "movie_director_spec", None) is not None]
    assert hooks, "no hookspecs found"
    for hook in hooks:
        assert f"`{hook}(" in guide, f"hook {hook} is missing from docs/plugins.md"
        assert getattr(hookspecs, hook).__doc__, f"hook {hook} has no docstring"


def test_every_backend_method_is_documented_for_plugin_authors() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    methods = [name for name, value in vars(Backend).items() if callable(value) and not name.startswith("_")]
    assert "watch" in methods
    for method in methods:
        assert f"`{method}(" in guide, f"Backend.{method} is missing from docs/plugins.md"
