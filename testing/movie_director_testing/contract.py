"""What the contract suite runs against: a real server (``MOVIE_DIRECTOR_REAL_*``) or our stand-in.

A :class:`Target` is all a scenario may know of its server: its URL, what its probe said
(name, version), and how to crash and restart it. Scenarios never ask which one it is,
so one scenario set runs unchanged against both.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import threading
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import pytest

from movie_director.backend import ProbeResult
from movie_director.check import adhoc_service
from movie_director.plugins import get_plugin_manager
from movie_director_testing import compatibility
from movie_director_testing.processes import ServerProcess, port_accepts, wait_until

#: Where the real ComfyUI's restart command is named (SIGKILL, then start it again on its port).
COMFYUI_RESTART_ENV = "MOVIE_DIRECTOR_REAL_COMFYUI_RESTART"
#: Wan2GP web UI's working directory, where it saves a failed queue as ``error_queue.zip``.
WAN2GP_UI_DIR_ENV = "MOVIE_DIRECTOR_REAL_WAN2GP_UI_DIR"
#: The real servers' start-up: restart scenarios wait this long for them to answer again.
REAL_RESTART_TIMEOUT = 180.0


@dataclass(frozen=True)
class Kind:
    """One kind of target: the variable naming a real one, the stand-in's fixture, the backend that probes it."""

    env: str
    fixture: str
    backend: str
    label: str
    #: The probe cannot see the version but a health check reads it (LiteLLM's response headers).
    version_from_health: bool = False


KINDS = {
    "comfyui": Kind("MOVIE_DIRECTOR_REAL_COMFYUI", "comfyui_server", "comfyui", "ComfyUI"),
    "wan2gp_ui": Kind("MOVIE_DIRECTOR_REAL_WAN2GP_UI", "wan2gp_webui_server", "wan2gp", "Wan2GP web UI"),
    # the stand-in as costly as the real one: its catalogue must not slow naming it
    "wan2gp_mcp": Kind("MOVIE_DIRECTOR_REAL_WAN2GP_MCP", "wan2gp_mcp_realistic_server", "wan2gp", "Wan2GP MCP server"),
    "litellm": Kind("MOVIE_DIRECTOR_REAL_LITELLM", "litellm_server", "litellm", "LiteLLM proxy", version_from_health=True),
    "gradio": Kind("MOVIE_DIRECTOR_REAL_GRADIO", "gradio_server", "gradio", "Gradio app"),
}


@dataclass
class Target:
    """One server the scenarios run against, and what the suite may do to it."""

    kind: str
    url: str
    real: bool
    probe: ProbeResult
    process: ServerProcess | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def server(self) -> str:
        return KINDS[self.kind].label

    @property
    def version(self) -> str:
        """The server's version as it reports it; else what it does say (its Gradio, its MCP library)."""
        if self.probe.version:
            return self.probe.version
        details = self.probe.details
        info = details.get("server") or {}
        said = (
            f"Gradio {details['gradio_version']}" if details.get("gradio_version") else " ".join(str(info.get(key, "")) for key in ("name", "version")).strip()
        )
        return f"unreported ({said})" if said else "unreported"

    @property
    def label(self) -> str:
        return compatibility.REAL if self.real else compatibility.STAND_IN

    def restarter(self) -> Restart:
        """How to crash and restart this server, or skip the scenario when the suite may not."""
        if self.process is not None:
            return StandInRestart(self.process)
        command = os.environ.get(COMFYUI_RESTART_ENV) if self.kind == "comfyui" else None
        if not command:
            pytest.skip(f"restarting a real server needs {COMFYUI_RESTART_ENV}: a command that SIGKILLs it and starts it again")
        return CommandRestart(self.host, self.port, command)


class Restart(Protocol):
    """Two steps, so a scenario can act while the server is down: :meth:`down`, then :meth:`up`."""

    def down(self) -> None: ...

    def up(self) -> None: ...


class StandInRestart:
    """Our stand-in: SIGKILL its process group, then start it again on the same port."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process

    def down(self) -> None:
        self.process.kill()

    def up(self) -> None:
        self.process.start()


class CommandRestart:
    """Runs the user's restart command in the background; down once the port stops answering."""

    def __init__(self, host: str, port: int, command: str) -> None:
        self.host, self.port = host, port
        self.command = command
        self.done: subprocess.CompletedProcess[str] | None = None
        self.thread = threading.Thread(target=self._run, name="contract-restart", daemon=True)

    def _run(self) -> None:
        self.done = subprocess.run(shlex.split(self.command), capture_output=True, text=True, timeout=REAL_RESTART_TIMEOUT, check=False)

    def down(self) -> None:
        self.thread.start()
        wait_until(lambda: not port_accepts(self.host, self.port), 30, interval=0.02, message=f"port {self.port} closed by the restart command")

    def up(self) -> None:
        self.thread.join(REAL_RESTART_TIMEOUT)
        assert self.done is not None and self.done.returncode == 0, f"{self.command} failed: {self.done}"
        wait_until(lambda: port_accepts(self.host, self.port), REAL_RESTART_TIMEOUT, interval=0.1, message=f"port {self.port} open again")


def probe_target(kind: str, url: str, process: ServerProcess | None) -> Target:
    """Probe ``url`` as ``kind``; the target keeps what the probe said (name, version).

    LiteLLM's probe answer carries no version: a health check reads it from headers.
    """
    spec = KINDS[kind]
    backend = get_plugin_manager().backends[spec.backend]
    probe = backend.probe(url, 10.0)
    assert probe is not None, f"{url} is not a {spec.label}"
    if not probe.version and spec.version_from_health:
        connection = backend.connect(adhoc_service(probe.url or url, spec.backend, transport=probe.transport or "auto"))
        try:
            probe = dataclasses.replace(probe, version=backend.health(connection).version)
        finally:
            connection.close()
    return Target(kind, probe.url or url, real=process is None, probe=probe, process=process)


def real_url(kind: str) -> str:
    """The real server's URL for ``kind`` from its variable, or "" for the stand-in."""
    return os.environ.get(KINDS[kind].env, "").strip().rstrip("/")


__all__ = ["COMFYUI_RESTART_ENV", "KINDS", "WAN2GP_UI_DIR_ENV", "Restart", "Target", "probe_target", "real_url"]
