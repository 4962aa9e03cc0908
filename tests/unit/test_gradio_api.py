"""Reading a Gradio app's /config + /info: endpoints, parameters, file shapes, argument checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from movie_director.errors import InvalidSetting, NotFound
from movie_director_plugins.gradio.api import Endpoint, Parameter, base_name, check_arguments, coerce, file_shape, is_gradio_config, parse_app, wrap_files

FILE_DATA = {"properties": {"path": {"type": "string"}, "meta": {"$ref": "#/$defs/FileDataMeta"}}, "title": "FileData", "type": "object"}
VIDEO = {"$defs": {"FileData": FILE_DATA}, "properties": {"video": {"$ref": "#/$defs/FileData"}, "subtitles": {"anyOf": [{"$ref": "#/$defs/FileData"}, {"type": "null"}]}}, "type": "object"}
GALLERY = {
    "$defs": {"FileData": FILE_DATA},
    "type": "array",
    "items": {"anyOf": [{"properties": {"image": {"$ref": "#/$defs/FileData"}, "caption": {}}}, {"properties": {"video": {"$ref": "#/$defs/FileData"}, "caption": {}}}]},
}


def parameter(name: str, component: str, type_: dict[str, Any], python_type: str = "str", default: Any = None, required: bool = False) -> dict[str, Any]:
    return {
        "label": name,
        "parameter_name": name,
        "parameter_has_default": not required,
        "parameter_default": default,
        "type": type_,
        "python_type": {"type": python_type},
        "component": component,
    }


def sample_app() -> Any:
    components = [
        {"id": 1, "type": "state", "props": {}},
        {"id": 2, "type": "textbox", "props": {"value": ""}},
        {"id": 3, "type": "slider", "props": {"minimum": 1, "maximum": 150, "value": 30}},
        {"id": 4, "type": "dropdown", "props": {"value": "832x480"}},
        {"id": 5, "type": "video", "props": {}},
        {"id": 6, "type": "gallery", "props": {}},
        {"id": 7, "type": "dropdown", "props": {"allow_custom_value": True}},
        {"id": 8, "type": "html", "props": {}},
    ]
    dependencies = [
        {"id": 0, "api_name": "run_2", "inputs": [1, 2, 3, 4, 5, 6, 7], "outputs": [8], "targets": [[9, "click"]], "types": {"generator": True}},
        {"id": 1, "api_name": "hidden", "inputs": [2], "outputs": [8], "show_api": False, "targets": []},
        {"id": 2, "api_name": "private", "inputs": [2], "outputs": [8], "api_visibility": "private", "targets": []},
        {"id": 3, "api_name": False, "inputs": [], "outputs": [8], "targets": []},
    ]
    config = {"version": "5.29.1", "protocol": "sse_v3", "api_prefix": "/gradio_api", "title": "t", "app_id": 42, "components": components, "dependencies": dependencies}
    info = {
        "named_endpoints": {
            "/run_2": {
                "parameters": [
                    parameter("prompt", "Textbox", {"type": "string"}, required=True),
                    parameter("steps", "Slider", {"type": "number"}, "float", 30),
                    parameter("resolution", "Dropdown", {"type": "string", "enum": ["832x480", "480x832"]}, "Literal", "832x480"),
                    parameter("guide", "Video", VIDEO, "dict"),
                    parameter("refs", "Gallery", GALLERY, "list", []),
                    parameter("mode", "Dropdown", {"type": "string", "enum": []}, "str", None, required=True),
                ],
                "returns": [{"label": "queue", "component": "Html"}],
            },
            "/hidden": {"parameters": [parameter("text", "Textbox", {"type": "string"})], "returns": []},
            "/private": {"parameters": [], "returns": []},
        },
        "unnamed_endpoints": {},
    }
    return parse_app("http://127.0.0.1:7860/", config, info)


def test_endpoints_join_config_and_info() -> None:
    app = sample_app()
    assert set(app.endpoints) == {"run_2", "hidden"}  # private and unnamed ones are not callable
    run = app.endpoint("/run_2")
    assert (run.fn_index, run.base_name, run.generator, run.documented) == (0, "run", True, True)
    assert run.parameter_names == ("prompt", "steps", "resolution", "guide", "refs", "mode")
    steps = run.parameter("steps")
    assert steps is not None and (steps.component_id, steps.minimum, steps.maximum, steps.required) == (3, 1.0, 150.0, False)
    assert run.parameter("resolution").choices == ("832x480", "480x832")  # type: ignore[union-attr]
    assert run.parameter("mode").choices is None  # type: ignore[union-attr]  # custom values allowed
    assert not app.endpoint("hidden").documented
    assert app.api_root == "http://127.0.0.1:7860/gradio_api"
    assert app.summary()["endpoints"] == 2


def test_unknown_endpoint_suggests_close_names() -> None:
    with pytest.raises(NotFound) as caught:
        sample_app().endpoint("run")
    assert caught.value.details["close_matches"] == ["run_2"]


def test_session_config_keeps_only_the_events_called() -> None:
    config = sample_app().session_config([0])
    assert [d["id"] for d in config["dependencies"]] == [0]
    assert {c["id"] for c in config["components"]} == {1, 2, 3, 4, 5, 6, 7, 8}
    assert sample_app().session_config([1])["components"] == [{"id": 2, "type": "textbox", "props": {"value": ""}}, {"id": 8, "type": "html", "props": {}}]


@pytest.mark.parametrize(("name", "base"), [("/save_inputs_16", "save_inputs"), ("init_generate", "init_generate"), ("abort_generation_1", "abort_generation")])
def test_base_name(name: str, base: str) -> None:
    assert base_name(name) == base


def test_file_shapes() -> None:
    assert file_shape(FILE_DATA) == "file"
    assert file_shape(VIDEO) == "video"
    assert file_shape(GALLERY) == "gallery"
    assert file_shape({"type": "array", "items": FILE_DATA}) == "files"
    assert file_shape({"type": "string"}) is None


def test_wrap_files_builds_each_shape(tmp_path: Path) -> None:
    image, clip = tmp_path / "a.png", tmp_path / "b.mp4"
    image.write_bytes(b"x")
    clip.write_bytes(b"y")
    run = sample_app().endpoint("run_2")

    def upload(path: str) -> dict[str, str]:
        return {"path": path}

    assert wrap_files(run.parameter("guide"), clip, upload) == {"video": {"path": str(clip)}, "subtitles": None}  # type: ignore[arg-type]
    assert wrap_files(run.parameter("refs"), [image, clip], upload) == [  # type: ignore[arg-type]
        {"image": {"path": str(image)}, "caption": None},
        {"video": {"path": str(clip)}, "caption": None},
    ]
    already = {"path": "/tmp/gradio/x.png", "meta": {"_type": "gradio.FileData"}}
    assert wrap_files(run.parameter("guide"), already, upload) is already  # type: ignore[arg-type]
    assert wrap_files(run.parameter("prompt"), "text", upload) == "text"  # type: ignore[arg-type]
    with pytest.raises(InvalidSetting) as caught:
        wrap_files(run.parameter("guide"), tmp_path / "missing.mp4", upload)  # type: ignore[arg-type]
    assert caught.value.details["field"] == "guide"


def test_check_arguments_refuses_before_sending() -> None:
    run = sample_app().endpoint("run_2")
    check_arguments(run, {"prompt": "x", "mode": None})
    with pytest.raises(InvalidSetting, match="did you mean steps"):
        check_arguments(run, {"prompt": "x", "mode": None, "stpes": 3})
    with pytest.raises(InvalidSetting, match="needs a value for 'prompt'"):
        check_arguments(run, {"mode": None})
    with pytest.raises(InvalidSetting) as caught:
        check_arguments(run, {"prompt": "x", "mode": None, "resolution": "1x1"})
    assert caught.value.details["allowed"] == "832x480, 480x832"


def test_coerce_uses_the_parameter_type() -> None:
    run = sample_app().endpoint("run_2")
    steps = run.parameter("steps")
    assert coerce(steps, "12.5") == 12.5  # type: ignore[arg-type]
    twelve = coerce(steps, "12")  # type: ignore[arg-type]
    assert twelve == 12 and type(twelve) is int  # sent as the JSON int 12, as gradio_client sends 12
    assert coerce(steps, "nope") == "nope"  # type: ignore[arg-type]
    assert coerce(run.parameter("refs"), "[1, 2]") == [1, 2]  # type: ignore[arg-type]
    assert coerce(run.parameter("prompt"), "12") == "12"  # type: ignore[arg-type]


def test_numbers_that_do_not_fit_are_refused_naming_the_parameter() -> None:
    whole = Endpoint("caption", 0, (Parameter("text", "Textbox", "str", True), Parameter("words", "Number", "int", False, 2), Parameter("scale", "Number", "float", False, 1.0)))
    for parameter, value in (("words", 2.5), ("words", "abc"), ("scale", "abc"), ("words", True)):
        with pytest.raises(InvalidSetting, match=f"'{parameter}' on /caption takes a") as caught:
            check_arguments(whole, {"text": "x", parameter: coerce(whole.parameter(parameter), value)})  # type: ignore[arg-type]
        assert caught.value.details["field"] == parameter
    check_arguments(whole, {"text": "x", "words": coerce(whole.parameter("words"), "2.0"), "scale": 2})  # type: ignore[arg-type]
    assert coerce(whole.parameter("words"), "2.0") == 2  # type: ignore[arg-type]


def test_is_gradio_config() -> None:
    assert is_gradio_config({"version": "6.0", "components": [], "dependencies": []})
    assert not is_gradio_config({"system": {}})
    assert not is_gradio_config(["x"])
