"""The CLI's pieces that need no server: key=value parsing, Ctrl-C around a call."""

from __future__ import annotations

import pytest

from movie_director.cli.output import ProgressPrinter, with_progress
from movie_director.errors import InvalidSetting
from movie_director_plugins.gradio.api import Endpoint, Parameter
from movie_director_plugins.gradio.cli import parse_arguments, parse_value

ENDPOINT = Endpoint(
    api_name="generate",
    fn_index=0,
    parameters=(
        Parameter("prompt", "Textbox", "str", True),
        Parameter("steps", "Number", "int", False, 6),
        Parameter("strength", "Slider", "float", False, 1.0),
        Parameter("image", "Image", "filepath", False, file_shape="file"),
        Parameter("options", "JSON", "Dict[Any, Any]", False),
    ),
)


def test_arguments_take_the_parameters_types() -> None:
    arguments = parse_arguments(ENDPOINT, ["prompt=42", "steps=8", "strength=0.5", "image=in.png", "options={\"a\": 1}", "extra=[1, 2]"])
    assert arguments == {"prompt": "42", "steps": 8, "strength": 0.5, "image": "in.png", "options": {"a": 1}, "extra": [1, 2]}


def test_a_value_without_equals_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="KEY=VALUE"):
        parse_arguments(ENDPOINT, ["prompt"])


def test_unknown_parameters_keep_json_or_text() -> None:
    assert parse_value(None, "true") is True
    assert parse_value(None, "a cat") == "a cat"


def test_ctrl_c_returns_none_and_always_closes(capsys: pytest.CaptureFixture[str]) -> None:
    closed: list[bool] = []

    def interrupted(printer: ProgressPrinter) -> None:
        raise KeyboardInterrupt

    assert with_progress(interrupted, lambda: closed.append(True), "Interrupted: cancelled on the server.") is None
    assert closed == [True] and "cancelled on the server" in capsys.readouterr().err
    with pytest.raises(InvalidSetting):
        with_progress(lambda printer: parse_arguments(ENDPOINT, ["bad"]), lambda: closed.append(True), "")
    assert closed == [True, True]
    assert with_progress(lambda printer: 7, lambda: None, "") == 7
