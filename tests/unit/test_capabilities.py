"""Typed capability limits: standard ranges, narrowing by the live service, validation errors."""

from __future__ import annotations

import pytest

from movie_director.backend import Backend, Capability
from movie_director.capabilities import (
    IMAGE_GENERATE,
    LLM_CHAT,
    VIDEO_GENERATE,
    Limit,
    collect,
    limits_of,
    standard,
    summary,
    validate,
)
from movie_director.check import adhoc_service
from movie_director.errors import InvalidSetting
from movie_director.plugins import PluginManager


def test_valid_requests_pass_through_untouched() -> None:
    params = {"width": 1024, "height": 576, "steps": 30, "prompt": "a fox"}
    assert validate(IMAGE_GENERATE, params) is params
    assert validate(VIDEO_GENERATE, {"width": 1920, "height": 1080, "frames": 300, "fps": 60})
    assert validate(LLM_CHAT, {"max_tokens": 256, "temperature": 0, "top_p": 1.0})


@pytest.mark.parametrize(
    ("capability", "field", "value", "allowed"),
    [
        (IMAGE_GENERATE, "width", 4096, "64–2048"),
        (IMAGE_GENERATE, "height", 32, "64–2048"),
        (IMAGE_GENERATE, "steps", 151, "1–150"),
        (VIDEO_GENERATE, "width", 2048, "64–1920"),
        (VIDEO_GENERATE, "height", 1081, "64–1080"),
        (VIDEO_GENERATE, "frames", 0, "1–300"),
        (VIDEO_GENERATE, "fps", 61, "1–60"),
        (LLM_CHAT, "temperature", 2.5, "0–2"),
        (LLM_CHAT, "top_p", -0.1, "0–1"),
        (LLM_CHAT, "max_tokens", 0, "1–1048576"),
    ],
)
def test_an_out_of_range_value_is_refused_naming_field_and_limit(capability: str, field: str, value: float, allowed: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        validate(capability, {field: value}, service="ComfyUI")
    error = caught.value
    assert field in error.message and allowed in error.message
    assert error.details["field"] == field
    assert error.details["value"] == value
    assert error.details["allowed"] == allowed
    assert error.service == "ComfyUI"
    assert any(allowed in hint for hint in error.hints)


def test_every_bad_field_is_listed_at_once() -> None:
    with pytest.raises(InvalidSetting) as caught:
        validate(IMAGE_GENERATE, {"width": 4096, "height": 512, "steps": 0})
    fields = [problem["field"] for problem in caught.value.details["problems"]]
    assert fields == ["width", "steps"]
    assert "width 4096 is above the maximum" in caught.value.message
    assert "steps 0 is below the minimum" in caught.value.message


@pytest.mark.parametrize("value", [1.5, True, "512", None])
def test_whole_number_fields_refuse_other_types(value: object) -> None:
    with pytest.raises(InvalidSetting, match="not a whole number"):
        validate(IMAGE_GENERATE, {"width": value})


def test_a_whole_float_is_a_whole_number_and_number_fields_refuse_text() -> None:
    assert validate(IMAGE_GENERATE, {"steps": 20.0})
    with pytest.raises(InvalidSetting, match="'hot' is not a number"):
        validate(LLM_CHAT, {"temperature": "hot"})


def test_the_live_service_narrows_the_standard_limits_but_never_widens_them() -> None:
    model = standard(LLM_CHAT, id="mock-gpt", limits={"max_tokens": (1, 16384)}, details={"mode": "chat"})
    assert model.limits["max_tokens"] == (1, 16384)
    assert model.limits["temperature"] == (0.0, 2.0)
    with pytest.raises(InvalidSetting, match="1–16384"):
        validate(model, {"max_tokens": 20000})
    node = standard(IMAGE_GENERATE, id="EmptyLatentImage", limits={"width": (16, 16384)})
    assert node.limits["width"] == (64, 2048)
    assert limits_of(node)["width"] == Limit(64, 2048, int)


def test_a_third_party_family_is_validated_with_its_own_limits() -> None:
    audio = Capability("audio.generate", "tts", limits={"seconds": (1, 30)})
    assert validate(audio, {"seconds": 12.5, "voice": "any"})
    with pytest.raises(InvalidSetting) as caught:
        validate(audio, {"seconds": 31})
    assert caught.value.details["field"] == "seconds"
    assert "audio.generate" in caught.value.message


def test_summary_counts_each_family() -> None:
    found = [Capability("comfyui.node", "KSampler"), Capability("comfyui.node", "SaveImage"), standard(IMAGE_GENERATE)]
    assert summary(found) == {"comfyui.node": 2, "image.generate": 1}


class _Connection:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _Live(Backend):
    kind = "live"
    connection = _Connection()
    fail = False

    def connect(self, service):  # type: ignore[no-untyped-def]
        type(self).connection = _Connection()
        return type(self).connection

    def capabilities(self, connection):  # type: ignore[no-untyped-def]
        if self.fail:
            raise RuntimeError("lost")
        return [standard(VIDEO_GENERATE, id="t2v")]


def test_collect_asks_the_live_service_and_always_closes_the_connection() -> None:
    manager = PluginManager(entry_points=[])
    backend = _Live()
    service = adhoc_service("http://127.0.0.1:9", "live", manager)
    assert [capability.id for capability in collect(backend, service)] == ["t2v"]
    assert _Live.connection.closed
    backend.fail = True
    with pytest.raises(RuntimeError):
        collect(backend, service)
    assert _Live.connection.closed
