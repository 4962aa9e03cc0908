"""The plugin manager: entry points, hooks called through pluggy, broken plugins isolated, unknown hooks refused, env filter."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from movie_director import hookspecs
from movie_director.backend import Backend
from movie_director.cli.arguments import Parser
from movie_director.cli.commands import Commands
from movie_director.operations import executor_for, registered_operations, unregister_operation
from movie_director.plugins import PluginManager, get_plugin_manager


def backend_plugin(class_name: str, kind: str, options: str = "", then: str = "pass") -> str:
    """A plugin registering one Backend subclass of ``kind``; ``options`` are its hookimpl's, ``then`` runs after."""
    return f"""
from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl

class {class_name}(Backend):
    kind = "{kind}"
    default_url = "http://127.0.0.1:9"

@hookimpl{options}
def register_backends(register):
    register({class_name})
    {then}
"""


GOOD = backend_plugin("Good", "good")
DUPLICATE = backend_plugin("Again", "good")
RAISING_AFTER_REGISTERING = backend_plugin("Half", "half", then='raise RuntimeError("plugin bug after registering")')
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
WRAPPER = """
from movie_director.hookspecs import hookimpl

wrapped = []

@hookimpl(wrapper=True)
def register_backends(register):
    result = yield
    wrapped.append(register)
    return result
"""
RAISING_WRAPPER = """
from movie_director.hookspecs import hookimpl

@hookimpl(wrapper=True)
def register_backends(register):
    yield
    raise RuntimeError("wrapper bug")
"""
NO_ARGUMENTS = """
from movie_director.hookspecs import hookimpl

calls = []

@hookimpl
def register_backends():
    calls.append("register_backends")
"""
OPERATIONS = """
from movie_director.hookspecs import hookimpl

def run(ctx):
    return "{name}"

@hookimpl{options}
def register_operations(register):
    register("mdtest.op", run)
"""
COMMANDS = """
from movie_director.hookspecs import hookimpl

@hookimpl
def register_commands(commands):
    tool = commands.group("tool", help="a plugin's command group")
    hello = tool.add("hello", lambda args: print("hello", args.name) or 0, help="say hello")
    hello.add_argument("name")
"""
RAISING_COMMANDS = """
from movie_director.hookspecs import hookimpl

@hookimpl
def register_commands(commands):
    raise RuntimeError("commands bug")
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


def test_what_a_raising_plugin_registered_before_failing_is_dropped(plugin_dir: Path) -> None:
    manager = PluginManager(points(plugin_dir, good=GOOD, half=RAISING_AFTER_REGISTERING))
    assert list(manager.backends) == ["good"] and manager.plugins["half"].kinds == []
    assert "register_backends: RuntimeError: plugin bug after registering" in manager.plugins["half"].error
    assert manager.pluggy.get_plugin("half") is None  # disabled: no later hook reaches it


def builtin_points(*names: str) -> list[importlib.metadata.EntryPoint]:
    return [point for point in importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP) if point.name in names]


@pytest.mark.parametrize(("options", "taken"), [("(trylast=True)", False), ("", False), ("(tryfirst=True)", True)])
def test_a_pack_takes_a_builtin_kind_only_with_tryfirst(plugin_dir: Path, options: str, taken: bool) -> None:
    """The pack comes first in the entry points (registered first, it used to win); pluggy's order decides now."""
    manager = PluginManager([*points(plugin_dir, taker=backend_plugin("Taker", "comfyui", options)), *builtin_points("comfyui")])
    assert type(manager.backends["comfyui"]).__name__ == ("Taker" if taken else "ComfyUIBackend")
    assert manager.plugins["taker"].kinds == (["comfyui"] if taken else [])
    assert manager.plugins["comfyui"].kinds == ([] if taken else ["comfyui"])


def test_a_wrapper_implementation_runs_around_each_plugin(plugin_dir: Path) -> None:
    manager = PluginManager(points(plugin_dir, wrapper=WRAPPER, good=GOOD))
    assert list(manager.backends) == ["good"] and not manager.plugins["wrapper"].error
    assert len(sys.modules["mdtest_wrapper"].wrapped) == 1 and callable(sys.modules["mdtest_wrapper"].wrapped[0])


def test_a_raising_wrapper_is_disabled_not_the_plugin_it_wrapped(plugin_dir: Path) -> None:
    manager = PluginManager(points(plugin_dir, wrapper=RAISING_WRAPPER, good=GOOD))
    assert list(manager.backends) == ["good"] and manager.plugins["good"].kinds == ["good"] and not manager.plugins["good"].error
    assert "wrapper bug" in manager.plugins["wrapper"].error


def test_an_implementation_may_take_fewer_arguments_than_its_spec(plugin_dir: Path) -> None:
    manager = PluginManager(points(plugin_dir, bare=NO_ARGUMENTS, good=GOOD))
    assert not manager.plugins["bare"].error and list(manager.backends) == ["good"]
    assert sys.modules["mdtest_bare"].calls == ["register_backends"]


def test_operations_arrive_through_their_hook_and_the_first_in_call_order_wins(plugin_dir: Path) -> None:
    sources = {"late": OPERATIONS.format(name="late", options="(trylast=True)"), "plain": OPERATIONS.format(name="plain", options="")}
    try:
        manager = PluginManager(points(plugin_dir, **sources))
        assert manager.operations["mdtest.op"] is executor_for("mdtest.op")
        assert "mdtest.op" in registered_operations()
        assert executor_for("mdtest.op")(None) == "plain"  # type: ignore[arg-type]
    finally:
        unregister_operation("mdtest.op")


def test_builtin_operations_come_from_their_plugins() -> None:
    manager = get_plugin_manager()
    assert {"comfyui.submit", "llm.chat"} <= set(manager.operations) <= set(registered_operations())


def test_commands_are_added_through_our_registry_and_a_raising_plugin_is_listed(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manager = PluginManager(points(plugin_dir, tool=COMMANDS, broken=RAISING_COMMANDS))
    parser = Parser(prog="movie-director")
    commands = Commands(parser)
    manager.register_commands(commands)
    assert [sub.prog for sub in commands.parsers] == ["movie-director tool", "movie-director tool hello"]
    args = parser.parse_args(["tool", "hello", "Ada"])
    assert args.handler(args) == 0 and capsys.readouterr().out == "hello Ada\n"
    assert "commands bug" in manager.plugins["broken"].error and not manager.plugins["tool"].error
    alone = parser.parse_args(["tool"])
    assert alone.handler(alone) == 0 and "hello" in capsys.readouterr().out  # a group alone prints its help


def test_duplicate_kind_keeps_the_first_in_call_order_and_bad_registration_is_reported(plugin_dir: Path) -> None:
    """Pluggy calls the last registered plain implementation first: ``again`` comes before ``good``."""
    manager = PluginManager(points(plugin_dir, good=GOOD, again=DUPLICATE, bad=NOT_A_BACKEND))
    assert type(manager.backends["good"]).__name__ == "Again"
    assert manager.plugins["good"].kinds == [] and manager.plugins["again"].kinds == ["good"]
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


def test_every_hook_is_documented_for_plugin_authors_with_its_signature() -> None:
    """As datasette's test does: the guide shows each hookspec's full signature, and only those."""
    guide = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    hooks = {name: getattr(hookspecs, name) for name in dir(hookspecs) if getattr(getattr(hookspecs, name), "movie_director_spec", None) is not None}
    assert {"register_backends", "register_operations", "register_commands"} <= set(hooks)
    documented = dict(re.findall(r"^### `(\w+)\((.*)\)`$", guide, flags=re.MULTILINE))
    assert set(documented) == set(hooks), "docs/plugins.md must have one heading per hookspec"
    for name, spec in hooks.items():
        assert spec.__doc__, f"hook {name} has no docstring"
        assert documented[name] == ", ".join(inspect.signature(spec).parameters), f"{name}: the guide's arguments differ from the spec"
        assert written(spec) in guide, f"docs/plugins.md must show {written(spec)}"


def written(spec: object) -> str:
    """A hookspec's signature as its source spells it (the annotations are strings: postponed evaluation)."""
    signature = inspect.signature(spec)  # type: ignore[arg-type]
    parameters = ", ".join(f"{name}: {parameter.annotation}" for name, parameter in signature.parameters.items())
    return f"def {spec.__name__}({parameters}) -> {signature.return_annotation}:"  # type: ignore[attr-defined]


def test_every_backend_method_is_documented_for_plugin_authors() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    methods = [name for name, value in vars(Backend).items() if callable(value) and not name.startswith("_")]
    assert "watch" in methods
    for method in methods:
        assert f"`{method}(" in guide, f"Backend.{method} is missing from docs/plugins.md"
