"""Typed capability limits, and the check every request passes before it is sent.

A backend reports what a live service can do as :class:`~movie_director.backend.Capability`
values (ComfyUI node classes and models, Wan2GP models and modes, LiteLLM's model list).
The three families the add-on drives have product-wide limits (:data:`STANDARD`); a
service may narrow them (a model's ``max_output_tokens``, a node's ``max``), never widen
them. :func:`standard` builds a capability with the narrowed limits, :func:`limits_of`
gives the limits in force, and :func:`validate` refuses a request outside them with an
:class:`~movie_director.errors.InvalidSetting` that names the field and the limit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from movie_director.backend import Backend, Capability
from movie_director.errors import InvalidSetting

if TYPE_CHECKING:
    from movie_director.configdata import ServiceConfig

log = logging.getLogger(__name__)

IMAGE_GENERATE = "image.generate"
VIDEO_GENERATE = "video.generate"
LLM_CHAT = "llm.chat"


@dataclass(frozen=True)
class Limit:
    """An inclusive range and the type a value must have (``int`` refuses 1.5 and ``True``)."""

    minimum: float
    maximum: float
    type: type = float

    def allowed(self) -> str:
        return f"{_number(self.minimum)}–{_number(self.maximum)}"

    def narrowed(self, minimum: float, maximum: float) -> Limit:
        """The part of this range inside (minimum, maximum) (empty, so refusing everything, if disjoint)."""
        return Limit(max(self.minimum, minimum), min(self.maximum, maximum), self.type)

    def problem(self, value: Any) -> str:
        """Why ``value`` is refused, or ``""`` when it fits."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} is not {'a whole number' if self.type is int else 'a number'}"
        if self.type is int and not float(value).is_integer():
            return f"{value!r} is not a whole number"
        if value < self.minimum:
            return f"{_number(value)} is below the minimum"
        if value > self.maximum:
            return f"{_number(value)} is above the maximum"
        return ""


#: The product's limits per capability family; services narrow them, never widen them.
STANDARD: Mapping[str, Mapping[str, Limit]] = {
    IMAGE_GENERATE: {"width": Limit(64, 2048, int), "height": Limit(64, 2048, int), "steps": Limit(1, 150, int)},
    VIDEO_GENERATE: {
        "width": Limit(64, 1920, int),
        "height": Limit(64, 1080, int),
        "frames": Limit(1, 300, int),
        "fps": Limit(1, 60, int),
    },
    LLM_CHAT: {"max_tokens": Limit(1, 1_048_576, int), "temperature": Limit(0.0, 2.0), "top_p": Limit(0.0, 1.0)},
}

_LABELS = {IMAGE_GENERATE: "image generation", VIDEO_GENERATE: "video generation", LLM_CHAT: "text generation"}


def standard(name: str, id: str = "", limits: Mapping[str, tuple[float, float]] | None = None, details: Mapping[str, Any] | None = None) -> Capability:
    """A capability of family ``name`` whose limits are the standard ones narrowed by ``limits``.

    Backends call this with what the live service reports, e.g.
    ``standard(LLM_CHAT, id="mock-gpt", limits={"max_tokens": (1, 16384)})``.
    """
    merged = dict(limits or {})
    for field, limit in STANDARD.get(name, {}).items():
        reported = merged.get(field)
        narrowed = limit.narrowed(*reported) if reported else limit
        merged[field] = (narrowed.minimum, narrowed.maximum)
    return Capability(name=name, id=id, limits=merged, details=dict(details or {}))


def limits_of(capability: Capability | str) -> dict[str, Limit]:
    """The typed limits in force: the family's standard ones narrowed by what the capability reports."""
    name = capability if isinstance(capability, str) else capability.name
    reported = {} if isinstance(capability, str) else capability.limits
    result = dict(STANDARD.get(name, {}))
    for field, (low, high) in reported.items():
        base = result.get(field)
        result[field] = base.narrowed(low, high) if base else Limit(low, high)
    return result


def validate(capability: Capability | str, params: Mapping[str, Any], service: str | None = None) -> Mapping[str, Any]:
    """Return ``params`` when every limited field in it fits; else raise :class:`InvalidSetting`.

    Fields without a limit (the prompt, a seed) pass through unchecked. The error names
    every bad field with its value and the allowed range; ``details`` carries the first
    one as ``field``/``value``/``allowed`` (like the other ``InvalidSetting`` users) and
    all of them under ``problems``.
    """
    name = capability if isinstance(capability, str) else capability.name
    problems = []
    for field, limit in limits_of(capability).items():
        if field in params:
            problem = limit.problem(params[field])
            if problem:
                problems.append({"field": field, "value": params[field], "allowed": limit.allowed(), "problem": problem})
    if not problems:
        return params
    label = _LABELS.get(name, name)
    first = problems[0]
    raise InvalidSetting(
        f"The {label} settings are invalid: " + "; ".join(f"{p['field']} {p['problem']} (allowed: {p['allowed']})" for p in problems) + ".",
        service=service,
        hints=[f"Set {p['field']} to a value from {p['allowed']}." for p in problems],
        details={"capability": name, "field": first["field"], "value": first["value"], "allowed": first["allowed"], "problems": problems},
    )


def collect(backend: Backend[Any], service: ServiceConfig) -> tuple[Capability, ...]:
    """Ask the live service what it can do now: connect, ``capabilities``, close.

    One-shot (discovery, the ``services`` command); the connection manager keeps its
    own pooled connections and calls ``backend.capabilities`` itself.
    """
    connection = backend.connect(service)
    try:
        return tuple(backend.capabilities(connection))
    finally:
        connection.close()


def summary(capabilities: tuple[Capability, ...] | list[Capability]) -> dict[str, int]:
    """How many capabilities of each family: what a discovery row or a status line shows."""
    counts: dict[str, int] = {}
    for capability in capabilities:
        counts[capability.name] = counts.get(capability.name, 0) + 1
    return dict(sorted(counts.items()))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


__all__ = ["IMAGE_GENERATE", "LLM_CHAT", "STANDARD", "VIDEO_GENERATE", "Limit", "collect", "limits_of", "standard", "summary", "validate"]
