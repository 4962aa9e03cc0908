"""The one argument layer every command shares: global options, and types that check input locally.

Bad input is refused here, before any connection, with an :class:`InvalidSetting` naming
the option and the value (the CLI prints it as one line, or as JSON with ``--json``, and
exits 2). URLs, seconds, files and output folders are checked the same way in every command.

A command that talks to one server takes ``--url``/``--service`` (resolve them with
``check.service_for(args.url or args.service, kind)``); one that waits for a job and
saves its files takes ``--out``/``--timeout``.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Any, NoReturn

from movie_director.configdata import compose_url
from movie_director.errors import InvalidSetting
from movie_director.textfile import STDIN, read_text

#: Leading bytes of the image formats the backends accept as start/end/reference images (WebP: RIFF....WEBP).
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are typed errors (one line or JSON), not argparse's usage dump."""

    def error(self, message: str) -> NoReturn:
        raise InvalidSetting(
            f"Bad input for `{self.prog}`: {message}.",
            hints=[f"Run `{self.prog} --help` for the options."],
            details={"field": self.prog, "allowed": "see --help"},
        )


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v``, ``-q``, ``--json``, ``--config``: on the top parser with their defaults, on every
    subcommand without (``SUPPRESS``), so they work before or after the subcommand."""
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="count", default=default(0), help="also show the log (data dir/movie-director.log) on stderr; -vv for debug")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False), help="no progress or summaries, only results and errors")
    parser.add_argument("--json", action="store_true", default=default(False), help="print one JSON document on stdout (also for errors)")
    parser.add_argument("--config", type=config_file, default=default(None), metavar="FILE", help="use this config file (instead of MOVIE_DIRECTOR_CONFIG or the default locations)")


def _invalid(value: str, message: str, allowed: str) -> argparse.ArgumentTypeError:
    """argparse prefixes the option's name; the details travel in the message."""
    return argparse.ArgumentTypeError(f"{value!r} {message} (allowed: {allowed})")


def url(text: str) -> str:
    """An http(s)/ws(s) URL with a host and a port from 1 to 65535; ``host:port`` means ``http://host:port``."""
    candidate = text.strip()
    if "://" not in candidate:
        candidate = "http://" + candidate
    try:
        return compose_url(candidate)
    except ValueError as exc:
        raise _invalid(text, f"is not a usable URL: {exc}", "http://HOST:PORT, e.g. http://127.0.0.1:8188") from None


def url_list(text: str) -> list[str]:
    """One URL or several separated by commas (instances of one service), each checked as :func:`url`."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise _invalid(text, "names no URL", "http://HOST:PORT, or several separated by commas")
    return [url(part) for part in parts]


def positive_count(text: str) -> int:
    """A whole number from 1 up (``--repeat``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise _invalid(text, "is not a whole number above 0", "1, 2, 3, …")
    return value


def url_or_service(text: str) -> str:
    """A URL (anything with ``:``, so ``127.0.0.1:8188`` too) or a configured service's name."""
    return url(text) if ":" in text else text


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise _invalid(text, "is not a positive number of seconds", "a number above 0, e.g. 5 or 0.5")
    return value


def config_file(text: str) -> str:
    """A config file that exists (its content is checked when it is loaded)."""
    if not Path(text).is_file():
        raise _invalid(text, "is not an existing file", "the path of a YAML or JSON config file")
    return str(Path(text).absolute())


def input_file(text: str) -> Path:
    """An existing, readable file (a guide video or audio); absolute, so messages and outputs name it alike."""
    path = Path(text).expanduser().absolute()
    if not path.is_file():
        raise _invalid(text, "is not an existing file" if not path.exists() else "is a folder, not a file", "a readable file")
    if not os.access(path, os.R_OK):
        raise _invalid(text, "cannot be read (permission denied)", "a readable file")
    return path


def image_file(text: str) -> Path:
    """An existing PNG, JPEG, GIF, BMP or WebP image (checked by its first bytes, not its name)."""
    path = input_file(text)
    with path.open("rb") as stream:
        head = stream.read(16)
    is_webp = head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    if not (is_webp or head.startswith(IMAGE_SIGNATURES)):
        raise _invalid(text, "is not an image", "a PNG, JPEG, WebP, GIF or BMP file")
    return path


def output_folder(text: str) -> Path:
    """A folder we can write to, created if missing; checked before any work is sent so results are never lost."""
    path = Path(text).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise _invalid(text, "is a file, not a folder", "a writable folder (created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".movie-director-"):
            pass
    except OSError as exc:
        raise _invalid(text, f"cannot be written: {exc.strerror or exc}", "a writable folder (created if missing)") from None
    return path


def text_or_stdin(text: str) -> str:
    """The text itself, or standard input's for ``-`` (a prompt piped in)."""
    if text != STDIN:
        return text
    prompt = read_text(STDIN, "The prompt from", lambda message, cause: InvalidSetting(message, details={"field": "prompt", "value": STDIN})).strip()
    if not prompt:
        raise _invalid(text, "read an empty prompt from standard input", "text piped in, e.g. echo 'a cat' | movie-director llm chat -")
    return prompt


def add_target_options(parser: argparse.ArgumentParser, kind: str, example_url: str) -> None:
    """``--url`` and ``--service``: which server the command talks to."""
    parser.add_argument("--url", type=url, help=f"the server's address, e.g. {example_url} (overrides --service)")
    parser.add_argument("--service", default=kind, help=f"a configured service name (default {kind})")


def add_timeout_option(parser: argparse.ArgumentParser, what: str, default: float | None, *, whole_command: bool = True) -> None:
    """``--timeout``: the bound of the whole command's wait (probes and requests included), or of each
    service's when ``whole_command`` is False (doctor, services: the services are checked side by side)."""
    limit = "no limit" if default is None else f"{default:g}"
    scope = ", in all" if whole_command else ""
    parser.add_argument("--timeout", type=seconds, default=default, metavar="S", help=f"seconds to wait for {what}{scope} (default: {limit})")
    parser.set_defaults(timeout_is_whole_command=whole_command)


def add_result_options(parser: argparse.ArgumentParser, what: str, timeout: float | None) -> None:
    """``--out`` and ``--timeout`` of a command that waits for a job and saves ``what``."""
    parser.add_argument("--out", type=output_folder, default=".", metavar="DIR", help=f"folder for {what}, created if missing (default: here)")
    add_timeout_option(parser, what, timeout)


def fail(message: str, **details: Any) -> NoReturn:
    """Refuse a combination of options that argparse cannot express (e.g. ``--watch-for`` without ``--watch``)."""
    raise InvalidSetting(message, hints=["Run the command with --help for the options."], details=details)


__all__ = [
    "Parser",
    "add_global_options",
    "add_result_options",
    "add_target_options",
    "add_timeout_option",
    "fail",
    "image_file",
    "input_file",
    "output_folder",
    "positive_count",
    "seconds",
    "text_or_stdin",
    "url",
    "url_list",
    "url_or_service",
]
