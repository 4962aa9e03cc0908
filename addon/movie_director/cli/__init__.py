"""The ``movie-director`` command line: the same core the add-on uses, for TDs, farms and CI.

Built-in commands live in one module each; plugins add theirs through the
``register_commands`` hook.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from movie_director import __version__
from movie_director.cli import check_cmd, config_cmd, demo_cmd, discover_cmd, doctor_cmd, plugins_cmd, services_cmd, status_cmd
from movie_director.cli.output import print_error
from movie_director.config import default_data_dir
from movie_director.errors import MovieDirectorError
from movie_director.logs import configure_logging, reset_logging
from movie_director.plugins import get_plugin_manager


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="movie-director",
        description="Find, check and drive the AI backends of Blender Movie Director.",
        epilog="Troubleshooting: docs/troubleshooting.md. Plugin authors: docs/plugins.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="also show the log (data dir/movie-director.log) on stderr; -vv for debug")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (plugins_cmd, config_cmd, check_cmd, doctor_cmd, discover_cmd, services_cmd, status_cmd, demo_cmd):
        module.add_parser(subcommands)
    get_plugin_manager().register_commands(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    configure_logging(default_data_dir(os.environ), args.verbose)
    try:
        return int(handler(args) or 0)
    except MovieDirectorError as error:
        print_error(error)
        return 2 if error.category == "Configuration" else 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    finally:
        reset_logging()


if __name__ == "__main__":
    raise SystemExit(main())
