"""Wan2GPSettings: validation names the field and its range; save_inputs names are exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from movie_director.backend import HealthSample
from movie_director.errors import InvalidSetting
from movie_director_plugins.wan2gp.settings import (
    DEFAULT_LIMITS,
    GenerationResult,
    Wan2GPSettings,
    Wan2GPTransport,
    normalize_resolution,
)


def test_defaults_are_wan2gps_own() -> None:
    values = Wan2GPSettings(prompt="a cat").to_save_inputs()
    assert values == {
        "prompt": "a cat",
        "negative_prompt": "",
        "resolution": "832x480",
        "video_length": 81,
        "seed": -1,
        "num_inference_steps": 30,
        "guidance_scale": 5.0,
    }


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("video_length", 4, "5–257"),
        ("video_length", 258, "5–257"),
        ("video_length", 80.5, "5–257"),
        ("num_inference_steps", 0, "1–150"),
        ("num_inference_steps", 151, "1–150"),
        ("guidance_scale", 0.5, "1–20"),
        ("guidance_scale", 21, "1–20"),
        ("seed", -2, "-1–4294967295"),
        ("seed", True, "-1–4294967295"),
    ],
)
def test_out_of_range_names_field_and_range(field: str, value: object, allowed: str) -> None:
    settings = Wan2GPSettings(prompt="x", **{field: value})
    with pytest.raises(InvalidSetting) as caught:
        settings.validate()
    error = caught.value
    assert field in error.message and allowed in error.message
    assert error.details == {"field": field, "value": value, "allowed": allowed}
    assert error.code == "invalid_setting"


def test_limits_reported_by_the_app_win() -> None:
    Wan2GPSettings(prompt="x", guidance_scale=25).validate(limits={"guidance_scale": (1, 30)})
    with pytest.raises(InvalidSetting, match="1–30"):
        Wan2GPSettings(prompt="x", guidance_scale=31).validate(limits={"guidance_scale": (1, 30)})


def test_empty_prompt_refused() -> None:
    with pytest.raises(InvalidSetting, match="prompt"):
        Wan2GPSettings(prompt="  ").validate()


def test_resolution_must_be_one_of_the_models_choices() -> None:
    choices = {"resolution": ["832x480", "480x832"]}
    Wan2GPSettings(prompt="x", resolution=" 480 X 832").validate(choices=choices)
    with pytest.raises(InvalidSetting) as caught:
        Wan2GPSettings(prompt="x", resolution="1280x720").validate(choices=choices)
    assert caught.value.details["allowed"] == "832x480, 480x832"


@pytest.mark.parametrize("resolution", ["832*480", "big", "10x480", "832x99999"])
def test_resolution_shape_checked_without_choices(resolution: str) -> None:
    with pytest.raises(InvalidSetting, match="resolution"):
        Wan2GPSettings(prompt="x", resolution=resolution).validate()


def test_model_checked_against_the_servers_list() -> None:
    Wan2GPSettings(prompt="x", model="t2v").validate(choices={"model": ["t2v", "i2v"]})
    with pytest.raises(InvalidSetting, match="t2v, i2v"):
        Wan2GPSettings(prompt="x", model="nope").validate(choices={"model": ["t2v", "i2v"]})


def test_missing_media_file_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting) as caught:
        Wan2GPSettings(prompt="x", image_refs=[tmp_path / "nope.png"]).validate()
    assert caught.value.details["field"] == "image_refs"


def test_media_become_paths_and_wan2gp_flags(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.bin" for name in ("s", "e", "r1", "r2", "v", "a")}
    for path in files.values():
        path.write_bytes(b"x")
    settings = Wan2GPSettings(
        prompt="x",
        image_start=files["s"],
        image_end=str(files["e"]),
        image_refs=[files["r1"], files["r2"]],
        video_guide=files["v"],
        audio_guide=files["a"],
    )
    settings.validate()
    values = settings.to_save_inputs()
    assert values["image_start"] == [str(files["s"])]
    assert values["image_end"] == [str(files["e"])]
    assert values["image_refs"] == [str(files["r1"]), str(files["r2"])]
    assert values["video_guide"] == str(files["v"])
    assert values["audio_guide"] == str(files["a"])
    assert (values["image_prompt_type"], values["video_prompt_type"], values["audio_prompt_type"]) == ("SE", "VI", "A")


def test_extra_passes_through_and_overrides_flags() -> None:
    settings = Wan2GPSettings(prompt="x", extra={"flow_shift": 3.0, "image_prompt_type": "T"})
    settings.validate(known_names={"flow_shift", "prompt"})
    assert settings.to_save_inputs()["flow_shift"] == 3.0
    assert settings.to_save_inputs()["image_prompt_type"] == "T"


def test_extra_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(InvalidSetting, match="flow_shift"):
        Wan2GPSettings(prompt="x", extra={"flow_shif": 3.0}).validate(known_names={"flow_shift", "prompt"})


def test_extra_cannot_shadow_a_field() -> None:
    with pytest.raises(InvalidSetting, match="own field"):
        Wan2GPSettings(prompt="x", extra={"seed": 3}).validate()


def test_normalize_resolution() -> None:
    assert normalize_resolution(" 832 X 480 ") == "832x480"
    assert normalize_resolution("odd") == "odd"


def test_defaults_cover_the_documented_ranges() -> None:
    assert DEFAULT_LIMITS["video_length"] == (5, 257)
    assert DEFAULT_LIMITS["num_inference_steps"] == (1, 150)


def test_result_serialises(tmp_path: Path) -> None:
    result = GenerationResult(files=(tmp_path / "a.mp4",), transport="webui", elapsed_s=1.23456, sent={"seed": 1})
    assert result.to_dict()["files"] == [str(tmp_path / "a.mp4")]
    assert result.to_dict()["elapsed_s"] == 1.235


def test_transport_protocol_is_structural() -> None:
    class Fake:
        name = "fake"

        def generate(self, settings, out_dir, on_progress=None, timeout=None):  # noqa: ANN001, ANN202
            return GenerationResult((), "fake", 0.0)

        def abort(self) -> None: ...

        def clear_queue(self) -> None: ...

        def models(self) -> list[str]:
            return []

        def health(self) -> HealthSample:
            return HealthSample(ok=True, latency_ms=1.0)

        def close(self) -> None: ...

    assert isinstance(Fake(), Wan2GPTransport)
    assert not isinstance(object(), Wan2GPTransport)
