"""How the CLI prints: JSON for machines, short lines with hints for people."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from movie_director.errors import MovieDirectorError
from movie_director.redact import redact


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


def table(rows: list[list[str]], headers: list[str], stream: TextIO | None = None) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print(line.format(*headers), file=stream or sys.stdout)
    for row in rows:
        print(redact(line.format(*map(str, row))), file=stream or sys.stdout)
