"""``movie-director check``: is this URL (or configured service) reachable, and what is it?"""

from __future__ import annotations

import argparse

from movie_director.cli.arguments import add_timeout_option, url_or_service
from movie_director.cli.commands import Commands
from movie_director.cli.exits import EXIT_OK
from movie_director.cli.output import exit_code, print_error, print_json

DEFAULT_TIMEOUT = 5.0


def add_commands(commands: Commands) -> None:
    parser = commands.add("check", run,
        help="probe a URL or configured service: kind, version, health, capabilities",
        description="Exit 0 when reachable (and of --kind, if given), 3 when unreachable or silent, 1 when something else answers, "
        "2 for bad input. See docs/cli.md and docs/troubleshooting.md.",
    )
    parser.add_argument("target", type=url_or_service, help="a URL such as http://127.0.0.1:8188 (or 127.0.0.1:8188), or a configured service name")
    parser.add_argument("--kind", help="expect this backend kind (comfyui, wan2gp, litellm, gradio, ...)")
    add_timeout_option(parser, "the server to say what it is", DEFAULT_TIMEOUT)


def run(args: argparse.Namespace) -> int:
    from movie_director.check import check_service

    report = check_service(args.target, kind=args.kind, timeout=args.timeout)
    if args.json:
        print_json(report.to_dict())
    elif report.ok and report.probe is not None:
        health = report.health
        latency = f"{health.latency_ms:.0f} ms" if health else "?"
        name = " ".join(filter(None, (report.kind, report.probe.version)))  # a server without a version: no double space
        print(f"✓ {name} at {report.url} ({latency}, {len(report.capabilities)} capabilities)")
    elif report.error is not None:
        print_error(report.error)
    return EXIT_OK if report.error is None else exit_code(report.error)
