"""The ``movie-director`` command line: the same core the add-on uses, for TDs, farms and CI.

Built-in commands live in one module each; plugins add theirs through the
``register_commands`` hook. Every command shares one argument layer
(:mod:`movie_director.cli.arguments`) and one output contract: with ``--json`` stdout
holds one JSON document, also on errors; exit codes are listed in docs/cli.md.
The imports at the top stay light so that an early Ctrl-C or a closed pipe ends quietly.
`run` is the process's entry (console script, ``python -m``); `main` is for callers in Python.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import NoReturn

from movie_director import __version__
from movie_director.cli.exits import EXIT_INTERRUPTED

#: However slow the start, a command keeps at least this share of its --timeout for its own work.
MIN_TIMEOUT_SHARE = 0.5


def build_parser() -> argparse.ArgumentParser:
    from movie_director.cli import check_cmd, completion_cmd, config_cmd, demo_cmd, discover_cmd, doctor_cmd, plugins_cmd, services_cmd, status_cmd
    from movie_director.cli.arguments import Parser, add_global_options
    from movie_director.cli.commands import Commands
    from movie_director.plugins import get_plugin_manager

    parser = Parser(
        prog="movie-director",
        description="Find, check and drive the AI backends of Blender Movie Director.",
        epilog="Exit codes, --json shapes and paths: docs/cli.md. Troubleshooting: docs/troubleshooting.md. Plugin authors: docs/plugins.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_global_options(parser, top=True)
    commands = Commands(parser)
    for module in (plugins_cmd, config_cmd, check_cmd, doctor_cmd, discover_cmd, services_cmd, status_cmd, demo_cmd, completion_cmd):
        module.add_commands(commands)
    get_plugin_manager().register_commands(commands)
    for sub in commands.parsers:
        add_global_options(sub, top=False)
    completion_cmd.autocomplete(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; never a traceback for bad input, a closed pipe or Ctrl-C."""
    started = time.monotonic()
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        return _run(argv, as_json, started)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 0
    finally:
        if "movie_director.logs" in sys.modules:  # set up by _run; not imported when Ctrl-C came first
            sys.modules["movie_director.logs"].reset_logging()


def run() -> NoReturn:
    """Exit with `main`'s code; after a Ctrl-C, end the way a shell expects: killed by SIGINT.

    ``$?`` is 130 either way, but only a child that died of SIGINT makes the shell stop a
    loop of commands (``for shot in …; do movie-director …; done``): one that exits 130
    is taken to have handled the Ctrl-C, and the loop goes on. The interrupt is re-raised
    past everything, so Python runs its whole clean-up (atexit, threads, temporary files)
    before it ends the process by SIGINT itself; the message is already printed.
    """
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.excepthook = _quiet_interrupt
        raise KeyboardInterrupt
    raise SystemExit(code)


def _quiet_interrupt(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    """The interrupt `run` re-raises needs no traceback; anything else keeps Python's report."""
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)


def _run(argv: list[str], as_json: bool, started: float) -> int:
    from movie_director.cli.output import report_error, set_quiet
    from movie_director.config import default_data_dir
    from movie_director.errors import MovieDirectorError
    from movie_director.logs import configure_logging

    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        as_json = args.json
        _charge_start_up(args, started)
        set_quiet(args.quiet)
        configure_logging(default_data_dir(os.environ), 0 if args.quiet else args.verbose)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 0
        with _config_file(args.config):
            code = int(handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return code
    except MovieDirectorError as error:
        return report_error(error, as_json)


def _charge_start_up(args: argparse.Namespace, started: float) -> None:
    """``--timeout`` bounds the whole command: the imports and parsing already spent count against it."""
    timeout = getattr(args, "timeout", None)
    if isinstance(timeout, float) and getattr(args, "timeout_is_whole_command", False):
        args.timeout = max(timeout * MIN_TIMEOUT_SHARE, timeout - (time.monotonic() - started))


def _config_file(path: str | None) -> contextlib.AbstractContextManager[None]:
    """``--config FILE`` for every layer that loads the configuration, for this command only."""
    from movie_director.config import exported
    from movie_director.configdata import CONFIG_ENV

    return contextlib.nullcontext() if path is None else exported(CONFIG_ENV, path)


def _silence_stdout() -> None:
    """The reader went away (``| head``): send what is left to /dev/null so exit's flush stays quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())

