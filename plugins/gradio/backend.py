"""The generic ``gradio`` backend: any Gradio app added by URL, its endpoints as capabilities.

A voice-cloning tool on 7865 or an audio generator on 7863 is "a Gradio app": the user
adds its URL, sees what it can do and calls endpoints by name with keyword arguments.
Specific kinds built on Gradio (Wan2GP) probe first; this one claims the rest.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from movie_director.backend import Backend, Capability, HealthSample, ProbeResult
from movie_director.configdata import ServiceConfig
from movie_director.errors import MovieDirectorError
from movie_director.http import probe_json, probe_session
from movie_director.progress import ProgressCallback
from movie_director.watch import HttpStreamWatch, open_stream
from movie_director_plugins.gradio.api import is_gradio_config

START_HINT = "Start the Gradio app (e.g. python app.py); it prints the URL it serves on."


def probe_config(url: str, timeout: float, label: str = "Gradio app", start_hint: str = "") -> tuple[Mapping[str, Any], float] | None:
    """(Gradio ``/config``, latency ms) when ``url`` serves a Gradio app, else None.

    Raises our typed errors, naming the app as ``label``, when nothing answers in time
    or the answer is busy or broken (see :func:`movie_director.http.probe_json`).
    """
    with probe_session(url, timeout) as session:
        found = probe_json(session, url.rstrip("/") + "/config", service=label, start_hint=start_hint or START_HINT)
    return found if found is not None and is_gradio_config(found[0]) else None


def label_of(service: ServiceConfig) -> str:
    """How messages name the app: its configured name, or "the Gradio app at URL" (a sentence's start is capitalised for it)."""
    return service.name if service.name not in ("", "gradio") else f"the Gradio app at {service.url.rstrip('/')}"


class GradioConnection:
    """What the pool holds for a Gradio service: its transport (sessions are per job)."""

    def __init__(self, service: ServiceConfig) -> None:
        from movie_director_plugins.gradio.transport import GradioTransport

        self.service = service
        self.transport = GradioTransport(service, label=label_of(service), start_hint=START_HINT)

    def call(
        self,
        endpoint: str,
        arguments: Mapping[str, Any] | None = None,
        out_dir: Path | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``endpoint`` by name with keyword arguments; see ``GradioTransport.call``."""
        return self.transport.call(endpoint, arguments, out_dir=out_dir, on_progress=on_progress, timeout=timeout)

    def cancel(self) -> None:
        """Cancel the jobs this connection started (never anyone else's)."""
        self.transport.cancel_all()

    def close(self) -> None:
        self.transport.close()

    def __repr__(self) -> str:
        return f"<GradioConnection {self.service.url}>"


#: Gradio sends ``data: ALIVE`` on the heartbeat every 15 s; this long without it is a dead link.
HEARTBEAT_SILENCE_S = 20.0
EVENT_STREAM = {"Accept": "text/event-stream"}


def open_heartbeat(service: ServiceConfig) -> HttpStreamWatch | None:
    """Hold the app's heartbeat stream (``/gradio_api/heartbeat/…``; Gradio 4: ``/heartbeat/…``)
    under a session of its own: the server closes it the moment it stops."""
    root = urlsplit(service.url).path.rstrip("/")
    session_hash = f"md-watch-{uuid.uuid4().hex[:12]}"
    paths = [f"{root}{prefix}/heartbeat/{session_hash}" for prefix in ("/gradio_api", "")]
    return open_stream(service, paths, EVENT_STREAM, silence=HEARTBEAT_SILENCE_S)


class GradioBackend(Backend[GradioConnection]):
    """Any Gradio 4/5/6 app, found by its ``/config`` (``protocol``, ``version``, ``api_prefix``)."""

    kind = "gradio"
    display_name = "Gradio app"
    default_url = ""
    default_ports = (7863, 7864, 7865, 7866, 7867, 7868)  # 7860–7862 are Wan2GP's to scan; a plain Gradio app there is still named by this probe
    probe_priority = 0
    start_hint = START_HINT
    pool_max = 4
    pool_min = 1

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        found = probe_config(url, timeout)
        if found is None:
            return None
        config, latency = found
        details = {
            "title": config.get("title", ""),
            "protocol": config.get("protocol", ""),
            "api_prefix": config.get("api_prefix", ""),
            "components": len(config.get("components", ())),
            "events": len(config.get("dependencies", ())),
        }
        return ProbeResult(kind=self.kind, url=url.rstrip("/"), version=str(config.get("version", "")), latency_ms=latency, details=details, transport="gradio")

    def connect(self, service: ServiceConfig) -> GradioConnection:
        return GradioConnection(service)

    def watch(self, service: ServiceConfig) -> HttpStreamWatch | None:
        return open_heartbeat(service)

    def health(self, connection: GradioConnection) -> HealthSample:
        started = time.perf_counter()
        try:
            latency, metrics, version = connection.transport.health()
        except MovieDirectorError as error:
            return HealthSample(ok=False, latency_ms=(time.perf_counter() - started) * 1000, error=error.to_dict())
        return HealthSample(ok=True, latency_ms=latency, metrics=metrics, version=version)

    def capabilities(self, connection: GradioConnection) -> list[Capability]:
        app = connection.transport.app(check=False)
        return [
            Capability("gradio.endpoint", id=endpoint.api_name, details=endpoint.to_dict())
            for endpoint in app.endpoints.values()
            if endpoint.documented
        ]
