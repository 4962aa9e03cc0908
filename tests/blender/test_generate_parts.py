"""The pure parts of Generate (no ``bpy``): channels, folders, prompt/seed mapping, outputs, the job board."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from movie_director.blender.generators import group_outputs
from movie_director.blender.jobboard import CANCELLED, FAILED, GenerationJob, JobBoard, Output, Target
from movie_director.blender.placement import free_channel, job_folder
from movie_director.blender.workflow_inputs import InputMapping, apply_inputs
from movie_director.errors import JobFailed, WorkflowInvalid

GRAPH = {
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "fox", "clip": ["4", 1]}, "_meta": {"title": "Scene prompt"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "positive": ["6", 0], "negative": ["7", 0]}},
}


def test_the_first_channel_free_over_the_whole_strip() -> None:
    occupied = [(1, 1, 100), (2, 10, 20), (3, 30, 40)]
    assert free_channel(occupied, 15, 16) == 3
    assert free_channel(occupied, 20, 30) == 2  # end frames are exclusive
    assert free_channel(occupied, 25, 35) == 2
    assert free_channel([], 1, 2) == 1


def test_job_folders_sit_next_to_a_saved_file_or_in_the_data_dir(tmp_path: Path) -> None:
    assert job_folder(str(tmp_path / "film" / "cut.blend"), tmp_path / "data", "abc") == tmp_path / "film" / "movie_director" / "abc"
    assert job_folder("", tmp_path / "data", "abc") == tmp_path / "data" / "unsaved" / "abc"


def test_prompt_and_seed_found_without_a_mapping_and_by_title_or_id() -> None:
    found = apply_inputs(GRAPH, InputMapping(), "heron", 42)
    assert found["6"]["inputs"]["text"] == "heron" and found["7"]["inputs"]["text"] == "blurry" and found["3"]["inputs"]["seed"] == 42
    assert GRAPH["6"]["inputs"]["text"] == "fox", "the original is untouched"
    assert apply_inputs(GRAPH, InputMapping("7", "3"), "owl")["7"]["inputs"]["text"] == "owl"
    assert apply_inputs(GRAPH, InputMapping("SCENE PROMPT"), "owl")["6"]["inputs"]["text"] == "owl"
    assert apply_inputs(GRAPH, InputMapping("nope", "nope")) == GRAPH, "nothing to write: nothing looked up"
    with pytest.raises(WorkflowInvalid, match="no node 'nope' for the seed") as caught:
        apply_inputs(GRAPH, InputMapping(seed_node="nope"), seed=1)
    assert "6 Scene prompt" in caught.value.hints[0]
    with pytest.raises(WorkflowInvalid, match="which node of this workflow takes the prompt"):
        apply_inputs({"1": {"class_type": "EmptyImage", "inputs": {}}}, InputMapping(), "x")


def test_outputs_become_images_sequences_and_movies() -> None:
    outputs = group_outputs([("9", Path("a_2.png")), ("9", Path("a_1.png")), ("5", Path("b.png")), ("7", Path("clip.MP4"))])
    assert outputs == (Output("sequence", (Path("a_1.png"), Path("a_2.png"))), Output("image", (Path("b.png"),)), Output("movie", (Path("clip.MP4"),)))


def job(board: JobBoard, title: str = "job") -> GenerationJob:
    return GenerationJob(board.new_id(), "comfyui", "comfyui", "http://127.0.0.1:8188", title, Path("unused"), Target("Scene", 1), 0.0)


def test_the_board_runs_jobs_reports_failures_and_cancels() -> None:
    board = JobBoard(workers=2, clock=lambda: 5.0)
    release = threading.Event()

    def wait_for_cancel(running: GenerationJob) -> tuple[Output, ...]:
        release.set()
        while True:
            running.check_cancel()
            threading.Event().wait(0.01)

    def fail(_: GenerationJob) -> tuple[Output, ...]:
        raise JobFailed("KSampler failed.")

    def boom(_: GenerationJob) -> tuple[Output, ...]:
        raise ValueError("bug")

    try:
        waiting = board.start(job(board, "waits"), wait_for_cancel)
        assert release.wait(5)
        assert board.overall_progress() == 0.0 and board.views()[0].state == "running"
        assert board.cancel(waiting.id) and not board.cancel("unknown")
        failing, crashing = board.start(job(board, "fails"), fail), board.start(job(board, "crashes"), boom)
        ended: list[GenerationJob] = []
        for _ in range(500):
            ended += board.take_finished("")
            if len(ended) == 3:
                break
            threading.Event().wait(0.01)
        assert {item.title: item.state for item in ended} == {"waits": CANCELLED, "fails": FAILED, "crashes": FAILED}
        assert failing.status == "KSampler failed." and crashing.error is not None and crashing.error.code
        assert board.overall_progress() is None and all(view.finished == 5.0 for view in board.views())
        board.clear_finished()
        assert board.views() == []
    finally:
        board.close()
