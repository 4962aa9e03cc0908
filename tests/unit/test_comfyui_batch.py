"""Distinct runs of one graph for ``comfyui run --repeat``, and the error when no instance has a node."""

from __future__ import annotations

import pytest

from movie_director.cli import main
from movie_director_plugins.comfyui.batch import distinct_runs, no_instance_can_run

GRAPH = {
    "1": {"class_type": "KSampler", "inputs": {"seed": 41, "steps": 2, "model": ["4", 0]}},
    "2": {"class_type": "SamplerCustom", "inputs": {"noise_seed": 7}},
    "3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "shot", "images": ["1", 0]}},
    "4": {"class_type": "Loader", "inputs": {"seed": ["9", 0]}},
}


def test_each_run_gets_its_prefix_suffix_and_raised_seeds_without_touching_the_original() -> None:
    runs = distinct_runs(GRAPH, 12)
    assert [run["3"]["inputs"]["filename_prefix"] for run in runs] == [f"shot_r{index:02}" for index in range(1, 13)]
    assert [run["1"]["inputs"]["seed"] for run in runs] == list(range(41, 53))
    assert [run["2"]["inputs"]["noise_seed"] for run in runs] == list(range(7, 19))
    assert all(run["4"]["inputs"]["seed"] == ["9", 0] for run in runs), "a linked seed stays a link"
    assert GRAPH["1"]["inputs"]["seed"] == 41 and GRAPH["3"]["inputs"]["filename_prefix"] == "shot"


def test_a_hundred_runs_number_with_three_digits() -> None:
    assert distinct_runs(GRAPH, 100)[6]["3"]["inputs"]["filename_prefix"] == "shot_r007"


def test_no_instance_error_names_the_nodes_and_every_instance_checked() -> None:
    error = no_instance_can_run({"http://a:8188": frozenset({"Upscale"}), "http://b:8188": frozenset({"Upscale", "Face"})})
    assert error.code == "workflow_invalid" and "Face, Upscale" in error.message
    assert "http://a:8188" in error.message and "http://b:8188" in error.message
    assert error.details["instances"] == {"http://a:8188": ["Upscale"], "http://b:8188": ["Face", "Upscale"]}


@pytest.mark.parametrize(
    ("extra", "field"),
    [(["--repeat", "0"], "--repeat"), (["--repeat", "2", "--prompt-id", "x"], "--prompt-id"), (["--repeat", "2", "--url", ","], "--url")],
)
def test_bad_batch_options_are_refused_before_any_connection(extra: list[str], field: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = tmp_path / "wf_api.json"
    workflow.write_text('{"1": {"class_type": "SaveImage", "inputs": {}}}', encoding="utf-8")
    assert main(["comfyui", "run", str(workflow), *extra, "--out", str(tmp_path)]) == 2
    assert field in capsys.readouterr().err
