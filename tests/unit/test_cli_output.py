"""The progress printer every CLI command shares: a redrawn bar on a terminal, plain lines in a log."""

from __future__ import annotations

import io

from movie_director.cli.output import ProgressPrinter
from movie_director.progress import Phase, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_output_prints_each_change_once() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream)
    for event in (Progress(Phase.QUEUED, queue_rank=2), Progress(Phase.QUEUED, queue_rank=2), Progress(Phase.RUNNING, fraction=0.5, step=3, total=6, unit="steps")):
        printer(event)
    assert stream.getvalue().splitlines() == ["queued (2 ahead)", "running 3/6 steps"]


def test_terminal_gets_one_redrawn_bar() -> None:
    stream = Terminal()
    printer = ProgressPrinter(stream)
    printer(Progress(Phase.RUNNING, fraction=0.5, step=15, total=30, unit="steps"))
    printer(Progress(Phase.DONE, fraction=1.0))
    text = stream.getvalue()
    assert text.startswith("\r[##########----------] running 15/30 steps")
    assert text.endswith("\n") and text.count("\n") == 1


def test_finish_ends_an_open_bar() -> None:
    stream = Terminal()
    printer = ProgressPrinter(stream)
    printer(Progress(Phase.RUNNING))
    printer.finish()
    assert stream.getvalue().endswith("\n")


def test_a_log_gets_a_line_per_tenth_not_per_step() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream)
    for step in range(1, 31):
        printer(Progress(Phase.RUNNING, fraction=step / 30, step=step, total=30, unit="steps"))
    for number in (1, 2, 3):
        printer(Progress(Phase.DOWNLOADING, step=number, total=3, unit="files"))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "running 1/30 steps" and "running 30/30 steps" in lines
    assert len([line for line in lines if line.startswith("running")]) == 11  # 0 to 10 tenths
    assert lines[-3:] == ["downloading 1/3 files", "downloading 2/3 files", "downloading 3/3 files"]


def test_a_terminal_draws_a_new_phase_at_once_and_ends_the_line_once() -> None:
    stream = Terminal()
    printer = ProgressPrinter(stream, redraw_interval=3600)
    printer(Progress(Phase.QUEUED, queue_rank=1))
    printer(Progress(Phase.QUEUED, queue_rank=0))  # same phase, within the interval: skipped
    printer(Progress(Phase.RUNNING, fraction=0.1, step=1, total=10, unit="steps"))
    printer(Progress(Phase.DONE, fraction=1.0))
    printer.finish()
    text = stream.getvalue()
    assert text.count("\r") == 3 and "running 1/10 steps" in text
    assert text.endswith("\n") and text.count("\n") == 1
