"""``movie-director doctor``: every check an artist's "cannot connect" needs, each with a fix.

The same report backs the add-on's "Run diagnostics" button (run on a worker thread).
Checks are bounded by their timeouts and run services in parallel, so the whole report
stays within a few seconds when everything is local.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from movie_director import __version__
from movie_director.check import bounded, check_service
from movie_director.config import default_data_dir, load_config
from movie_director.configdata import Config, ServiceConfig
from movie_director.errors import InvalidConfigError, MovieDirectorError
from movie_director.logs import LOG_FILE, last_lines
from movie_director.plugins import PluginManager, get_plugin_manager

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
#: The kind whose workflow files ``--workflow`` names.
WORKFLOW_KIND = "comfyui"
LOG_LINES_SHOWN = 20
PACKAGES = ("requests", "urllib3", "websocket-client", "gradio_client", "pluggy", "jsonschema", "PyYAML")


class Mark(str, Enum):
    OK = "✓"
    WARN = "⚠"
    FAIL = "✗"


@dataclass
class Finding:
    """One line of the report; ``required`` failures make the exit code 1."""

    name: str
    mark: Mark
    detail: str
    fix: str = ""
    required: bool = True
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.mark.name.lower(), "mark": self.mark.value, "detail": self.detail, "fix": self.fix, "required": self.required, **({"data": self.data} if self.data else {})}


@dataclass
class Report:
    findings: list[Finding]
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return not any(f.mark is Mark.FAIL and f.required for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "elapsed_s": round(self.elapsed_s, 2), "checks": [f.to_dict() for f in self.findings]}


def run(
    timeout: float = 3.0,
    online_access: bool | None = None,
    workflow: str | Path | None = None,
    manager: PluginManager | None = None,
    ui: Mapping[str, Any] | None = None,
) -> Report:
    """Run every check.

    From the add-on, ``online_access`` is Blender's setting and ``ui`` the .blend/UI
    layer, so the services checked are the ones set in Preferences.
    """
    started = time.perf_counter()
    manager = manager or get_plugin_manager()
    findings = [_python(), _packages(), _plugins(manager)]
    config: Config | None = None
    try:
        config = loaded = load_config(ui=ui, kinds=manager.backends)
        findings.append(_config_ok(loaded))
    except InvalidConfigError as error:
        config = None
        findings.append(Finding("config", Mark.FAIL, error.message, "Run `movie-director config validate FILE` and fix the values listed.", data=error.to_dict()))
    findings.append(_proxies())
    if online_access is not None:
        findings.append(
            Finding("online access", Mark.OK if online_access else Mark.WARN, "allowed" if online_access else "off: only services on this computer are checked", "" if online_access else "Edit → Preferences → System → Network → Allow Online Access", required=False)
        )
    if config is not None:
        findings.append(_data_dir(config.data_dir))
        graph = None
        if workflow is not None:
            finding, graph = _workflow(workflow, manager)
            findings.append(finding)
        services = config.enabled_services()
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(services))), thread_name_prefix="md-doctor") as pool:
            for result in pool.map(lambda s: _service(s, timeout, online_access, manager, graph), services):
                findings.extend(result)
    findings.append(_log())
    return Report(findings, time.perf_counter() - started)


def _python() -> Finding:
    ok = sys.version_info >= (3, 11)
    return Finding("python", Mark.OK if ok else Mark.FAIL, f"Python {platform.python_version()} on {platform.system()}", "" if ok else "Use Python 3.11 or newer (Blender 4.2+ ships it).")


def _packages() -> Finding:
    versions = {}
    missing = []
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    detail = f"movie-director-connect {__version__}; " + ", ".join(f"{k} {v}" for k, v in versions.items())
    if missing:
        return Finding("packages", Mark.FAIL, detail + f"; missing: {', '.join(missing)}", f"pip install {' '.join(missing)}", data=versions)
    return Finding("packages", Mark.OK, detail, data=versions)


def _plugins(manager: PluginManager) -> Finding:
    broken = {name: info.error for name, info in manager.plugins.items() if info.error}
    kinds = ", ".join(sorted(manager.backends)) or "none"
    if broken:
        return Finding("plugins", Mark.WARN, f"backends: {kinds}; failed: {', '.join(broken)}", "Run `movie-director plugins` for the errors; reinstall or remove the failing pack.", required=False, data=broken)
    return Finding("plugins", Mark.OK, f"backends: {kinds}")


def _config_ok(config: Config) -> Finding:
    overridden = sorted(
        f"{service.name}.{key} ← {source}"
        for service in config.services.values()
        for key, source in service.sources.items()
        if source.layer in ("env", "file", "ui", "cli")
    )
    detail = f"profile {config.active_profile} ({config.profile_source}); file: {config.file or 'none'}"
    return Finding("config", Mark.OK, detail + (f"; set outside defaults: {len(overridden)} values" if overridden else "; all defaults"), data={"overrides": overridden})


def _proxies() -> Finding:
    present = {name: os.environ[name] for name in PROXY_VARIABLES if os.environ.get(name)}
    if not present:
        return Finding("proxy", Mark.OK, "no proxy variables set", required=False)
    from movie_director.redact import redact

    shown = ", ".join(f"{k}={redact(v)}" for k, v in present.items())
    return Finding("proxy", Mark.OK, f"{shown}; loopback services (127.0.0.1, ::1, localhost) bypass the proxy", required=False, data={"bypassed_for_loopback": True})


def _data_dir(path: Path) -> Finding:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True):
            pass
    except OSError as exc:
        return Finding("data dir", Mark.FAIL, f"{path} is not writable: {exc.strerror or exc}", "Set `data_dir` in the config file or MOVIE_DIRECTOR_DATA_DIR to a writable folder.")
    return Finding("data dir", Mark.OK, f"{path} is writable (queue and health history database)")


def _workflow(source: str | Path, manager: PluginManager) -> tuple[Finding, Any]:
    """Load the workflow exactly as ``comfyui run`` does (same refusals), before any service is asked."""
    backend = manager.backends.get(WORKFLOW_KIND)
    if backend is None:
        return Finding("workflow", Mark.FAIL, f"no {WORKFLOW_KIND} plugin is installed to read {source}", "Run `movie-director plugins`."), None
    try:
        graph = backend.load_workflow(source)
    except MovieDirectorError as error:
        return Finding("workflow", Mark.FAIL, f"{error.message} [{error.code}]", error.hints[0] if error.hints else "", data=error.to_dict()), None
    return Finding("workflow", Mark.OK, f"{source}: {len(graph)} node(s) in API format"), graph


def _log() -> Finding:
    """The last lines of our log (retries, lost connections) for whoever reads the report."""
    folder = default_data_dir(os.environ)
    tail = last_lines(folder, LOG_LINES_SHOWN)  # written through the redacting filter
    detail = f"{folder / LOG_FILE}, last {len(tail)} lines below" if tail else f"{folder / LOG_FILE} (nothing logged yet)"
    return Finding("log", Mark.OK, detail, required=False, data={"path": str(folder / LOG_FILE), "last_lines": tail})



def _service(service: ServiceConfig, timeout: float, online_access: bool | None, manager: PluginManager, graph: Any) -> list[Finding]:
    name = f"{service.name} ({service.url})"
    findings = []
    host = urlsplit(service.url).hostname or ""
    if not service.is_loopback:
        try:
            socket.getaddrinfo(host, None)
            findings.append(Finding(f"{service.name} dns", Mark.OK, f"{host} resolves"))
        except OSError:
            findings.append(Finding(f"{service.name} dns", Mark.FAIL, f"{host} does not resolve", "Check the host name, or use its IP address."))
            return findings
    report = check_service(service.url, kind=service.kind, timeout=timeout, manager=manager, allow_remote=online_access is not False)
    if report.error is not None:
        findings.append(_error_finding(name, report.error, service))
        return findings
    health = report.health
    latency = f"{health.latency_ms:.0f} ms" if health else "?"
    findings.append(Finding(name, Mark.OK, f"{report.kind} {report.probe.version if report.probe else ''} answers in {latency}; {len(report.capabilities)} capabilities"))
    if service.auth is not None and not service.auth.is_set:
        findings.append(Finding(f"{service.name} auth", Mark.WARN, f"the variable {service.auth.env} is not set", f"Set {service.auth.env} in the environment Blender or the CLI starts from.", required=False))
    available = {capability.id for capability in report.capabilities}
    missing = sorted(set(service.models) - available)
    if missing:
        findings.append(Finding(f"{service.name} capabilities", Mark.FAIL, f"missing: {', '.join(missing)}", "Install the missing models or custom nodes on the service, or change the settings that ask for them."))
    if graph is not None and service.kind == WORKFLOW_KIND:
        findings.append(_workflow_on(service, graph, timeout, manager))
    return findings


def _workflow_on(service: ServiceConfig, graph: Any, timeout: float, manager: PluginManager) -> Finding:
    """The server's own verdict on the workflow (nodes installed, inputs connected), as ``comfyui run`` checks it."""
    backend = manager.backend(service.kind)
    connection = backend.connect(bounded(service, timeout))
    try:
        backend.check_workflow(connection, graph)
    except MovieDirectorError as error:
        return Finding(f"{service.name} workflow", Mark.FAIL, f"{error.message} [{error.code}]", error.hints[0] if error.hints else "", data=error.to_dict())
    finally:
        connection.close()
    return Finding(f"{service.name} workflow", Mark.OK, "every node of the workflow is installed and its inputs are set")


def _error_finding(name: str, error: MovieDirectorError, service: ServiceConfig) -> Finding:
    fix = error.hints[0] if error.hints else ""
    if error.code == "connection_refused":
        fix = f"Nothing listens on port {service.port}. " + fix
    return Finding(name, Mark.FAIL, f"{error.message} [{error.code}]", fix, data=error.to_dict())


def print_report(report: Report, stream: Any = None) -> None:
    stream = stream or sys.stdout
    for finding in report.findings:
        print(f"{finding.mark.value} {finding.name}: {finding.detail}", file=stream)
        if finding.fix and finding.mark is not Mark.OK:
            print(f"    fix: {finding.fix}", file=stream)
        for line in finding.data.get("last_lines", ()):
            print(f"    | {line}", file=stream)
    verdict = "all required checks pass" if report.ok else "some required checks failed"
    print(f"\n{verdict} ({report.elapsed_s:.1f} s). Codes are explained in docs/troubleshooting.md.", file=stream)

