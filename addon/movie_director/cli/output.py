"""How the CLI prints: JSON for machines, short lines with hints for people, one progress bar for every backend."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

from movie_director.cli.exits import EXIT_FAILED, EXIT_INPUT, EXIT_UNREACHABLE
from movie_director.errors import ConnectionProblem, InvalidSetting, MovieDirectorError, WorkflowInvalid
from movie_director.progress import Phase, Progress
from movie_director.redact import redact

BAR_WIDTH = 20
REDRAW_INTERVAL = 0.1
T = TypeVar("T")
#: ``--quiet``: progress and summaries are not printed (results and errors still are).
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet  # noqa: PLW0603 - one process-wide CLI setting, set once by main()
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def print_json(data: Any, stream: TextIO | None = None) -> None:
    print(redact(json.dumps(data, indent=2, default=str, ensure_ascii=False)), file=stream or sys.stdout)


def print_error(error: MovieDirectorError, stream: TextIO | None = None) -> None:
    """The artist-facing form: one sentence, then numbered steps, then a fix command if any."""
    stream = stream or sys.stderr
    print(f"✗ {error.message}  [{error.code}]", file=stream)
    for number, hint in enumerate(error.hints, 1):
        print(f"  {number}. {hint}", file=stream)
    if error.fix is not None and error.fix.command:
        print(f"  Suggested fix: {error.fix.command}", file=stream)


def exit_code(error: MovieDirectorError) -> int:
    """2 for bad input or settings, 3 when the service cannot be reached, 1 for any other failure."""
    if isinstance(error, ConnectionProblem):
        return EXIT_UNREACHABLE
    if isinstance(error, (InvalidSetting, WorkflowInvalid)) or error.code == "config_invalid":
        return EXIT_INPUT
    return EXIT_FAILED


def report_error(error: MovieDirectorError, as_json: bool) -> int:
    """Tell the user (stderr) or the script (one JSON document on stdout) what failed; return the exit code."""
    if as_json:
        print_json({"ok": False, "error": error.to_dict()})
    else:
        print_error(error)
    return exit_code(error)


def table(rows: list[list[str]], headers: list[str], stream: TextIO | None = None) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print(line.format(*headers), file=stream or sys.stdout)
    for row in rows:
        print(redact(line.format(*map(str, row))), file=stream or sys.stdout)


class ProgressPrinter:
    """A job's :class:`Progress` on stderr: one redrawn bar on a terminal, plain lines when piped.

    A terminal is redrawn at most every ``redraw_interval`` seconds (a new phase and the end
    always are). A log gets a line when the stage changes (phase, queue position, message)
    and at each tenth of the way, not one per sampler step.
    """

    def __init__(self, stream: TextIO | None = None, redraw_interval: float = REDRAW_INTERVAL) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.redraw_interval = redraw_interval
        self._last: Any = None
        self._phase: Phase | None = None
        self._drawn_at = 0.0
        self._open = False

    def __call__(self, event: Progress) -> None:
        if _quiet:
            return
        if self.live:
            self._redraw(event)
        else:
            self._log(event)

    def _log(self, event: Progress) -> None:
        stage = (event.phase, event.queue_rank, event.message, _tenth(event))
        if stage != self._last:
            self._last = stage
            print(event.describe(), file=self.stream, flush=True)

    def _redraw(self, event: Progress) -> None:
        text = event.describe()
        now = time.monotonic()
        urgent = event.phase is Phase.DONE or event.phase is not self._phase
        if text == self._last or (not urgent and now - self._drawn_at < self.redraw_interval):
            return
        self._last, self._phase, self._drawn_at = text, event.phase, now
        width = shutil.get_terminal_size((80, 20)).columns
        bar = ""
        if event.fraction is not None and event.phase is Phase.RUNNING:
            filled = int(BAR_WIDTH * _clamp(event.fraction))
            bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "] "
        self.stream.write("\r" + (bar + text)[: width - 1].ljust(width - 1))
        self._open = event.phase is not Phase.DONE
        if not self._open:
            self.stream.write("\n")
        self.stream.flush()

    def finish(self) -> None:
        """End an open bar's line (after an error or Ctrl-C) so the next message starts clean."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def _clamp(fraction: float) -> float:
    return max(0.0, min(1.0, fraction))


def _tenth(event: Progress) -> int | None:
    """How many tenths of the work are done (from the fraction, else step/total), for a log's pace."""
    if event.fraction is not None:
        return int(10 * _clamp(event.fraction))
    if event.step is not None and event.total:
        return int(10 * _clamp(event.step / event.total))
    return None


def with_progress(work: Callable[[ProgressPrinter], T], close: Callable[[], None], interrupted: str) -> T | None:
    """Run ``work`` with a progress bar; None when Ctrl-C stopped it (the job is cancelled by
    ``work`` itself), after printing ``interrupted``. ``close`` always runs."""
    printer = ProgressPrinter()
    try:
        return work(printer)
    except KeyboardInterrupt:
        printer.finish()
        print(interrupted, file=sys.stderr)
        return None
    except BaseException:
        printer.finish()
        raise
    finally:
        close()
