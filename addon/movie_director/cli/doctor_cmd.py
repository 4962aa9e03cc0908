"""``movie-director doctor``: diagnose Python, config, proxies, data dir and every service, with fixes."""

from __future__ import annotations

import argparse
from pathlib import Path

from movie_director import doctor
from movie_director.cli.output import print_json


def add_parser(subcommands: argparse._SubParsersAction) -> None:  # noqa: SLF001
    parser = subcommands.add_parser(
        "doctor",
        help="run every diagnostic check, each with a fix (exit 1 when a required one fails)",
        description="Each check prints ✓, ⚠ or ✗ with a fix. Error codes: docs/troubleshooting.md.",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per service step (default 3)")
    parser.add_argument("--workflow", type=Path, help="a ComfyUI API-format workflow whose nodes must exist")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    report = doctor.run(timeout=args.timeout, workflow=args.workflow)
    if args.json:
        print_json(report.to_dict())
    else:
        doctor.print_report(report)
    return 0 if report.ok else 1
