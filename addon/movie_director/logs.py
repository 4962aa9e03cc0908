"""Where log lines go: a rotating ``movie-director.log`` in the data dir, never the console.

Library loggers (urllib3's "Retrying (Retry(total=2…))", websocket-client, gradio_client,
httpx) would otherwise reach the console through Python's last-resort handler (used when
a record finds no handler) and bury our own one-line messages. Here they and ours go to
one file, secrets masked, where
"Copy diagnostics" and ``movie-director doctor`` read the last lines back; ``-v`` on the
command line also shows them on stderr.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import sys
from collections import deque
from pathlib import Path

from movie_director.redact import RedactingFilter

LOG_FILE = "movie-director.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
#: Our packages and the libraries under them: all to the file, none to the console by default.
LOGGERS = ("movie_director", "movie_director_plugins", "urllib3", "websocket", "gradio_client", "httpx", "httpcore")

_installed: list[tuple[logging.Logger, logging.Handler]] = []
_verbosity = 0


class _FileHandler(logging.handlers.RotatingFileHandler):
    """Creates its folder and file with the first record only: a command that logs nothing
    (the demo, which must leave the artist's data dir untouched) creates nothing."""

    def _open(self) -> io.TextIOWrapper:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def configure_logging(data_dir: Path, verbose: int | None = None) -> Path:
    """Send our and the libraries' log records to ``data_dir/movie-director.log`` (and to
    stderr when ``verbose``: 1 = info, 2 = debug; ``None`` keeps the current choice).
    Calling it again replaces the previous set-up. Returns the log file's path.

    Records still propagate to the root logger: it has no handler in the CLI or Blender
    (so nothing reaches the console), and pytest's caplog keeps seeing them.
    """
    global _verbosity
    _verbosity = _verbosity if verbose is None else verbose
    reset_logging()
    path = data_dir / LOG_FILE
    handlers: list[logging.Handler] = [_FileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)]
    if _verbosity:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(RedactingFilter())
    ours = logging.DEBUG if _verbosity >= 2 else logging.INFO
    libraries = logging.DEBUG if _verbosity >= 2 else logging.WARNING  # urllib3's retries are warnings
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(ours if name.startswith("movie_director") else libraries)
        for handler in handlers:
            logger.addHandler(handler)
            _installed.append((logger, handler))
    return path


def reset_logging() -> None:
    """Remove what :func:`configure_logging` installed (add-on disable, tests) and close the file."""
    handlers = set()
    while _installed:
        logger, handler = _installed.pop()
        logger.removeHandler(handler)
        handlers.add(handler)
    for handler in handlers:
        handler.close()


def last_lines(data_dir: Path, count: int = 40) -> list[str]:
    """The last ``count`` lines of the log (empty when there is none yet)."""
    path = data_dir / LOG_FILE
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            return [line.rstrip("\n") for line in deque(stream, maxlen=count)]
    except FileNotFoundError:
        return []


__all__ = ["LOG_FILE", "configure_logging", "last_lines", "reset_logging"]
