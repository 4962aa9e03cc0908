"""What a Gradio app offers, read from its ``/config`` and ``/info``: endpoints and their parameters.

Pure data and parsing, no network: the transport fetches the two documents once per
app start (``app_id``) and this module turns them into :class:`AppInfo`. It also knows
Gradio's file shapes (a FileData, a Video's ``{video, subtitles}``, a Gallery's list of
``{image|video, caption}``) so callers pass plain local paths.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from movie_director.errors import InvalidSetting, NotFound

#: Components that never appear as API parameters (gradio_client's SKIP_COMPONENTS).
SKIP_COMPONENTS = frozenset({"state", "row", "column", "tabs", "tab", "tabitem", "box", "form", "accordion", "group", "interpretation", "dataset", "sidebar"})
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v", ".ogv"})
_SUFFIX = re.compile(r"_\d+$")


def base_name(api_name: str) -> str:
    """``"/save_inputs_16"`` → ``"save_inputs"``: Gradio numbers repeated function names."""
    return _SUFFIX.sub("", api_name.lstrip("/"))


@dataclass(frozen=True)
class Parameter:
    """One input of an endpoint, as ``/info`` describes it (plus limits from ``/config``)."""

    name: str
    component: str
    python_type: str
    required: bool
    default: Any = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    file_shape: str | None = None  # "file", "video", "gallery", "files" or None
    component_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "component": self.component, "type": self.python_type, "required": self.required}
        if not self.required:
            data["default"] = self.default
        if self.choices is not None:
            data["choices"] = list(self.choices)
        if self.minimum is not None or self.maximum is not None:
            data["range"] = [self.minimum, self.maximum]
        if self.file_shape:
            data["file"] = self.file_shape
        return data


@dataclass(frozen=True)
class Endpoint:
    """One callable event: its API name, dependency id (fn_index) and parameters."""

    api_name: str  # without the leading slash
    fn_index: int
    parameters: tuple[Parameter, ...]
    returns: tuple[str, ...] = ()
    generator: bool = False
    documented: bool = True

    @property
    def base_name(self) -> str:
        return base_name(self.api_name)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.api_name,
            "fn_index": self.fn_index,
            "parameters": [p.to_dict() for p in self.parameters],
            "returns": list(self.returns),
            "generator": self.generator,
        }


@dataclass(frozen=True)
class AppInfo:
    """A Gradio app as one process started it; ``app_id`` changes at every restart."""

    url: str
    version: str
    protocol: str
    api_prefix: str
    title: str
    app_id: int | None
    config: Mapping[str, Any] = field(repr=False)
    info: Mapping[str, Any] = field(repr=False)
    endpoints: Mapping[str, Endpoint] = field(repr=False)

    @property
    def api_root(self) -> str:
        """``http://host:port/gradio_api`` (the prefix every queue/file route lives under)."""
        return self.url.rstrip("/") + self.api_prefix

    def endpoint(self, name: str, service: str | None = None) -> Endpoint:
        """The endpoint called ``name`` (with or without "/"); NotFound names close ones."""
        key = name.lstrip("/")
        if key in self.endpoints:
            return self.endpoints[key]
        close = difflib.get_close_matches(key, list(self.endpoints), n=3)
        hint = f"Did you mean {', '.join(close)}?" if close else f"It offers: {', '.join(sorted(self.endpoints)[:12]) or 'none'}."
        raise NotFound(
            f"{service or 'The Gradio app'} has no endpoint named {key!r}.",
            service=service,
            hints=[hint, f"Run `movie-director gradio endpoints {self.url}` to list them."],
            details={"endpoint": key, "close_matches": close},
        )

    def by_base_name(self, name: str) -> list[Endpoint]:
        return [endpoint for endpoint in self.endpoints.values() if endpoint.base_name == name]

    def by_fn_index(self, fn_index: int) -> Endpoint | None:
        return next((e for e in self.endpoints.values() if e.fn_index == fn_index), None)

    def dependency(self, fn_index: int) -> Mapping[str, Any]:
        return next(d for d in self.config["dependencies"] if d.get("id") == fn_index)

    def component(self, component_id: int) -> Mapping[str, Any]:
        return _component_index(self.config).get(component_id, {})

    def session_config(self, fn_indices: Iterable[int]) -> dict[str, Any]:
        """``/config`` cut down to these dependencies and their components.

        A gradio_client built on it costs milliseconds instead of a fresh download and
        a walk over thousands of components (Wan2GP: 2,194 components, 647 events).
        """
        wanted = set(fn_indices)
        dependencies = [d for d in self.config["dependencies"] if d.get("id") in wanted]
        used = {cid for d in dependencies for cid in (*d.get("inputs", ()), *d.get("outputs", ()))}
        components = [c for c in self.config["components"] if c.get("id") in used]
        return {**self.config, "components": components, "dependencies": dependencies}

    def summary(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "gradio_version": self.version,
            "protocol": self.protocol,
            "api_prefix": self.api_prefix,
            "title": self.title,
            "components": len(self.config.get("components", ())),
            "events": len(self.config.get("dependencies", ())),
            "endpoints": len(self.endpoints),
        }


def is_gradio_config(config: Any) -> bool:
    """A Gradio ``/config``: a mapping with a version, components and dependencies."""
    return (
        isinstance(config, Mapping)
        and isinstance(config.get("version"), str)
        and isinstance(config.get("components"), list)
        and isinstance(config.get("dependencies"), list)
    )


def parse_app(url: str, config: Mapping[str, Any], info: Mapping[str, Any]) -> AppInfo:
    """Join ``/config`` (ids, components, limits) and ``/info`` (parameter names, defaults)."""
    components = _component_index(config)
    named = info.get("named_endpoints") or {}
    endpoints: dict[str, Endpoint] = {}
    for dependency in config.get("dependencies", ()):
        api_name = dependency.get("api_name")
        if not isinstance(api_name, str) or dependency.get("api_visibility") == "private" or "id" not in dependency:
            continue
        described = named.get("/" + api_name)
        if described is None:
            continue
        inputs = [cid for cid in dependency.get("inputs", ()) if not _skipped(components.get(cid, {}))]
        parameters = tuple(_parameter(raw, components.get(inputs[i]) if i < len(inputs) else None) for i, raw in enumerate(described.get("parameters", ())))
        endpoints[api_name] = Endpoint(
            api_name=api_name,
            fn_index=int(dependency["id"]),
            parameters=parameters,
            returns=tuple(str(r.get("label") or r.get("component") or "") for r in described.get("returns", ())),
            generator=bool((dependency.get("types") or {}).get("generator")),
            documented=dependency.get("show_api", True) is not False and dependency.get("api_visibility", "public") == "public",
        )
    app_id = config.get("app_id")
    return AppInfo(
        url=url.rstrip("/"),
        version=str(config.get("version", "")),
        protocol=str(config.get("protocol", "")),
        api_prefix="/" + str(config.get("api_prefix", "")).strip("/") if config.get("api_prefix") else "",
        title=str(config.get("title") or ""),
        app_id=app_id if isinstance(app_id, int) else None,
        config=config,
        info={"named_endpoints": named, "unnamed_endpoints": {}},
        endpoints=endpoints,
    )


def _component_index(config: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    return {c["id"]: c for c in config.get("components", ()) if isinstance(c, Mapping) and "id" in c}


def _skipped(component: Mapping[str, Any]) -> bool:
    return bool(component.get("skip_api", component.get("type") in SKIP_COMPONENTS))


def _parameter(raw: Mapping[str, Any], component: Mapping[str, Any] | None) -> Parameter:
    schema = raw.get("type") or {}
    props = (component or {}).get("props") or {}
    choices = schema.get("enum") if isinstance(schema, Mapping) and not props.get("allow_custom_value") else None
    minimum, maximum = props.get("minimum"), props.get("maximum")
    return Parameter(
        name=str(raw.get("parameter_name") or raw.get("label") or ""),
        component=str(raw.get("component") or ""),
        python_type=str((raw.get("python_type") or {}).get("type", "")),
        required=not raw.get("parameter_has_default", False),
        default=raw.get("parameter_default"),
        choices=tuple(choices) if isinstance(choices, list) else None,
        minimum=float(minimum) if isinstance(minimum, (int, float)) else None,
        maximum=float(maximum) if isinstance(maximum, (int, float)) else None,
        file_shape=file_shape(schema),
        component_id=(component or {}).get("id"),
    )


# -- files ---------------------------------------------------------------------------------


def file_shape(schema: Any) -> str | None:
    """How a parameter carries files: "file" (a FileData), "video" ({video, subtitles}),
    "gallery" (a list of {image|video, caption}), "files" (a list of FileData), or None."""
    if not isinstance(schema, Mapping):
        return None
    defs = schema.get("$defs") or {}
    resolved = _resolve(schema, defs)
    properties = resolved.get("properties") or {}
    if "path" in properties and "meta" in properties:
        return "file"
    if "video" in properties and _is_file(properties["video"], defs):
        return "video"
    if resolved.get("type") == "array":
        items = _resolve(resolved.get("items") or {}, defs)
        variants = [_resolve(v, defs) for v in items.get("anyOf", [items])]
        if any({"caption"} <= set(v.get("properties") or {}) for v in variants):
            return "gallery"
        if any(_is_file(v, defs) for v in variants):
            return "files"
    return None


def _resolve(schema: Any, defs: Mapping[str, Any]) -> Mapping[str, Any]:
    for _ in range(8):  # bounded: refs may chain, never loop forever
        if not isinstance(schema, Mapping) or "$ref" not in schema:
            break
        schema = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
    return schema if isinstance(schema, Mapping) else {}


def _is_file(schema: Any, defs: Mapping[str, Any]) -> bool:
    resolved = _resolve(schema, defs)
    candidates = [resolved, *[_resolve(v, defs) for v in resolved.get("anyOf", ())]]
    return any({"path", "meta"} <= set(c.get("properties") or {}) for c in candidates)


def wrap_files(parameter: Parameter, value: Any, upload: Any) -> Any:
    """Local paths → the shape ``parameter`` takes, each file wrapped by ``upload`` (``handle_file``).

    Values that are already dicts (FileData from an earlier call) pass through unchanged.
    """
    shape = parameter.file_shape
    if shape is None or value is None or isinstance(value, Mapping):
        return value
    paths = list(value) if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(item, Mapping) for item in paths):
        return value
    _check_files(parameter.name, paths)
    if shape == "file":
        return upload(str(paths[0]))
    if shape == "video":
        return {"video": upload(str(paths[0])), "subtitles": None}
    if shape == "files":
        return [upload(str(path)) for path in paths]
    return [{("video" if Path(path).suffix.lower() in VIDEO_SUFFIXES else "image"): upload(str(path)), "caption": None} for path in paths]


def _check_files(name: str, paths: Sequence[Any]) -> None:
    for path in paths:
        if not isinstance(path, (str, Path)) or not Path(path).expanduser().is_file():
            raise InvalidSetting(
                f"The file for {name} does not exist: {path}.",
                hints=[f"Give {name} the path of an existing file."],
                details={"field": name, "value": str(path), "allowed": "a path to an existing file"},
            )


# -- arguments -------------------------------------------------------------------------------


def coerce(parameter: Parameter, value: Any) -> Any:
    """A command-line string → the parameter's type (number, bool, list, dict); others unchanged.

    Numbers keep the type they were written in, as gradio_client sends a Python value:
    ``2`` is the JSON int 2 even for a ``gr.Number`` typed "float" (apps use such inputs
    as ints: ``text.split()[:words]``), ``2.5`` a float. A string that is no number is left
    as it is, for :func:`check_arguments` to refuse.
    """
    if not isinstance(value, str):
        return value
    kind = parameter.python_type
    try:
        if kind in NUMBER_TYPES:
            return _number(value, whole=kind == "int")
        if kind == "bool":
            return value.strip().lower() in ("1", "true", "yes", "on")
        if kind.startswith(("list", "dict", "Dict", "List")) and value.strip()[:1] in "[{":
            return json.loads(value)
    except ValueError:
        return value
    return value


#: python_type of number inputs in ``/info``: ``gr.Number(precision=0)`` is "int", others "float".
NUMBER_TYPES = ("int", "float")


def _number(text: str, whole: bool) -> int | float:
    try:
        return int(text.strip())
    except ValueError:
        number = float(text)
    return int(number) if whole and number.is_integer() else number


def _fits(parameter: Parameter, value: Any) -> bool:
    """Whether a number parameter can take ``value`` (an int parameter: whole numbers only)."""
    if parameter.python_type not in NUMBER_TYPES or value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return parameter.python_type == "float" or float(value).is_integer()


def check_arguments(endpoint: Endpoint, arguments: Mapping[str, Any], service: str | None = None) -> None:
    """Refuse unknown names and missing required parameters before anything is sent."""
    known = endpoint.parameter_names
    for name in arguments:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=3)
            allowed = ", ".join(known) or "no parameters"
            raise InvalidSetting(
                f"/{endpoint.api_name} has no parameter named {name!r}" + (f" (did you mean {', '.join(close)}?)." if close else "."),
                service=service,
                hints=[f"Parameters of /{endpoint.api_name}: {allowed}."],
                details={"field": name, "value": arguments[name], "allowed": allowed},
            )
    for parameter in endpoint.parameters:
        if parameter.required and parameter.name not in arguments:
            raise InvalidSetting(
                f"/{endpoint.api_name} needs a value for {parameter.name!r} ({parameter.python_type or parameter.component}).",
                service=service,
                hints=[f"Add {parameter.name}=VALUE."],
                details={"field": parameter.name, "value": None, "allowed": parameter.python_type or parameter.component},
            )
        value = arguments.get(parameter.name)
        if not _fits(parameter, value):
            allowed = "a whole number" if parameter.python_type == "int" else "a number"
            raise InvalidSetting(
                f"{value!r} is not {allowed}: {parameter.name!r} on /{endpoint.api_name} takes {allowed}.",
                service=service,
                hints=[f"Give {parameter.name} {allowed}, e.g. {parameter.name}={_example(parameter)}."],
                details={"field": parameter.name, "value": value, "allowed": allowed},
            )
        if parameter.choices and value is not None and parameter.name in arguments and _outside(value, parameter.choices):
            allowed = ", ".join(map(str, parameter.choices))
            raise InvalidSetting(
                f"{value!r} is not a choice of {parameter.name!r} on /{endpoint.api_name} (allowed: {allowed}).",
                service=service,
                hints=[f"Use one of: {allowed}."],
                details={"field": parameter.name, "value": value, "allowed": allowed},
            )


def _example(parameter: Parameter) -> Any:
    default = parameter.default if _fits(parameter, parameter.default) and parameter.default is not None else None
    return default if default is not None else (2 if parameter.python_type == "int" else 2.5)


def _outside(value: Any, choices: Sequence[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(item not in choices for item in values)


__all__ = [
    "AppInfo",
    "Endpoint",
    "Parameter",
    "base_name",
    "check_arguments",
    "coerce",
    "file_shape",
    "is_gradio_config",
    "parse_app",
    "wrap_files",
]
