"""``movie-director doctor``: diagnose Python, config, proxies, data dir and every service, with fixes."""

from __future__ import annotations

import argparse

from movie_director.cli.arguments import add_timeout_option
from movie_director.cli.commands import Commands
from movie_director.cli.output import print_json

DEFAULT_TIMEOUT = 3.0


def add_commands(commands: Commands) -> None:
    parser = commands.add("doctor", run,
        help="run every diagnostic check, each with a fix (exit 1 when a required one fails)",
        description="Each check prints ✓, ⚠ or ✗ with a fix. Error codes: docs/troubleshooting.md.",
    )
    add_timeout_option(parser, "each service", DEFAULT_TIMEOUT, whole_command=False)
    parser.add_argument("--workflow", metavar="FILE", help="a ComfyUI API-format workflow to load and check as `comfyui run` would (- reads stdin)")


def run(args: argparse.Namespace) -> int:
    from movie_director import doctor

    report = doctor.run(timeout=args.timeout, workflow=args.workflow)
    if args.json:
        print_json(report.to_dict())
    else:
        doctor.print_report(report)
    return 0 if report.ok else 1
