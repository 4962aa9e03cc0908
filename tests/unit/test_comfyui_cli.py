"""The `comfyui run` command's pieces: its progress on a terminal or in a log (the shared printer), the service it uses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from movie_director.cli.output import ProgressPrinter
from movie_director_plugins.comfyui.cli import _service
from movie_director_plugins.comfyui.jobs import JobProgress, JobState


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def running(value: float, fraction: float = 0.5, node: str = "3") -> JobProgress:
    return JobProgress(JobState.RUNNING, node=node, node_type="KSampler", value=value, max=20, fraction=fraction, nodes_done=2, nodes_total=7)


def test_the_line_shows_node_and_steps() -> None:
    assert running(12).as_progress().describe() == "running 12/20 steps — node 3 KSampler"
    assert JobProgress(JobState.QUEUED, queue_position=2).as_progress().describe() == "queued (2 ahead)"
    assert JobProgress(JobState.QUEUED, queue_position=0).as_progress().describe().endswith("queued")
    assert JobProgress(JobState.SUCCEEDED, fraction=1.0).as_progress().describe() == "done 100%"


def test_a_log_gets_one_line_per_node_not_per_step() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream)
    for value in range(5):
        printer(running(value).as_progress())
    printer(running(0, node="8").as_progress())
    printer(JobProgress(JobState.SUCCEEDED, fraction=1.0).as_progress())
    printer.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "0/20 steps — node 3 KSampler" in lines[0] and lines[-1].startswith("done")


def test_a_terminal_gets_one_redrawn_line() -> None:
    stream = Terminal()
    printer = ProgressPrinter(stream, redraw_interval=3600)
    printer(running(1).as_progress())
    printer(running(2).as_progress())  # within the redraw interval: skipped
    printer(JobProgress(JobState.SUCCEEDED, fraction=1.0).as_progress())  # the end is always drawn
    printer.finish()
    printer.finish()
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
