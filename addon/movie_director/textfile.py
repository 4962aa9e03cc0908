"""Reading a text or JSON file a person handed us (a workflow, a config, a prompt), with one clear error.

Every way such a file goes wrong — missing, a folder, unreadable, binary, saved as UTF-16,
not JSON — becomes the caller's error type with a one-line message naming the file,
instead of a traceback. ``-`` means standard input. A UTF-8 or UTF-16 byte-order mark
(Windows editors write them) is honoured.
"""

from __future__ import annotations

import codecs
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from movie_director.errors import MovieDirectorError

STDIN = "-"
#: Byte-order marks and the encodings they announce; a file without one must be UTF-8.
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

ErrorFactory = Callable[[str, BaseException | None], MovieDirectorError]


def describe(source: str | os.PathLike[str]) -> str:
    """How a message names the file: its path, or "standard input"."""
    return "standard input" if str(source) == STDIN else str(source)


def read_text(source: str | os.PathLike[str], what: str, error: ErrorFactory) -> str:
    """The text of ``source`` (a path or ``-``); ``error(message, cause)`` builds what is raised."""
    name = describe(source)
    try:
        data = sys.stdin.buffer.read() if str(source) == STDIN else Path(source).read_bytes()
    except IsADirectoryError as exc:
        raise error(f"{what} {name} is a folder, not a file.", exc) from exc
    except FileNotFoundError as exc:
        raise error(f"{what} {name} does not exist.", exc) from exc
    except OSError as exc:
        raise error(f"{what} {name} cannot be read: {exc.strerror or exc}.", exc) from exc
    encoding = next((encoding for bom, encoding in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise error(f"{what} {name} is not a text file (not UTF-8 at byte {exc.start}).", exc) from exc
    if "\x00" in text:
        raise error(f"{what} {name} is not a text file (it holds NUL bytes).", None)
    return text


def read_json(source: str | os.PathLike[str], what: str, error: ErrorFactory) -> Any:
    """The JSON document in ``source``; a syntax error names the line and column."""
    text = read_text(source, what, error)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise error(f"{what} {describe(source)} is not valid JSON: {exc}.", exc) from exc


__all__ = ["STDIN", "describe", "read_json", "read_text"]
