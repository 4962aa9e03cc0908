"""The `comfyui run` command's pieces: the progress line, the bar on a terminal or a log, the service it uses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from movie_director_plugins.comfyui.cli import ProgressBar, _service, render
from movie_director_plugins.comfyui.jobs import JobProgress, JobState


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def running(value: float, fraction: float = 0.5, node: str = "3") -> JobProgress:
    return JobProgress(JobState.RUNNING, node=node, node_type="KSampler", value=value, max=20, fraction=fraction, nodes_done=2, nodes_total=7)


def test_render_shows_overall_bar_node_and_steps() -> None:
    assert render(running(12), width=10) == "[#####.....]  50%  node 3/7 KSampler 12/20"
    assert render(JobProgress(JobState.QUEUED, queue_position=2), width=4) == "[....]   0%  queued (2 ahead)"
    assert render(JobProgress(JobState.QUEUED, queue_position=0), width=4).endswith("queued")
    assert render(JobProgress(JobState.SUCCEEDED, fraction=1.0), width=4) == "[####] 100%  succeeded"


def test_a_log_gets_one_line_per_node_not_per_step() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    for value in range(5):
        bar.update(running(value))
    bar.update(running(0, node="8"))
    bar.update(JobProgress(JobState.SUCCEEDED, fraction=1.0))
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "KSampler 0/20" in lines[0] and lines[-1].endswith("succeeded")


def test_a_terminal_gets_one_redrawn_line() -> None:
    stream = Terminal()
    bar = ProgressBar(stream)
    bar.update(running(1))
    bar.update(running(2))  # within the redraw interval: skipped
    bar.update(JobProgress(JobState.SUCCEEDED, fraction=1.0))  # the end is always drawn
    bar.close()
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "1/20" in text and "2/20" not in text


def test_the_configured_comfyui_service_is_used_without_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}", encoding="utf-8")
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(config))
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_URL", "http://127.0.0.1:8190")
    assert _service(None).url == "http://127.0.0.1:8190"
    assert _service("http://127.0.0.1:9000/").url == "http://127.0.0.1:9000"
