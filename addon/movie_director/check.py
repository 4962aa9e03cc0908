"""One-shot check of a URL or configured service: reachable? which kind? healthy? what can it do?

Shared by ``movie-director check``, ``doctor`` and the add-on's Test button, so the
artist gets the same answer everywhere.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from movie_director.backend import Backend, Capability, HealthSample, ProbeResult
from movie_director.config import load_config
from movie_director.configdata import SERVICE_DEFAULTS, Config, ServiceConfig, auth_by_kind, is_loopback_host, member_configs, with_overrides
from movie_director.errors import MovieDirectorError, NotAllowedOffline, Timeout, WrongService, map_exception, says_nothing_about_kind
from movie_director.http import probe_timeout_within
from movie_director.plugins import PluginManager, get_plugin_manager

log = logging.getLogger(__name__)
#: The part of a request's whole bound that connecting may use (the rest is for the answer).
CONNECT_SHARE = 0.25


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

    @property
    def status(self) -> str:
        """The word ``status`` and ``services`` use: online, degraded (answers, unhealthy) or offline."""
        if not self.ok:
            return "offline"
        return "online" if self.health is None or self.health.ok else "degraded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "kind": self.kind,
            "version": self.probe.version if self.probe else "",
            "transport": self.probe.transport if self.probe else "",
            "probe": self.probe.to_dict() if self.probe else None,
            "latency_ms": round(self.health.latency_ms, 1) if self.health else None,
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
    """Check ``target`` (a URL or a configured service name) within ``timeout`` seconds in all.

    The probes share one budget, so a silent or dripping server costs ``timeout`` and is
    reported as a ``timeout``, not as another program. Once a kind has answered its probe,
    health and capabilities use the service's own timeouts.
    """
    manager = manager or get_plugin_manager()
    started = time.perf_counter()
    budget = Budget(timeout)
    service = service_for(target, kind, config=config, manager=manager)
    report = CheckReport(target, service.url, kind=kind or None)
    label = _label(manager, kind or service.kind or None, service.url)
    try:
        if not allow_remote and not service.is_loopback:
            raise NotAllowedOffline(service=label)
        _reachable(service, min(timeout, service.connect_timeout), label, manager, kind)
        report.probe = _probe(service.url, kind, budget, manager, label)
        if report.probe is None:
            raise _wrong_service(service.url, kind, label, budget, manager)
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
    config = config or load_config()
    service = config.services.get(target) or _member(config, target) or _discovered(config, target, manager)
    if service is None:
        service = config.service(target)  # raises, listing the configured names
    return with_overrides(service, **overrides) if overrides else service


def _member(config: Config, name: str) -> ServiceConfig | None:
    """One server of a service with several, by the name ``status`` and ``services`` give it (``comfyui#2``)."""
    return next((member for service in config.services.values() for member in member_configs(service) if member.name == name), None)


def _discovered(config: Config, name: str, manager: PluginManager | None) -> ServiceConfig | None:
    """An instance ``discover`` registered under ``name`` (as ``services`` lists it), with its kind's credentials."""
    from movie_director.registry import open_registry

    try:
        instance = open_registry(config).get(name)
    except MovieDirectorError:
        return None  # an unreadable registry: the configured names are what is left
    if instance is None:
        return None
    auth = auth_by_kind(config.services.values()).get(instance.kind)
    return replace(adhoc_service(instance.url, instance.kind, manager, auth=auth), name=name)


def identify(url: str, timeout: float, manager: PluginManager | None = None) -> ProbeResult | None:
    """Which known kind answers at ``url`` (the most specific first), or None; to name what a wrong address is."""
    manager = manager or get_plugin_manager()
    try:
        return _probe(url, None, Budget(timeout), manager, _label(manager, None, url))
    except MovieDirectorError:
        return None


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


def _wrong_service(url: str, kind: str | None, label: str, budget: Budget, manager: PluginManager) -> WrongService:
    if not kind:
        return WrongService(f"Something answers at {url}, but it is not a service the add-on knows.", service=label)
    try:
        other = _probe(url, None, budget, manager, label)
    except MovieDirectorError:
        other = None  # naming the other program is a courtesy: the answer stays "not {label}"
    found = f"it is {_label(manager, other.kind)}" if other else "it is something else"
    return WrongService(f"Something answers at {url}, but {found}, not {label}.", service=label, details={"found": other.kind if other else None})


def _probe(url: str, kind: str | None, budget: Budget, manager: PluginManager, label: str) -> ProbeResult | None:
    """The first kind that recognises ``url``; a server that lets a probe time out is ``timeout``, never "another program"."""
    backends: list[Backend[Any]] = [manager.backend(kind)] if kind else manager.backends_by_specificity()
    for backend in backends:
        left = budget.left(label)
        try:
            # Without a kind, several probes share the budget: each request must end within what is left.
            result = backend.probe(url, left if kind else probe_timeout_within(left))
        except Exception as exc:  # noqa: BLE001 - one broken probe must not stop the others
            error = exc if isinstance(exc, MovieDirectorError) else map_exception(exc, service=label)
            if isinstance(error, Timeout) and not kind:
                raise Timeout(f"Something accepts connections at {url} but did not answer within {budget.seconds:.1f} s.", service=label, cause=exc) from exc
            if isinstance(error, Timeout) or (kind and says_nothing_about_kind(error)):
                # unreachable, too slow, busy or broken: say so, not "another program"
                if error is exc:
                    raise
                raise error from exc
            log.debug("probe of %s by %s failed: %r", url, backend.kind, exc)
            result = None
        if result is not None:
            return result
    return None


class Budget:
    """The seconds one command may still wait; every step asks what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self, label: str) -> float:
        """What is left, or a Timeout naming ``label`` when nothing is."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(f"{label} did not answer within {self.seconds:.1f} s.", service=label, details={"timeout_s": round(self.seconds, 1)})
        return remaining


def bounded(service: ServiceConfig, timeout: float | None) -> ServiceConfig:
    """``service`` whose requests end within ``timeout`` seconds, retries included.

    A retry is kept only while all attempts still fit, so a silent or rate-limiting
    server costs the caller at most ``timeout``.
    """
    if timeout is None:
        return service
    per_request = min(service.timeout + service.connect_timeout, timeout)  # a request's whole bound is connect + read
    connect = min(service.connect_timeout, per_request * CONNECT_SHARE)
    retries = min(service.retries, max(0, int(timeout // per_request) - 1))
    return with_overrides(service, timeout=per_request - connect, connect_timeout=connect, retries=retries)


__all__ = ["Budget", "CheckReport", "adhoc_service", "bounded", "identify", "check_service", "is_loopback_host", "service_for"]
