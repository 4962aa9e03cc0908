"""One-shot check of a URL or configured service: reachable? which kind? healthy? what can it do?

Shared by ``movie-director check``, ``doctor`` and the add-on's Test button, so the
artist gets the same answer everywhere.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from movie_director.backend import Backend, Capability, HealthSample, ProbeResult
from movie_director.config import SERVICE_DEFAULTS, Config, ServiceConfig, is_loopback_host, load_config, with_overrides
from movie_director.errors import MovieDirectorError, NotAllowedOffline, WrongService, map_exception, says_nothing_about_kind
from movie_director.plugins import PluginManager, get_plugin_manager

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """What one check found; ``ok`` means reachable and of the wanted kind."""

    target: str
    url: str
    kind: str | None = None
    probe: ProbeResult | None = None
    health: HealthSample | None = None
    capabilities: list[Capability] = field(default_factory=list)
    error: MovieDirectorError | None = None
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.probe is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "url": self.url,
            "ok": self.ok,
            "kind": self.kind,
            "version": self.probe.version if self.probe else "",
            "transport": self.probe.transport if self.probe else "",
            "probe": self.probe.to_dict() if self.probe else None,
            "health": self.health.to_dict() if self.health else None,
            "capabilities": [capability.to_dict() for capability in self.capabilities],
            "error": self.error.to_dict() if self.error else None,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def adhoc_service(url: str, kind: str, manager: PluginManager | None = None, **overrides: Any) -> ServiceConfig:
    """A service entry for a bare URL (CLI ``--url``, discovery results) with the kind's defaults."""
    manager = manager or get_plugin_manager()
    backend = manager.backends.get(kind)
    settings = {**SERVICE_DEFAULTS, "health_interval": getattr(backend, "health_interval", 60.0), **overrides}
    settings["tags"] = tuple(settings.get("tags", ()))
    return ServiceConfig(name=kind, kind=kind, url=url.rstrip("/"), **settings)


def check_service(
    target: str,
    kind: str | None = None,
    timeout: float = 5.0,
    config: Config | None = None,
    manager: PluginManager | None = None,
    allow_remote: bool = True,
) -> CheckReport:
    """Check ``target`` (a URL or a configured service name) within about ``timeout`` seconds."""
    manager = manager or get_plugin_manager()
    started = time.perf_counter()
    service = service_for(target, kind, config=config, manager=manager)
    report = CheckReport(target, service.url, kind=kind or None)
    label = _label(manager, kind or service.kind or None, service.url)
    try:
        if not allow_remote and not service.is_loopback:
            raise NotAllowedOffline(service=label)
        _reachable(service, min(timeout, service.connect_timeout), label, manager, kind)
        report.probe = _probe(service.url, kind, timeout, manager)
        if report.probe is None:
            raise _wrong_service(service.url, kind, label, timeout, manager)
        report.kind = report.probe.kind
        backend = manager.backend(report.probe.kind)
        effective = service if service.kind == report.probe.kind else adhoc_service(report.probe.url, report.probe.kind, manager)
        connection = backend.connect(effective)
        try:
            report.health = backend.health(connection)
            report.capabilities = backend.capabilities(connection)
        finally:
            connection.close()
    except MovieDirectorError as error:
        report.error = error
    except Exception as exc:  # noqa: BLE001 - plugin code may raise anything; the artist still gets a typed error
        report.error = map_exception(exc, service=label)
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report


def service_for(
    target: str,
    kind: str | None = None,
    *,
    config: Config | None = None,
    manager: PluginManager | None = None,
    **overrides: Any,
) -> ServiceConfig:
    """What a command's target names: a URL → an ad-hoc service of ``kind``; anything else → the configured service of that name.

    ``overrides`` (e.g. a CLI ``--transport``) apply either way.
    """
    if "://" in target:
        return adhoc_service(target, kind or "", manager, **overrides)
    service = (config or load_config()).service(target)
    return with_overrides(service, **overrides) if overrides else service


def _label(manager: PluginManager, kind: str | None, url: str = "") -> str:
    backend = manager.backends.get(kind or "")
    if backend is not None:
        return backend.display_name or backend.kind
    return kind or (f"the service at {url}" if url else "the service")


def _reachable(service: ServiceConfig, timeout: float, label: str, manager: PluginManager, kind: str | None) -> None:
    """The backend's own quick reachability test (a TCP connect unless it says otherwise)."""
    backend = manager.backends.get(kind or "") or Backend()
    try:
        backend.reachable(service, timeout)
    except OSError as exc:
        raise map_exception(exc, service=label, start_hint=backend.start_hint or None) from exc


def _wrong_service(url: str, kind: str | None, label: str, timeout: float, manager: PluginManager) -> WrongService:
    if not kind:
        return WrongService(f"Something answers at {url}, but it is not a service the add-on knows.", service=label)
    other = _probe(url, None, timeout, manager)
    found = f"it is {_label(manager, other.kind)}" if other else "it is something else"
    return WrongService(f"Something answers at {url}, but {found}, not {label}.", service=label, details={"found": other.kind if other else None})


def _probe(url: str, kind: str | None, timeout: float, manager: PluginManager) -> ProbeResult | None:
    backends: list[Backend] = [manager.backend(kind)] if kind else manager.backends_by_specificity()
    for backend in backends:
        try:
            result = backend.probe(url, timeout)
        except Exception as exc:  # noqa: BLE001 - one broken probe must not stop the others
            if kind and isinstance(exc, MovieDirectorError) and says_nothing_about_kind(exc):
                raise  # the kind asked for is unreachable, slow, busy or broken: say so, not "another program"
            log.debug("probe of %s by %s failed: %r", url, backend.kind, exc)
            result = None
        if result is not None:
            return result
    return None


__all__ = ["CheckReport", "adhoc_service", "check_service", "is_loopback_host", "service_for"]
