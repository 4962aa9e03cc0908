"""pytest fixtures that start real backends on free loopback ports (``pytest11`` entry point).

Plugin authors get the same stand-ins our own suite uses::

    def test_my_plugin(comfyui_server):
        assert requests.get(comfyui_server.url + "/system_stats", timeout=5).ok

Session fixtures share one process per kind; ``backend_servers`` starts private ones
for tests that kill and restart them. Every process is stopped after its scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from movie_director.testing.processes import ServerProcess


def _launcher(name: str) -> Callable[..., ServerProcess]:
    """The launcher for one kind of test backend (imported lazily: each pulls its own tools)."""
    if name == "comfyui":
        from movie_director.testing.comfyui_standin import launch

        return launch
    if name == "wan2gp_webui":
        from movie_director.testing.gradio_apps import launch_wan2gp_webui

        return launch_wan2gp_webui
    if name == "gradio":
        from movie_director.testing.gradio_apps import launch_gradio_generic

        return launch_gradio_generic
    if name == "wan2gp_mcp":
        from movie_director.testing.wan2gp_mcp import launch_wan2gp_mcp

        return launch_wan2gp_mcp
    if name == "litellm":
        from movie_director.testing.litellm_proxy import launch_litellm_proxy

        return launch_litellm_proxy
    raise KeyError(f"unknown test backend {name!r}")


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
            server.stop()


@pytest.fixture
def backend_servers() -> Iterator[BackendServers]:
    """Start private test backends (``backend_servers.start("comfyui", node_delay=0.2)``)."""
    servers = BackendServers()
    try:
        yield servers
    finally:
        servers.stop_all()


def _session_server(name: str) -> Iterator[ServerProcess]:
    server = _launcher(name)()
    with server:
        yield server


@pytest.fixture(scope="session")
def comfyui_server() -> Iterator[ServerProcess]:
    """The ComfyUI stand-in, shared by the session."""
    yield from _session_server("comfyui")


@pytest.fixture(scope="session")
def wan2gp_webui_server() -> Iterator[ServerProcess]:
    """The Gradio 5.29 app shaped like Wan2GP's web UI, shared by the session."""
    yield from _session_server("wan2gp_webui")


@pytest.fixture(scope="session")
def gradio_server() -> Iterator[ServerProcess]:
    """A plain Gradio 6 app with a few named endpoints, shared by the session."""
    yield from _session_server("gradio")


@pytest.fixture(scope="session")
def wan2gp_mcp_server() -> Iterator[ServerProcess]:
    """The MCP server shaped like Wan2GP's headless mode, shared by the session."""
    yield from _session_server("wan2gp_mcp")


@pytest.fixture(scope="session")
def litellm_server() -> Iterator[ServerProcess]:
    """A real LiteLLM proxy answering from mock responses, shared by the session."""
    yield from _session_server("litellm")
