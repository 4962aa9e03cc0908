"""The add-on's service settings as plain values: validation, presets, JSON, migrations.

Pure Python (no ``bpy``). The preferences and the ``.blend`` hold the same per-service
fields (:class:`ServiceSettings`); the timer snapshots them into a :class:`UISettings`
on the main thread and worker threads only ever see that frozen copy. The copy becomes
the config's UI layer (:meth:`UISettings.config_layer`, the config file's shape), so the
file and the environment still win over it, as the README's layer table says.

Secrets never appear here: ``auth_env`` is the *name* of the environment variable that
holds a key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from movie_director.config import schema_problems
from movie_director.configdata import DEFAULT_PROFILE, ENV_PREFIX, PRESETS, SERVICE_DEFAULTS, compose_url
from movie_director.errors import InvalidConfigError

#: The layout version of the settings stored in a ``.blend`` (``Scene.movie_director_props``).
CONFIG_VERSION = 2
SCHEMES = ("http", "https", "ws", "wss")
TIMEOUT_RANGE = (1.0, 300.0)
RETRIES_RANGE = (0, 10)
#: The fields the preferences edit, with the config key each one sets.
FIELD_KEYS = {"enabled": "enabled", "url": "url", "timeout": "timeout", "retries": "retries", "auth_env": "auth"}


def url_problem(url: str) -> str:
    """Why ``url`` cannot be used ("" when it can): scheme http/https/ws/wss, a host, a port 1–65535."""
    text = url.strip()
    if not text:
        return "Enter a URL such as http://127.0.0.1:8188."
    if "://" not in text:
        return f"Add the scheme: http://{text}"
    parts = urlsplit(text)
    if parts.scheme.lower() not in SCHEMES:
        return f"The scheme must be http, https, ws or wss, not {parts.scheme or 'empty'}."
    if not parts.hostname:
        return "The URL has no host (e.g. 127.0.0.1)."
    try:
        port = parts.port
    except ValueError:
        return "The port must be a number from 1 to 65535."
    if port is not None and not 1 <= port <= 65535:
        return "The port must be a number from 1 to 65535."
    if port is None and parts.netloc.endswith(":"):
        return "The port is empty: write it after the colon or remove the colon."
    try:
        compose_url(text)
    except ValueError as exc:
        return str(exc)[:1].upper() + str(exc)[1:] + "."
    return ""


def key_variable(name: str) -> str:
    """The environment variable the config reads a service's key from (``MOVIE_DIRECTOR_LITELLM_API_KEY``)."""
    return f"{ENV_PREFIX}{name.upper().replace('-', '_')}_API_KEY"


@dataclass(frozen=True)
class ServiceSettings:
    """What the preferences edit for one service."""

    name: str
    kind: str
    enabled: bool = True
    url: str = ""
    timeout: float = float(SERVICE_DEFAULTS["timeout"])
    retries: int = int(SERVICE_DEFAULTS["retries"])
    auth_env: str = ""

    @property
    def problem(self) -> str:
        return url_problem(self.url)

    def to_entry(self) -> dict[str, Any]:
        """The config-file entry (``services.<name>``)."""
        entry: dict[str, Any] = {
            "kind": self.kind,
            "url": self.url.strip().rstrip("/"),
            "enabled": self.enabled,
            "timeout": min(max(float(self.timeout), TIMEOUT_RANGE[0]), TIMEOUT_RANGE[1]),
            "retries": min(max(int(self.retries), RETRIES_RANGE[0]), RETRIES_RANGE[1]),
        }
        if self.auth_env.strip():
            entry["auth"] = {"env": self.auth_env.strip()}
        return entry

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any]) -> ServiceSettings:
        auth = found if isinstance(found := entry.get("auth"), Mapping) else {}
        return cls(
            name=name,
            kind=str(entry.get("kind") or name),
            enabled=bool(entry.get("enabled", True)),
            url=str(entry.get("url", "")),
            timeout=float(entry.get("timeout", SERVICE_DEFAULTS["timeout"])),
            retries=int(entry.get("retries", SERVICE_DEFAULTS["retries"])),
            auth_env=str(auth.get("env", "")),
        )


@dataclass(frozen=True)
class UISettings:
    """A frozen copy of the preferences, safe to hand to a worker thread."""

    services: tuple[ServiceSettings, ...] = ()
    active_profile: str = DEFAULT_PROFILE
    #: Names of the user's own profiles (from the profile folder), known to the config.
    custom_profiles: tuple[str, ...] = field(default=(), compare=False)
    #: Default services (ComfyUI, Wan2GP, LiteLLM) the artist removed: the config's
    #: defaults layer would bring them back, so the UI layer switches them off.
    removed: tuple[str, ...] = ()

    def service(self, name: str) -> ServiceSettings | None:
        return next((service for service in self.services if service.name == name), None)

    def config_layer(self) -> dict[str, Any]:
        """The config's UI layer; services whose URL is invalid are left out (the field shows why)."""
        layer: dict[str, Any] = {"services": {name: {"enabled": False} for name in self.removed}}
        layer["services"].update({service.name: service.to_entry() for service in self.services if not service.problem})
        if self.active_profile:
            layer["active_profile"] = self.active_profile
            if self.active_profile not in PRESETS:
                layer["profiles"] = {self.active_profile: {}}
        return layer

    def to_document(self) -> dict[str, Any]:
        """The JSON export: a valid config file (``MOVIE_DIRECTOR_CONFIG`` can point at it)."""
        return {
            "version": 1,
            "active_profile": self.active_profile or DEFAULT_PROFILE,
            "services": {service.name: service.to_entry() for service in self.services},
        }

    def to_profile(self, description: str = "") -> dict[str, Any]:
        """A profile body (``profile.schema.json``) holding these services."""
        body: dict[str, Any] = {"services": {service.name: service.to_entry() for service in self.services}}
        if description:
            body["description"] = description
        return body


def settings_from_document(data: Any, source: str) -> UISettings:
    """Settings from an exported JSON document (a config file); raises InvalidConfigError naming every problem."""
    if not isinstance(data, Mapping):
        raise InvalidConfigError(f"{source} does not hold a settings object.", hints=["Export the settings from the add-on to see the expected form."])
    problems = schema_problems(dict(data), "file", source)
    if problems:
        raise InvalidConfigError(problems=problems)
    services = tuple(ServiceSettings.from_entry(name, entry) for name, entry in (data.get("services") or {}).items())
    bad = [f"{service.name}: {service.problem}" for service in services if service.problem]
    if bad:
        raise InvalidConfigError(f"{source} has unusable URLs: " + "; ".join(bad), hints=["Fix the URLs in the file and import it again."])
    return UISettings(services, str(data.get("active_profile") or DEFAULT_PROFILE))


def settings_from_profile(name: str, body: Mapping[str, Any], source: str) -> UISettings:
    """Settings from one profile body; raises InvalidConfigError naming every problem."""
    problems = schema_problems(dict(body), "file", source, schema="profile")
    if problems:
        raise InvalidConfigError(problems=problems)
    services = tuple(ServiceSettings.from_entry(service, entry) for service, entry in (body.get("services") or {}).items())
    return UISettings(services, name)


def apply_preset(services: Iterable[ServiceSettings], preset: str) -> list[ServiceSettings]:
    """The services with a built-in preset's timeout and retries (URLs are kept)."""
    values = {**SERVICE_DEFAULTS, **PRESETS[preset]["all"]}
    return [replace(service, timeout=float(values["timeout"]), retries=int(values["retries"])) for service in services]


def default_services(backends: Mapping[str, Any]) -> list[ServiceSettings]:
    """One service per installed kind that has a default URL (ComfyUI, Wan2GP, LiteLLM)."""
    return [
        ServiceSettings(name=kind, kind=kind, url=backend.default_url)
        for kind, backend in sorted(backends.items())
        if getattr(backend, "default_url", "")
    ]


def document_text(settings: UISettings) -> str:
    return json.dumps(settings.to_document(), indent=2, ensure_ascii=False) + "\n"


# -- .blend layout migrations ------------------------------------------------------------


class NewerLayout(ValueError):
    """The ``.blend`` was saved by a newer add-on whose layout this one does not know."""


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 stored ``host``/``port``/``use_ssl`` and ``timeout_ms``; version 2 a URL and seconds."""
    services = []
    for service in data.get("services") or []:
        service = dict(service)
        host = service.pop("host", "") or "127.0.0.1"
        port = service.pop("port", 0)
        scheme = "https" if service.pop("use_ssl", False) else "http"
        if not service.get("url"):
            netloc = f"[{host}]" if ":" in host else host
            service["url"] = f"{scheme}://{netloc}" + (f":{int(port)}" if port else "")
        if "timeout_ms" in service:
            service["timeout"] = max(TIMEOUT_RANGE[0], float(service.pop("timeout_ms")) / 1000.0)
        service.setdefault("kind", service.get("name", ""))
        services.append(service)
    return {**data, "services": services, "config_version": 2}


#: version → the step that lifts a layout of that version to the next one.
MIGRATIONS = {1: _v1_to_v2}


def migrate(data: Mapping[str, Any]) -> dict[str, Any]:
    """Lift stored settings to :data:`CONFIG_VERSION`, one step at a time.

    A missing version means nothing was stored yet (returned as is, at the current
    version). Raises :class:`NewerLayout` for a layout from a newer add-on.
    """
    current = dict(data)
    version = int(current.get("config_version") or CONFIG_VERSION)
    if version > CONFIG_VERSION:
        raise NewerLayout(f"The file's connection settings use layout {version}; this add-on knows up to {CONFIG_VERSION}.")
    while version < CONFIG_VERSION:
        current = MIGRATIONS[version](current)
        version = int(current["config_version"])
    current["config_version"] = CONFIG_VERSION
    return current


__all__ = [
    "CONFIG_VERSION",
    "FIELD_KEYS",
    "MIGRATIONS",
    "NewerLayout",
    "ServiceSettings",
    "UISettings",
    "apply_preset",
    "default_services",
    "document_text",
    "key_variable",
    "migrate",
    "settings_from_document",
    "settings_from_profile",
    "url_problem",
]
