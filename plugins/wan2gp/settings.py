"""What a Wan2GP generation asks for, checked before anything is sent.

Both transports (the Gradio web UI and the headless MCP server) take the same
:class:`Wan2GPSettings` and look the same to the CLI and the core
(:class:`Wan2GPTransport`). Names follow Wan2GP's own ``save_inputs`` parameters, so
``to_save_inputs()`` is what reaches the server: the add-on this replaces built its
settings and never sent them.

A transport module (``webui``, ``mcp``) exposes two functions::

    probe(url: str, timeout: float) -> ProbeResult | None
    connect(service: ServiceConfig) -> Wan2GPTransport
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from movie_director.backend import Capability, HealthSample
from movie_director.errors import InvalidSetting
from movie_director.progress import ProgressCallback

SERVICE = "Wan2GP"

#: Allowed ranges when the running app does not report its own (inclusive).
DEFAULT_LIMITS: Mapping[str, tuple[float, float]] = {
    "video_length": (5, 257),
    "seed": (-1, 2**32 - 1),
    "num_inference_steps": (1, 150),
    "guidance_scale": (1.0, 20.0),
}
#: Fields holding local files: a transport uploads them (the web UI through Gradio,
#: MCP through a gallery upload) instead of sending the path.
MEDIA_FIELDS: tuple[str, ...] = ("image_start", "image_end", "image_refs", "video_guide", "audio_guide")
#: Media fields that are galleries in Wan2GP (a list of images), the others take one file.
GALLERY_FIELDS: tuple[str, ...] = ("image_start", "image_end", "image_refs")
#: The first-class fields that map one to one to ``save_inputs`` parameters.
SAVE_INPUT_FIELDS: tuple[str, ...] = (
    "prompt",
    "negative_prompt",
    "resolution",
    "video_length",
    "seed",
    "num_inference_steps",
    "guidance_scale",
    *MEDIA_FIELDS,
)
#: Wan2GP ignores media unless these flags name them (a start image needs "S" in
#: ``image_prompt_type``); set from the media given unless ``extra`` sets them.
FLAG_FIELDS: tuple[str, ...] = ("image_prompt_type", "video_prompt_type", "audio_prompt_type")

_RESOLUTION = re.compile(r"^\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*$")
_RESOLUTION_RANGE = (64, 4096)


@dataclass
class Wan2GPSettings:
    """One video generation, in Wan2GP's terms.

    ``model`` is the web UI's ``model_choice`` (MCP's ``model_type``); ``None`` keeps the
    model the server has loaded. ``extra`` carries any other ``save_inputs`` parameter by
    its exact name; everything not given stays at the server's default.
    """

    prompt: str
    negative_prompt: str = ""
    resolution: str = "832x480"
    video_length: int = 81
    seed: int = -1
    num_inference_steps: int = 30
    guidance_scale: float = 5.0
    model: str | None = None
    image_start: str | Path | None = None
    image_end: str | Path | None = None
    image_refs: Sequence[str | Path] = ()
    video_guide: str | Path | None = None
    audio_guide: str | Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(
        self,
        limits: Mapping[str, tuple[float, float]] | None = None,
        choices: Mapping[str, Sequence[str]] | None = None,
        known_names: Collection[str] | None = None,
        service: str = SERVICE,
    ) -> None:
        """Raise :class:`InvalidSetting` naming the first bad field and what is allowed.

        :param limits: ranges the running app reports, overriding :data:`DEFAULT_LIMITS`.
        :param choices: allowed values the app reports (``resolution``, ``model``).
        :param known_names: the app's ``save_inputs`` parameter names, to check ``extra``.
        """
        ranges = {**DEFAULT_LIMITS, **(limits or {})}
        allowed_values = choices or {}

        def bad(name: str, value: Any, allowed: str, problem: str = "") -> InvalidSetting:
            text = problem or f"{value!r} is outside the allowed range"
            return InvalidSetting(
                f"The setting {name} is invalid: {text} (allowed: {allowed}).",
                service=service,
                hints=[f"Set {name} to {allowed}."],
                details={"field": name, "value": value, "allowed": allowed},
            )

        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise bad("prompt", self.prompt, "a non-empty text", "the prompt is empty")
        if not isinstance(self.negative_prompt, str):
            raise bad("negative_prompt", self.negative_prompt, "a text", "it is not a text")
        self._check_resolution(allowed_values.get("resolution"), bad)
        for name, kind in (("video_length", int), ("seed", int), ("num_inference_steps", int), ("guidance_scale", float)):
            value = getattr(self, name)
            low, high = ranges[name]
            allowed = f"{_number(low)}–{_number(high)}"
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
                raise bad(name, value, allowed, f"{value!r} is not {'a whole number' if kind is int else 'a number'}")
            if not low <= value <= high:
                raise bad(name, value, allowed)
        models = allowed_values.get("model")
        if self.model is not None and models and self.model not in models:
            raise bad("model", self.model, ", ".join(models), f"{self.model!r} is not a model this server offers")
        for name in MEDIA_FIELDS:
            for path in self._paths(name):
                if not Path(path).expanduser().is_file():
                    raise bad(name, str(path), "a path to an existing file", f"the file {path} does not exist")
        self._check_extra(known_names, bad)

    def _check_resolution(self, choices: Sequence[str] | None, bad: Any) -> None:
        match = _RESOLUTION.match(self.resolution) if isinstance(self.resolution, str) else None
        if choices:
            if match is None or normalize_resolution(self.resolution) not in choices:
                raise bad("resolution", self.resolution, ", ".join(choices), f"{self.resolution!r} is not offered by this model")
            return
        low, high = _RESOLUTION_RANGE
        allowed = f"WIDTHxHEIGHT with each side {low}–{high}, e.g. 832x480"
        if match is None:
            raise bad("resolution", self.resolution, allowed, f"{self.resolution!r} is not WIDTHxHEIGHT")
        if not all(low <= int(side) <= high for side in match.groups()):
            raise bad("resolution", self.resolution, allowed)

    def _check_extra(self, known_names: Collection[str] | None, bad: Any) -> None:
        first_class = {f.name for f in fields(self)} - {"extra"}
        for name in self.extra:
            if name in first_class:
                raise bad(f"extra[{name!r}]", self.extra[name], f"the {name} field itself", f"{name} has its own field")
            if known_names is not None and name not in known_names and name not in FLAG_FIELDS:
                close = difflib.get_close_matches(name, list(known_names), n=3)
                allowed = ("did you mean " + ", ".join(close)) if close else "a save_inputs parameter name of this Wan2GP"
                raise bad(f"extra[{name!r}]", self.extra[name], allowed, f"Wan2GP has no setting named {name!r}")

    def _paths(self, name: str) -> list[str | Path]:
        value = getattr(self, name)
        if value is None or value == "":
            return []
        if isinstance(value, (str, Path)):
            return [value]
        return list(value)

    def media(self) -> dict[str, list[Path]]:
        """The local files to upload, by field name (only fields that have some)."""
        return {name: [Path(p).expanduser() for p in self._paths(name)] for name in MEDIA_FIELDS if self._paths(name)}

    def to_save_inputs(self) -> dict[str, Any]:
        """The exact ``save_inputs`` parameter names and values (media as local path strings).

        Single-file fields (``video_guide``, ``audio_guide``) hold one path; gallery
        fields (``image_start``, ``image_end``, ``image_refs``) hold a list of paths.
        """
        values: dict[str, Any] = {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "resolution": normalize_resolution(self.resolution),
            "video_length": int(self.video_length),
            "seed": int(self.seed),
            "num_inference_steps": int(self.num_inference_steps),
            "guidance_scale": float(self.guidance_scale),
        }
        media = self.media()
        for name, paths in media.items():
            values[name] = [str(p) for p in paths] if name in GALLERY_FIELDS else str(paths[0])
        values.update(_media_flags(media))
        values.update(self.extra)
        return values


def _media_flags(media: Mapping[str, Any]) -> dict[str, str]:
    """Wan2GP's own letters telling it which media inputs to use."""
    flags: dict[str, str] = {}
    image = ("S" if "image_start" in media else "") + ("E" if "image_end" in media else "")
    if image:
        flags["image_prompt_type"] = image
    video = ("V" if "video_guide" in media else "") + ("I" if "image_refs" in media else "")
    if video:
        flags["video_prompt_type"] = video
    if "audio_guide" in media:
        flags["audio_prompt_type"] = "A"
    return flags


def normalize_resolution(text: str) -> str:
    """``" 832 X 480 "`` → ``"832x480"``; anything else is returned unchanged."""
    match = _RESOLUTION.match(text) if isinstance(text, str) else None
    return f"{int(match.group(1))}x{int(match.group(2))}" if match else text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class GenerationResult:
    """What one generation produced: files copied into the caller's folder."""

    files: tuple[Path, ...]
    transport: str
    elapsed_s: float
    sent: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [str(path) for path in self.files],
            "transport": self.transport,
            "elapsed_s": round(self.elapsed_s, 3),
            "sent": dict(self.sent),
            "details": dict(self.details),
        }


@runtime_checkable
class Wan2GPTransport(Protocol):
    """One way of driving Wan2GP; ``webui`` and ``mcp`` implement it alike.

    ``generate`` blocks until the video is in ``out_dir`` (or raises one of our typed
    errors); ``abort`` may be called from another thread and stops what this transport
    started. Every wait is bounded by ``timeout`` (seconds; ``None`` means the
    service's configured timeout).
    """

    name: ClassVar[str]

    def generate(
        self,
        settings: Wan2GPSettings,
        out_dir: Path,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> GenerationResult: ...

    def abort(self) -> None: ...

    def clear_queue(self) -> None: ...

    def models(self) -> list[str]:
        """The model names ``Wan2GPSettings.model`` may take on this server."""
        ...

    def health(self) -> HealthSample:
        """One cheap check (never a generation): is the server up, how busy."""
        ...

    def close(self) -> None: ...


def video_capabilities(models: Sequence[str], details: Mapping[str, Any]) -> list[Capability]:
    """``video.generate`` once per model, or once without a model when the server names none."""
    return [Capability("video.generate", id=model, limits=DEFAULT_LIMITS, details=details) for model in models] or [
        Capability("video.generate", limits=DEFAULT_LIMITS, details=details)
    ]


__all__ = [
    "DEFAULT_LIMITS",
    "FLAG_FIELDS",
    "GALLERY_FIELDS",
    "MEDIA_FIELDS",
    "SAVE_INPUT_FIELDS",
    "GenerationResult",
    "Wan2GPSettings",
    "Wan2GPTransport",
    "normalize_resolution",
    "video_capabilities",
]
