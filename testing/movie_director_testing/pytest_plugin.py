"""pytest fixtures that start real backends on free loopback ports (``pytest11`` entry point).

Plugin authors get the same stand-ins our own suite uses::

    def test_my_plugin(comfyui_server):
        assert requests.get(comfyui_server.url + "/system_stats", timeout=5).ok

Session fixtures share one process per kind; ``backend_servers`` starts private ones
for tests that kill and restart them. Every process is stopped after its scope.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from movie_director_testing.processes import ServerProcess

#: Each test backend: its launcher (imported on first use: each pulls its own tools) and what it is.
BACKENDS: dict[str, tuple[str, str]] = {
    "comfyui": ("movie_director_testing.comfyui_standin:launch", "The ComfyUI stand-in"),
    "wan2gp_webui": ("movie_director_testing.gradio_apps:launch_wan2gp_webui", "The Gradio 5.29 app shaped like Wan2GP's web UI"),
    "gradio": ("movie_director_testing.gradio_apps:launch_gradio_generic", "A plain Gradio 6 app with a few named endpoints"),
    "wan2gp_mcp": ("movie_director_testing.wan2gp_mcp:launch_wan2gp_mcp", "The MCP server shaped like Wan2GP's headless mode"),
    "litellm": ("movie_director_testing.litellm_proxy:launch_litellm_proxy", "A real LiteLLM proxy answering from mock responses"),
}


def _launcher(name: str) -> Callable[..., ServerProcess]:
    """The launcher for one kind of test backend."""
    try:
        module, _, function = BACKENDS[name][0].partition(":")
    except KeyError:
        raise KeyError(f"unknown test backend {name!r}") from None
    launcher: Callable[..., ServerProcess] = getattr(importlib.import_module(module), function)
    return launcher


class BackendServers:
    """Starts private backend processes for one test and stops them all afterwards."""

    def __init__(self) -> None:
        self._started: list[ServerProcess] = []

    def start(self, name: str, **options: Any) -> ServerProcess:
        server = _launcher(name)(**options)
        self._started.append(server)
        return server.start()

    def stop_all(self) -> None:
        for server in reversed(self._started):
            server.close()


@pytest.fixture
def backend_servers() -> Iterator[BackendServers]:
    """Start private test backends (``backend_servers.start("comfyui", node_delay=0.2)``)."""
    servers = BackendServers()
    try:
        yield servers
    finally:
        servers.stop_all()


def _session_fixture(name: str, fixture: str = "", description: str = "", **options: Any) -> Any:
    """The ``<fixture or name>_server`` fixture: one process of that backend (started with ``options``), shared by the session."""

    def server() -> Iterator[ServerProcess]:
        with _launcher(name)(**options) as started:
            yield started

    server.__doc__ = f"{description or BACKENDS[name][1]}, shared by the session."
    return pytest.fixture(scope="session", name=f"{fixture or name}_server")(server)


comfyui_server = _session_fixture("comfyui")
wan2gp_webui_server = _session_fixture("wan2gp_webui")
gradio_server = _session_fixture("gradio")
wan2gp_mcp_server = _session_fixture("wan2gp_mcp")
wan2gp_mcp_realistic_server = _session_fixture(
    "wan2gp_mcp",
    fixture="wan2gp_mcp_realistic",
    description="The Wan2GP MCP stand-in as costly as the real 12.60 (217 models, list pages capped, 20–70 ms a call)",
    realistic=True,
)
litellm_server = _session_fixture("litellm")
