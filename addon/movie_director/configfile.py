"""The config file on disk: where it is, reading it, and rewriting it safely.

Writes are atomic (a reader sees the old file or the new one) and an edit keeps the
user's comments, key order and quoting, so adopting a found service changes only its
own entry. Layering and validation are :mod:`movie_director.config`'s job.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from movie_director.configdata import CONFIG_ENV, LAYER_FILE
from movie_director.errors import InvalidConfigError, ValueProblem
from movie_director.textfile import read_text


def config_file_candidates() -> list[Path]:
    """Where a config file is looked for when ``MOVIE_DIRECTOR_CONFIG`` is not set, in order."""
    home = Path.home()
    return [
        home / ".movie-director" / "config.yaml",
        home / ".movie-director" / "config.json",
        Path.cwd() / "movie-director.yaml",
        Path.cwd() / "movie-director.json",
        Path("/etc/movie-director/config.yaml"),
    ]


def find_config_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file in force: ``MOVIE_DIRECTOR_CONFIG``, else the first candidate that exists."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return next((path for path in config_file_candidates() if path.is_file()), None)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON config file (not yet validated)."""
    text = read_text(path, "The config file", lambda message, cause: InvalidConfigError(message, hints=[f"Check that {path} exists and is a readable UTF-8 file, or unset {CONFIG_ENV}."], cause=cause))
    import yaml

    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text) if text.strip() else {}
        else:
            data = yaml.safe_load(text) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise _syntax_error(path, exc) from exc
    if not isinstance(data, dict):
        raise InvalidConfigError(
            problems=[ValueProblem("", LAYER_FILE, "the file must hold a mapping of settings", type(data).__name__, "object", str(path))]
        )
    return data


def _syntax_error(path: Path, exc: Exception) -> InvalidConfigError:
    """Where the parser stopped (line and column, as PyYAML and json report them) and why."""
    language = "JSON" if path.suffix.lower() == ".json" else "YAML"
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line, column, reason = mark.line + 1, mark.column + 1, getattr(exc, "problem", None) or str(exc).splitlines()[0]
    else:
        line, column, reason = getattr(exc, "lineno", None), getattr(exc, "colno", None), getattr(exc, "msg", None) or str(exc).splitlines()[0]
    where = f"line {line}, column {column}: " if line is not None else ""
    return InvalidConfigError(
        f"The config file {path} is not valid {language}: {where}{reason}.",
        problems=[ValueProblem("", LAYER_FILE, f"not valid {language}: {where}{reason}", None, language, str(path))],
        hints=["Fix the syntax at the line named above; `movie-director config validate FILE` checks it."],
        cause=exc,
    )


@contextmanager
def editing(path: Path) -> Iterator[dict[str, Any]]:
    """The file's settings to change in the block, written back atomically when it ends without error.

    A YAML file is edited as ruamel's round-trip map, which keeps the user's comments,
    key order, quoting and blank lines; a missing file starts empty.
    """
    data = _load_for_edit(path) if path.is_file() else {}
    yield data
    write_atomic(path, _dump(data, path))


def _load_for_edit(path: Path) -> dict[str, Any]:
    data = read_config_file(path)  # the syntax and shape errors every reader gives
    if path.suffix.lower() == ".json":
        return data
    loaded = _round_trip_yaml().load(path.read_text(encoding="utf-8"))
    return loaded if loaded is not None else {}


def _dump(data: Mapping[str, Any], path: Path) -> str:
    if path.suffix.lower() == ".json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    stream = io.StringIO()
    _round_trip_yaml().dump(data, stream)
    return stream.getvalue()


def _round_trip_yaml() -> Any:
    from ruamel.yaml import YAML

    parser = YAML(typ="rt")
    parser.preserve_quotes = True
    return parser


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old file or the new one, never half.

    The data is on disk before the rename and the rename before we return (the folder is
    synced too), so a power cut leaves the old file or the new one, not an empty one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """fsync a folder, making a rename in it durable (POSIX; Windows cannot open a folder)."""
    if os.name != "posix":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


__all__ = ["config_file_candidates", "editing", "find_config_file", "read_config_file", "write_atomic"]
