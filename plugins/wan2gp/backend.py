"""The ``wan2gp`` backend: Wan2GP's video generation through its web UI or its headless mode.

Both transports take the same :class:`~movie_director_plugins.wan2gp.settings.Wan2GPSettings`
and return the same result; which one a service uses comes from ``ServiceConfig.transport``
(``webui`` | ``mcp`` | ``auto``), and ``auto`` asks the address which one it serves.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from movie_director.backend import Backend, Capability, HealthSample, ProbeResult
from movie_director.configdata import ServiceConfig
from movie_director.errors import InvalidConfigError, MovieDirectorError, RequestRejected, WrongService
from movie_director.progress import ProgressCallback
from movie_director.watch import HttpStreamWatch, open_stream
from movie_director_plugins.gradio.backend import EVENT_STREAM, open_heartbeat
from movie_director_plugins.wan2gp.mcp_client import endpoint_of
from movie_director_plugins.wan2gp.settings import SERVICE, GenerationResult, Wan2GPSettings, Wan2GPTransport, video_capabilities

START_HINT = "Start Wan2GP: python wgp.py (web UI on port 7860), or headless: python wgp.py --mcp --mcp-transport streamable-http --mcp-port 8765."
TRANSPORTS = ("webui", "mcp")


def transport_module(name: str) -> ModuleType:
    """``webui`` or ``mcp``: a module with ``probe(url, timeout)`` and ``connect(service)``."""
    if name not in TRANSPORTS:
        raise InvalidConfigError(
            f"Wan2GP has no transport named {name!r}.",
            hints=[f"Set transport to one of: auto, {', '.join(TRANSPORTS)}."],
            details={"field": "transport", "value": name, "allowed": ", ".join(("auto", *TRANSPORTS))},
        )
    try:
        return importlib.import_module(f"movie_director_plugins.wan2gp.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"movie_director_plugins.wan2gp.{name}":
            raise
        raise InvalidConfigError(f"The Wan2GP {name} transport is not installed.", hints=["Update the Movie Director add-on."]) from exc


def _available_modules() -> list[ModuleType]:
    modules = []
    for name in TRANSPORTS:
        try:
            modules.append(transport_module(name))
        except InvalidConfigError:
            continue
    return modules


class Wan2GPBackend(Backend[Wan2GPTransport]):
    """Wan2GP (deepbeepmeep), web UI on 7860 or headless MCP server."""

    kind = "wan2gp"
    display_name = "Wan2GP"
    default_url = "http://127.0.0.1:7860"
    default_ports = (7860, 7861, 7862, 8765, 8000)  # web UI (7860–7862 when taken); headless: our start hint's port, FastMCP's default
    probe_priority = 10  # before the generic "gradio" kind, which would claim the web UI
    start_hint = START_HINT
    pool_max = 2
    pool_min = 1
    health_interval = 30.0

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        """The web UI (by its events, not its port) or the headless MCP server at ``url``.

        The first transport whose probe cannot tell (unreachable, slow, busy, broken)
        ends the search with its error: the same address would keep the next one
        waiting as long, and its answer is no proof that this is not Wan2GP.
        """
        for module in _available_modules():
            found = module.probe(url, timeout)
            if found is not None:
                return found
        return None

    def connect(self, service: ServiceConfig) -> Wan2GPTransport:
        """The transport the service asks for; with ``auto``, the one its address serves."""
        name = service.transport or "auto"
        if name == "auto":
            found = self.probe(service.url, service.connect_timeout)
            if found is None:
                raise WrongService(f"Something answers at {service.url}, but it is neither Wan2GP's web UI nor its headless server.", service=SERVICE)
            name = found.transport
        transport: Wan2GPTransport = transport_module(name).connect(service)
        return transport

    def watch(self, service: ServiceConfig) -> HttpStreamWatch | None:
        """The web UI's Gradio heartbeat, or the headless server's ``GET /mcp/`` event stream
        (which sends nothing while idle: only its end counts)."""
        transport = service.transport or "auto"
        if transport in ("auto", "webui"):
            try:
                return open_heartbeat(service)
            except RequestRejected:
                if transport == "webui":
                    raise
        return open_stream(service, [urlsplit(endpoint_of(service.url)).path], EVENT_STREAM)

    def health(self, connection: Wan2GPTransport) -> HealthSample:
        started = time.perf_counter()
        try:
            return connection.health()
        except MovieDirectorError as error:
            return HealthSample(ok=False, latency_ms=(time.perf_counter() - started) * 1000, error=error.to_dict())

    def capabilities(self, connection: Wan2GPTransport) -> list[Capability]:
        own = getattr(connection, "capabilities", None)
        if callable(own):
            return list(own())
        return video_capabilities(connection.models(), {"transport": connection.name})

    def generate(
        self,
        connection: Wan2GPTransport,
        settings: Wan2GPSettings,
        out_dir: Path,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> GenerationResult:
        """One video generation on ``connection`` (see ``Wan2GPTransport.generate``)."""
        return connection.generate(settings, out_dir, on_progress=on_progress, timeout=timeout)
