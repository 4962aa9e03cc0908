"""Layered configuration, validated by the JSON Schemas in ``schemas/``.

Layers, lowest first: built-in defaults → UI/.blend → config file → environment.
(The product spec ranks environment > config file > UI/.blend > defaults.) Every
resolved value remembers the layer (and file or variable) it came from, so the UI
can show "overridden by MOVIE_DIRECTOR_COMFYUI_URL" and the CLI ``--sources``.

A bad value anywhere raises one :class:`~movie_director.errors.InvalidConfigError` that
lists every problem with its JSON pointer, layer and what is allowed; a config is
built whole or not at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movie_director.configdata import (
    CONFIG_ENV,
    DEFAULT_PROFILE,
    ENV_PREFIX,
    LAYER_DEFAULT,
    LAYER_ENV,
    LAYER_FILE,
    LAYER_UI,
    PRESETS,
    PROFILE_ENV,
    SERVICE_DEFAULTS,
    AuthRef,
    Config,
    InstanceConfig,
    ServiceConfig,
    Source,
    compose_url,
)
from movie_director.configfile import find_config_file, read_config_file
from movie_director.errors import InvalidConfigError, ValueProblem
from movie_director.redact import register_secret

if TYPE_CHECKING:  # jsonschema takes ~0.1 s to import: only a command that validates pays for it
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

# -- schema validation -------------------------------------------------------------------


@cache
def _schema_registry() -> Any:
    from referencing import Registry, Resource

    registry = Registry()
    for name in ("service", "profile", "config"):
        schema = load_schema(name)
        resource = Resource.from_contents(schema)
        registry = registry.with_resources([(schema["$id"], resource), (f"{name}.schema.json", resource)])
    return registry


@cache
def load_schema(name: str) -> dict[str, Any]:
    """One of the schema files (``config``, ``service``, ``profile``)."""
    text = (resources.files("movie_director.schemas") / f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator(name: str) -> Validator:
    from jsonschema.validators import validator_for

    schema = load_schema(name)
    cls = validator_for(schema)
    return cls(schema, registry=_schema_registry())


def schema_problems(data: Any, layer: str, source: str, schema: str = "config", base: str = "") -> list[ValueProblem]:
    """Every schema violation in ``data``, as problems naming pointer, layer and what is allowed."""
    problems = []
    for error in sorted(_validator(schema).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_problems_of(error, layer, source, base))
    return problems


def _problems_of(error: ValidationError, layer: str, source: str, base: str) -> list[ValueProblem]:
    pointer = base + "".join(f"/{part}" for part in error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties":
        properties = schema.get("properties", {})
        allowed = sorted(key for key, rule in properties.items() if rule != {"not": {}} and "not" not in rule)
        extras = [key for key in error.instance if key not in properties] if isinstance(error.instance, dict) else []
        return [
            ValueProblem(f"{pointer}/{key}", layer, f"unknown key {key!r}", key, "known keys: " + ", ".join(allowed), source)
            for key in extras
        ]
    if error.validator == "not" and schema.get("description", "").startswith("literal secrets"):
        return [ValueProblem(pointer, layer, "a literal secret is not allowed here", "***", schema["description"], source)]
    return [ValueProblem(pointer, layer, _short_message(error), _safe_value(error.instance), _allowed(error), source)]


def _short_message(error: ValidationError) -> str:
    if error.validator == "type":
        return f"expected {error.validator_value}, got {type(error.instance).__name__}"
    if error.validator in ("minimum", "maximum"):
        return f"{error.instance!r} is out of range"
    if error.validator == "pattern":
        return f"{error.instance!r} has the wrong form"
    if error.validator in ("enum", "const"):
        return f"{error.instance!r} is not one of the allowed values"
    if error.validator == "required":
        return error.message
    if error.validator == "not" and isinstance(error.validator_value, dict) and error.validator_value.get("description"):
        return f"{error.validator_value['description']} are not allowed"  # the schema names what it forbids
    return error.message


def _allowed(error: ValidationError) -> str:
    if error.validator == "not":
        return "one of them"
    schema = error.schema if isinstance(error.schema, dict) else {}
    parts = []
    if "type" in schema:
        parts.append(str(schema["type"]))
    if "minimum" in schema or "maximum" in schema:
        parts.append(f"{schema.get('minimum', '-∞')}–{schema.get('maximum', '∞')}")
    if "enum" in schema:
        parts.append(" | ".join(map(str, schema["enum"])))
    if "const" in schema:
        parts.append(repr(schema["const"]))
    if schema.get("description"):
        parts.append(schema["description"])
    return "; ".join(parts)


def _safe_value(value: Any) -> Any:
    return value if isinstance(value, (int, float, bool, str, type(None))) else json.dumps(value, default=str)[:80]


# -- layers ----------------------------------------------------------------------------


@dataclass
class _Layer:
    name: str
    location: str
    data: dict[str, Any]
    #: per-pointer origin inside the layer (an env var name), else ``location``
    origins: dict[str, str] = field(default_factory=dict)


_ENV_FIELDS = {"URL": "url", "ENABLED": "enabled", "TIMEOUT": "timeout", "KIND": "kind", "API_KEY": "auth"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env_layer(environ: Mapping[str, str], known_services: Iterable[str]) -> tuple[_Layer, list[ValueProblem]]:
    """``MOVIE_DIRECTOR_<SERVICE>_<FIELD>`` variables as a layer; bad values become problems."""
    layer = _Layer(LAYER_ENV, "environment", {"services": {}})
    problems: list[ValueProblem] = []
    services: dict[str, dict[str, Any]] = layer.data["services"]
    names = {name.upper().replace("-", "_"): name for name in known_services}
    for variable, raw in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX):
            continue
        rest = variable[len(ENV_PREFIX) :]
        for suffix, key in _ENV_FIELDS.items():
            if not rest.endswith("_" + suffix):
                continue
            service_key = rest[: -len(suffix) - 1]
            if not service_key:
                continue
            name = names.get(service_key, service_key.lower().replace("_", "-") if "_" in service_key else service_key.lower())
            pointer = f"/services/{name}/{key}"
            value, problem = _parse_env_value(key, raw, variable)
            if problem:
                problems.append(ValueProblem(pointer, LAYER_ENV, problem[0], raw if key != "auth" else "***", problem[1], variable))
                break
            if key == "url" and "," in value:  # several servers of one service
                key, pointer = "instances", f"/services/{name}/instances"
                value = [{"url": url.strip()} for url in value.split(",") if url.strip()]
            services.setdefault(name, {})[key] = value
            layer.origins[pointer] = variable
            break
    if environ.get(PROFILE_ENV):
        layer.data["active_profile"] = environ[PROFILE_ENV]
        layer.origins["/active_profile"] = PROFILE_ENV
    return layer, problems


def _parse_env_value(key: str, raw: str, variable: str) -> tuple[Any, tuple[str, str] | None]:
    text = raw.strip()
    if key == "enabled":
        if text.lower() in _TRUE:
            return True, None
        if text.lower() in _FALSE:
            return False, None
        return None, (f"{text!r} is not a yes/no value", "true, 1, yes, on / false, 0, no, off")
    if key == "timeout":
        try:
            return float(text), None
        except ValueError:
            return None, (f"{text!r} is not a number", "seconds from 1 to 300")
    if key == "auth":
        register_secret(raw)
        return {"type": "bearer", "env": variable}, None
    return text, None


def _defaults_layer(kinds: Mapping[str, Any], profile: str) -> _Layer:
    preset = PRESETS.get(profile, {}).get("all", {})
    services = {}
    for kind, backend in kinds.items():
        url = getattr(backend, "default_url", "")
        if not url:
            continue
        services[kind] = {
            "kind": kind,
            "url": url,
            **SERVICE_DEFAULTS,
            "health_interval": float(getattr(backend, "health_interval", SERVICE_DEFAULTS["health_interval"])),
            **preset,
        }
    return _Layer(LAYER_DEFAULT, "built-in" + (f", preset {profile}" if preset else ""), {"services": services})


def _profile_services(layer: _Layer, profile: str) -> dict[str, Any]:
    return (layer.data.get("profiles") or {}).get(profile, {}).get("services") or {}


# -- resolution ------------------------------------------------------------------------


def load_config(
    ui: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    file: Path | str | None = None,
    kinds: Mapping[str, Any] | None = None,
) -> Config:
    """Resolve the configuration from every layer, or raise one InvalidConfigError listing all problems.

    :param ui: the .blend/UI layer, in the config file's shape.
    :param environ: defaults to ``os.environ``.
    :param file: a config file to use instead of searching for one.
    :param kinds: backend kind → backend (class or instance) supplying defaults; the
        installed plugins by default.
    """
    environ = os.environ if environ is None else environ
    if kinds is None:
        from movie_director.plugins import get_plugin_manager

        kinds = get_plugin_manager().backends
    problems: list[ValueProblem] = []
    path = Path(file) if file is not None else find_config_file(environ)
    layers: list[_Layer] = []
    if ui:
        ui_data = dict(ui)
        problems += schema_problems(ui_data, LAYER_UI, ".blend")
        layers.append(_Layer(LAYER_UI, ".blend", ui_data))
    if path is not None:
        if not path.is_file() and file is None and environ.get(CONFIG_ENV):
            raise InvalidConfigError(
                f"{CONFIG_ENV} points at {path}, which does not exist.",
                hints=[f"Create the file, or unset {CONFIG_ENV} to use the default locations."],
            )
        file_data = read_config_file(path)
        problems += schema_problems(file_data, LAYER_FILE, str(path))
        layers.append(_Layer(LAYER_FILE, str(path), file_data))
    names = set(kinds)
    for layer in layers:
        names |= set(layer.data.get("services") or {})
        for profile in (layer.data.get("profiles") or {}).values():
            names |= set((profile or {}).get("services") or {}) if isinstance(profile, dict) else set()
    env_layer, env_problems = _env_layer(environ, names)
    problems += env_problems
    layers.append(env_layer)

    profile, profile_source = _active_profile(layers)
    available_profiles = list(PRESETS)
    for layer in layers:
        available_profiles += [name for name in layer.data.get("profiles") or {} if name not in available_profiles]
    if profile not in available_profiles:
        problems.append(
            ValueProblem("/active_profile", profile_source.layer, f"unknown profile {profile!r}", profile, ", ".join(available_profiles), profile_source.location)
        )
    if problems:
        raise InvalidConfigError(problems=problems)

    merged: dict[str, dict[str, Any]] = {}
    sources: dict[str, dict[str, Source]] = {}
    for layer in [_defaults_layer(kinds, profile), *layers]:
        for section in (layer.data.get("services") or {}, _profile_services(layer, profile)):
            for name, entry in section.items():
                for key, value in (entry or {}).items():
                    if key in _ADDRESS_KEYS:  # a higher layer's url or instances replaces the lower one's
                        for other in _ADDRESS_KEYS[key]:
                            merged.get(name, {}).pop(other, None)
                    merged.setdefault(name, {})[key] = value
                    origin = layer.origins.get(f"/services/{name}/{key}", layer.location)
                    if section is not layer.data.get("services") and layer.name != LAYER_DEFAULT:
                        origin = f"{origin}, profile {profile}"
                    sources.setdefault(name, {})[key] = Source(layer.name, origin)

    services: dict[str, ServiceConfig] = {}
    for name, entry in sorted(merged.items()):
        service, service_problems = _build_service(name, entry, sources.get(name, {}), kinds)
        problems += service_problems
        if service is not None:
            services[name] = service
    if problems:
        raise InvalidConfigError(problems=problems)
    data_dir = _data_dir(layers, environ)
    return Config(services, profile, tuple(available_profiles), path, data_dir, profile_source)


def _active_profile(layers: list[_Layer]) -> tuple[str, Source]:
    for layer in reversed(layers):
        if layer.data.get("active_profile"):
            return str(layer.data["active_profile"]), Source(layer.name, layer.origins.get("/active_profile", layer.location))
    return DEFAULT_PROFILE, Source(LAYER_DEFAULT, "built-in")


def _data_dir(layers: list[_Layer], environ: Mapping[str, str]) -> Path:
    if environ.get("MOVIE_DIRECTOR_DATA_DIR"):
        return default_data_dir(environ)
    for layer in reversed(layers):
        if layer.data.get("data_dir"):
            return Path(layer.data["data_dir"]).expanduser()
    return default_data_dir(environ)


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """The data dir without reading any config file (``MOVIE_DIRECTOR_DATA_DIR``, else the
    user data dir): where the CLI logs before, or without, a valid configuration."""
    if environ.get("MOVIE_DIRECTOR_DATA_DIR"):
        return Path(environ["MOVIE_DIRECTOR_DATA_DIR"]).expanduser()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "movie-director"


def _build_service(
    name: str, entry: dict[str, Any], sources: dict[str, Source], kinds: Mapping[str, Any]
) -> tuple[ServiceConfig | None, list[ValueProblem]]:
    def problem(key: str, text: str, value: Any, allowed: str) -> ValueProblem:
        source = sources.get(key, Source(LAYER_DEFAULT))
        return ValueProblem(f"/services/{name}/{key}", source.layer, text, value, allowed, source.location)

    kind = entry.get("kind") or (name if name in kinds else "")
    if not kind:
        return None, [problem("kind", "the service has no kind and its name is not a known kind", None, ", ".join(sorted(kinds)))]
    instances, instance_problems = _instances_of(name, entry.get("instances"), sources.get("instances", Source(LAYER_DEFAULT)))
    if instance_problems:
        return None, instance_problems
    if instances:
        entry = {**entry, "url": instances[0].url}
        sources["url"] = sources["instances"]
    if "url" not in entry and "host" not in entry:
        return None, [problem("url", "the service has no url", None, "an http, https, ws or wss URL")]
    try:
        url = compose_url(entry.get("url", ""), entry.get("scheme"), entry.get("host"), entry.get("port"))
    except ValueError as exc:
        key = "port" if "port" in str(exc) else "url"
        return None, [problem(key, str(exc), entry.get(key), "scheme://host:port with a port from 1 to 65535")]
    auth = entry.get("auth")
    if "url" not in sources and {"scheme", "host", "port"} & set(entry):
        sources["url"] = next(sources[key] for key in ("host", "port", "scheme") if key in sources)
    elif {"scheme", "host", "port"} & set(entry):
        winner = max((sources[key] for key in ("url", "host", "port", "scheme") if key in sources), key=lambda s: _LAYER_RANK[s.layer])
        sources["url"] = winner
    sources.setdefault("kind", sources.get("url", Source(LAYER_DEFAULT)))
    sources.setdefault("instances", sources.get("url", Source(LAYER_DEFAULT)))
    service = ServiceConfig(
        name=name,
        kind=kind,
        url=url,
        enabled=bool(entry.get("enabled", True)),
        timeout=float(entry.get("timeout", SERVICE_DEFAULTS["timeout"])),
        connect_timeout=float(entry.get("connect_timeout", SERVICE_DEFAULTS["connect_timeout"])),
        retries=int(entry.get("retries", SERVICE_DEFAULTS["retries"])),
        backoff=float(entry.get("backoff", SERVICE_DEFAULTS["backoff"])),
        health_interval=float(entry.get("health_interval", SERVICE_DEFAULTS["health_interval"])),
        reconnect_max_delay=entry.get("reconnect_max_delay"),
        auth=AuthRef(auth["env"], auth.get("type", "bearer"), auth.get("header", "")) if auth else None,
        tags=tuple(entry.get("tags", ())),
        priority=int(entry.get("priority", 0)),
        transport=entry.get("transport", "auto"),
        ca_bundle=entry.get("ca_bundle"),
        verify_tls=bool(entry.get("verify_tls", True)),
        proxy=entry.get("proxy"),
        pool_max=entry.get("pool_max"),
        pool_min=entry.get("pool_min"),
        models=tuple(entry.get("models", ())),
        instances=instances,
        sources=dict(sources),
    )
    return service, []


#: Keys that say where a service is: setting one in a higher layer drops the others below.
_ADDRESS_KEYS = {"url": ("instances",), "instances": ("url", "scheme", "host", "port")}


def _instances_of(name: str, entries: Any, source: Source) -> tuple[tuple[InstanceConfig, ...], list[ValueProblem]]:
    """The ``instances`` list as data; a bad URL is a problem naming its place and where it came from."""
    instances: list[InstanceConfig] = []
    problems: list[ValueProblem] = []
    for index, entry in enumerate(entries or ()):
        try:
            url = compose_url(entry["url"])
        except ValueError as exc:
            problems.append(ValueProblem(f"/services/{name}/instances/{index}/url", source.layer, str(exc), entry["url"], "scheme://host:port", source.location))
            continue
        auth = entry.get("auth")
        instances.append(InstanceConfig(url, float(entry.get("weight", 1.0)), AuthRef(auth["env"], auth.get("type", "bearer"), auth.get("header", "")) if auth else None))
    return tuple(instances), problems


_LAYER_RANK = {LAYER_DEFAULT: 0, LAYER_UI: 1, LAYER_FILE: 2, LAYER_ENV: 3}


def validate_file(path: Path | str) -> list[ValueProblem]:
    """Every problem in one config file (schema and URL form), without resolving layers."""
    path = Path(path)
    data = read_config_file(path)
    problems = schema_problems(data, LAYER_FILE, str(path))
    for pointer, entry in _service_entries(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str) or not entry["url"]:
            continue  # a missing or non-text URL is the schema's problem, already listed
        try:
            compose_url(entry["url"])
        except ValueError as exc:
            problems.append(ValueProblem(f"{pointer}/url", LAYER_FILE, str(exc), entry["url"], "scheme://host:port", str(path)))
    return problems


def _service_entries(data: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """Every service entry of the file and its profiles; sections of the wrong shape are the schema's problem."""
    yield from _entries(data.get("services"), "/services")
    profiles = data.get("profiles")
    for profile, body in (profiles.items() if isinstance(profiles, dict) else ()):
        if isinstance(body, dict):
            yield from _entries(body.get("services"), f"/profiles/{profile}/services")


def _entries(services: Any, pointer: str) -> Iterable[tuple[str, Any]]:
    for name, entry in (services.items() if isinstance(services, dict) else ()):
        yield f"{pointer}/{name}", entry


@contextmanager
def exported(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` for the block (the config layers and auth references read the process environment)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


__all__ = [
    "default_data_dir",
    "exported",
    "load_config",
    "load_schema",
    "schema_problems",
    "validate_file",
]
