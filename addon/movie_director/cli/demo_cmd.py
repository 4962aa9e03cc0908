"""``movie-director demo``: the live demo (see :mod:`movie_director.cli.demo`); the README's first command runs it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from movie_director.cli.arguments import output_folder, seconds
from movie_director.cli.commands import Commands
from movie_director.cli.exits import EXIT_INTERRUPTED
from movie_director.cli.output import print_error, print_json
from movie_director.errors import MovieDirectorError, SettingsError

DEFAULT_OUT = Path("demo-output")
#: A real Wan2GP takes minutes for even a short video.
REAL_JOB_TIMEOUT = 900.0


def add_commands(commands: Commands) -> None:
    parser = commands.add("demo", run,
        help="start local stand-in backends and show discovery, jobs, an outage and recovery",
        description=(
            "Start a ComfyUI stand-in, a Gradio app shaped like Wan2GP and a LiteLLM proxy with mock answers on free "
            "loopback ports; discover them, show their live status, run one job on each, kill and restart ComfyUI "
            "while work is queued, print the health summary, and stop everything (also on Ctrl-C). "
            "Your configuration and data are not touched. With --real, use your configured services instead, "
            "starting and killing nothing. With --json, the story goes to stderr and a JSON summary to stdout at the end. "
            f"Exit 0 on success, 1 when a step fails, {EXIT_INTERRUPTED} on Ctrl-C."
        ),
    )
    parser.add_argument("--real", action="store_true", help="run against your configured services instead of local stand-ins")
    parser.add_argument("--out", type=output_folder, default=str(DEFAULT_OUT), help=f"folder for the generated files (default ./{DEFAULT_OUT})")
    parser.add_argument(
        "--job-timeout", type=seconds, default=None, metavar="SECONDS", help=f"give up on one job after this long (default 60, or {REAL_JOB_TIMEOUT:.0f} with --real)"
    )


TESTING_DISTRIBUTION = "movie_director_testing"


def run(args: argparse.Namespace) -> int:
    try:
        from movie_director.cli import demo  # here, not at the top: it imports the test servers' launchers
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != TESTING_DISTRIBUTION:
            raise
        raise SettingsError(
            "The demo needs the test support (movie-director-testing), which is not installed.",
            hints=[
                "From a checkout of this repository: pip install -e ./testing",
                "Or run the demo as the README says: tox -e demo installs it.",
            ],
            cause=exc,
        ) from exc
    timeout = args.job_timeout or (REAL_JOB_TIMEOUT if args.real else demo.JOB_TIMEOUT)
    options = demo.DemoOptions(out_dir=args.out, real=args.real, job_timeout=timeout)
    with _terminate_as_interrupt():
        try:
            report = demo.run(options, sys.stderr if args.json else sys.stdout)
        except KeyboardInterrupt:
            print("\nInterrupted: everything the demo started has been stopped.", file=sys.stderr)
            return EXIT_INTERRUPTED
        except MovieDirectorError as error:
            if args.json:
                print_error(error)  # the story on stderr ends with why; main() prints the JSON document
            raise
    if args.json:
        print_json(report.to_dict())
    return 0


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """``kill`` (or a CI timeout) stops the demo as Ctrl-C does: through its clean-up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
