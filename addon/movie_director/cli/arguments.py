"""Options plugin commands share, so that every command names and explains them alike.

A command that talks to one server takes ``--url``/``--service`` (resolve them with
``check.service_for(args.url or args.service, kind)``); one that waits for a job and
saves its files takes ``--out``/``--timeout``/``--json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_target_options(parser: argparse.ArgumentParser, kind: str, example_url: str) -> None:
    """``--url`` and ``--service``: which server the command talks to."""
    parser.add_argument("--url", help=f"the server's address, e.g. {example_url} (overrides --service)")
    parser.add_argument("--service", default=kind, help=f"a configured service name (default {kind})")


def add_result_options(parser: argparse.ArgumentParser, what: str, timeout: float | None) -> None:
    """``--out``, ``--timeout`` and ``--json`` of a command that waits for a job and saves ``what``."""
    parser.add_argument("--out", type=Path, default=Path("."), help=f"folder for {what} (default: here)")
    limit = "no limit" if timeout is None else f"{timeout:g}"
    parser.add_argument("--timeout", type=float, default=timeout, help=f"seconds to wait for {what} (default: {limit})")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the paths")


__all__ = ["add_result_options", "add_target_options"]
