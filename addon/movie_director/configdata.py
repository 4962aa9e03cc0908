"""The resolved configuration as data: services, where each value came from, the built-in presets.

Nothing here reads a file or the layers (that is :mod:`movie_director.config`, and the
file on disk :mod:`movie_director.configfile`), so the HTTP layer, backends and plugins
can take a :class:`ServiceConfig` without pulling in the loader and the plugin manager.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from movie_director.errors import InvalidConfigError
from movie_director.redact import register_secret

ENV_PREFIX = "MOVIE_DIRECTOR_"
CONFIG_ENV = "MOVIE_DIRECTOR_CONFIG"
PROFILE_ENV = "MOVIE_DIRECTOR_PROFILE"

LAYER_DEFAULT = "default"
LAYER_UI = "ui"
LAYER_FILE = "file"
LAYER_ENV = "env"

SERVICE_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "timeout": 30.0,
    "connect_timeout": 5.0,
    "retries": 3,
    "backoff": 0.5,
    "health_interval": 60.0,
    "transport": "auto",
    "verify_tls": True,
    "priority": 0,
    "tags": [],
}

#: Built-in profiles: what each preset changes on top of the per-kind defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "Local": {"description": "Backends on this computer (127.0.0.1), default ports.", "all": {}},
    "Remote": {
        "description": "Backends on a studio server: longer timeouts, more retries.",
        "all": {"timeout": 120.0, "connect_timeout": 10.0, "retries": 5, "reconnect_max_delay": 60.0},
    },
    "Development": {
        "description": "Quick feedback while building pipelines: short timeouts, frequent checks.",
        "all": {"timeout": 10.0, "connect_timeout": 2.0, "retries": 1, "health_interval": 10.0},
    },
    "Production": {
        "description": "Render farms and long jobs: patient timeouts, many retries.",
        "all": {"timeout": 300.0, "connect_timeout": 10.0, "retries": 10, "health_interval": 30.0},
    },
}
DEFAULT_PROFILE = "Local"


@dataclass(frozen=True)
class Source:
    """Where a value came from: the layer and the file, variable or default that set it."""

    layer: str
    location: str = ""

    def __str__(self) -> str:
        return f"{self.layer} ({self.location})" if self.location else self.layer


@dataclass(frozen=True)
class AuthRef:
    """A reference to a secret held in an environment variable, never the secret itself."""

    env: str
    type: str = "bearer"
    header: str = ""

    def headers(self) -> dict[str, str]:
        """The HTTP headers to send; empty when the variable is unset."""
        secret = os.environ.get(self.env, "")
        if not secret:
            return {}
        register_secret(secret)
        if self.type == "basic":
            import base64

            return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}
        if self.type == "header":
            return {self.header or "x-api-key": secret}
        return {"Authorization": f"Bearer {secret}"}

    @property
    def is_set(self) -> bool:
        return bool(os.environ.get(self.env))


@dataclass(frozen=True)
class InstanceConfig:
    """One server of a service (a studio runs several ComfyUI boxes as one ``comfyui``)."""

    url: str
    #: Relative capacity: 2.0 takes twice the share of work of 1.0 at equal load.
    weight: float = 1.0
    #: This server's own secret, when it differs from the service's.
    auth: AuthRef | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "weight": self.weight, "auth": {"type": self.auth.type, "env": self.auth.env, "is_set": self.auth.is_set} if self.auth else None}


@dataclass(frozen=True)
class ServiceConfig:
    """One resolved service entry. ``sources`` maps each field to where it came from.

    ``url`` is the first of ``instances``; a service configured with a single ``url`` has
    exactly that one instance. Replacing ``url`` (a ``--url`` on the command line) makes
    the service that one server again.
    """

    name: str
    kind: str
    url: str
    enabled: bool = True
    timeout: float = 30.0
    connect_timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    health_interval: float = 60.0
    reconnect_max_delay: float | None = None
    auth: AuthRef | None = None
    tags: tuple[str, ...] = ()
    priority: int = 0
    transport: str = "auto"
    ca_bundle: str | None = None
    verify_tls: bool = True
    proxy: str | None = None
    pool_max: int | None = None
    pool_min: int | None = None
    models: tuple[str, ...] = ()
    instances: tuple[InstanceConfig, ...] = ()
    sources: Mapping[str, Source] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.instances or self.instances[0].url != self.url:
            object.__setattr__(self, "instances", (InstanceConfig(self.url),))

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme in ("https", "wss") else 80)

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, read) as requests takes them."""
        return (self.connect_timeout, self.timeout)

    @property
    def backoff_cap(self) -> float:
        """Reconnect delay cap: short on this machine, a minute elsewhere."""
        if self.reconnect_max_delay is not None:
            return self.reconnect_max_delay
        return 5.0 if self.is_loopback else 60.0

    def source_of(self, key: str) -> Source:
        return self.sources.get(key, Source(LAYER_DEFAULT))

    def to_dict(self, with_sources: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "enabled": self.enabled,
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "retries": self.retries,
            "backoff": self.backoff,
            "health_interval": self.health_interval,
            "reconnect_max_delay": self.backoff_cap,
            "auth": {"type": self.auth.type, "env": self.auth.env, "is_set": self.auth.is_set} if self.auth else None,
            "tags": list(self.tags),
            "priority": self.priority,
            "transport": self.transport,
            "ca_bundle": self.ca_bundle,
            "verify_tls": self.verify_tls,
            "proxy": self.proxy,
            "pool_max": self.pool_max,
            "pool_min": self.pool_min,
            "models": list(self.models),
            "instances": [instance.to_dict() for instance in self.instances],
        }
        if with_sources:
            data["sources"] = {key: str(self.source_of(key)) for key in data if key != "name"}
        return data


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost`` (which must never go through a proxy)."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Config:
    """The whole resolved configuration."""

    services: Mapping[str, ServiceConfig]
    active_profile: str
    profiles: tuple[str, ...]
    file: Path | None
    data_dir: Path
    profile_source: Source = Source(LAYER_DEFAULT)

    def service(self, name: str) -> ServiceConfig:
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services)) or "none"
            raise InvalidConfigError(f"There is no service named {name!r} (configured: {known}).") from None

    def enabled_services(self) -> list[ServiceConfig]:
        return [service for service in self.services.values() if service.enabled]

    def to_dict(self, with_sources: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "active_profile": self.active_profile,
            "profiles": list(self.profiles),
            "file": str(self.file) if self.file else None,
            "data_dir": str(self.data_dir),
            "services": {name: service.to_dict(with_sources) for name, service in self.services.items()},
        }
        if with_sources:
            data["active_profile_source"] = str(self.profile_source)
        return data


def compose_url(url: str, scheme: str | None = None, host: str | None = None, port: int | None = None) -> str:
    """``url`` with the given parts replaced; raises ValueError naming the bad part."""
    parts = urlsplit(url or "http://127.0.0.1")
    try:
        current_port = parts.port
    except ValueError:
        raise ValueError(f"port of {url!r} must be a number from 1 to 65535") from None
    new_scheme = (scheme or parts.scheme or "http").lower()
    if new_scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"url scheme {new_scheme!r} is not http, https, ws or wss")
    new_host = (host or parts.hostname or "").strip("[]")
    if not new_host:
        raise ValueError(f"url {url!r} has no host")
    new_port = port if port is not None else current_port
    if new_port is not None and not 1 <= int(new_port) <= 65535:
        raise ValueError(f"port {new_port} must be from 1 to 65535")
    netloc = f"[{new_host}]" if ":" in new_host else new_host
    if new_port is not None:
        netloc += f":{new_port}"
    return urlunsplit((new_scheme, netloc, parts.path.rstrip("/") if parts.path != "/" else "", parts.query, ""))


def with_overrides(service: ServiceConfig, **changes: Any) -> ServiceConfig:
    """A copy of ``service`` with ``changes`` applied (e.g. a CLI ``--url``), marked as from the command line."""
    sources = dict(service.sources)
    for key in changes:
        sources[key] = Source("cli", "command line")
    return replace(service, **changes, sources=sources)


def auth_by_kind(services: Iterable[ServiceConfig]) -> dict[str, AuthRef]:
    """The credentials reference of the first configured service of each kind.

    A found LiteLLM proxy on another port most likely takes the key already set up for
    the configured one; the reference names an environment variable, never the secret.
    """
    found: dict[str, AuthRef] = {}
    for service in services:
        if service.auth is not None:
            found.setdefault(service.kind, service.auth)
    return found


def member_configs(service: ServiceConfig) -> list[ServiceConfig]:
    """One service entry per server, named ``comfyui#1``, ``comfyui#2``…; the service itself when it has one.

    The manager runs one member per server and the registry lists them under the same
    names, so ``status``, ``services`` and ``check comfyui#2`` speak of the same thing.
    """
    if len(service.instances) == 1:
        return [service]
    return [
        replace(service, name=f"{service.name}#{number}", url=instance.url, auth=instance.auth or service.auth, instances=(instance,))
        for number, instance in enumerate(service.instances, 1)
    ]


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PROFILE",
    "ENV_PREFIX",
    "LAYER_DEFAULT",
    "LAYER_ENV",
    "LAYER_FILE",
    "LAYER_UI",
    "PRESETS",
    "PROFILE_ENV",
    "SERVICE_DEFAULTS",
    "AuthRef",
    "Config",
    "InstanceConfig",
    "ServiceConfig",
    "Source",
    "auth_by_kind",
    "compose_url",
    "is_loopback_host",
    "member_configs",
    "with_overrides",
]
