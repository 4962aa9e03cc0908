"""Result files of a Gradio job, copied into the caller's folder under safe names and checked.

The server names files after whatever the app chose (a prompt, a hash, a Windows-reserved
word); we keep the name's readable part, never let it leave the folder, never overwrite
an existing file, and refuse an empty download or an HTML error page posing as a video.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from movie_director.errors import MalformedResponse
from movie_director.http import call, save_body

MAX_NAME_LENGTH = 120
_UNSAFE = re.compile(r"[^\w.\-]+")
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))})
_HTML_SUFFIXES = frozenset({".html", ".htm"})


def is_file_data(value: Any) -> bool:
    """A Gradio FileData: a dict with a string ``path`` and the FileData meta (or a ``url``)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("path"), str):
        return False
    meta = value.get("meta")
    return (isinstance(meta, Mapping) and meta.get("_type") == "gradio.FileData") or isinstance(value.get("url"), str)


def find_files(value: Any, depth: int = 0) -> list[Mapping[str, Any]]:
    """Every FileData inside ``value`` (tuples, lists, dicts such as gallery items), in order."""
    if depth > 12:  # bounded: outputs are shallow, a cycle must not hang us
        return []
    if is_file_data(value):
        return [value]
    if isinstance(value, Mapping):
        return [found for item in value.values() for found in find_files(item, depth + 1)]
    if isinstance(value, (list, tuple)):
        return [found for item in value for found in find_files(item, depth + 1)]
    return []


def replace_files(value: Any, local: Mapping[int, Path], depth: int = 0) -> Any:
    """``value`` with each FileData (by identity) replaced by its local path as a string."""
    if depth > 12:
        return value
    if is_file_data(value) and id(value) in local:
        return str(local[id(value)])
    if isinstance(value, Mapping):
        return {key: replace_files(item, local, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(replace_files(item, local, depth + 1) for item in value)
    return value


def safe_name(name: str) -> str:
    """A file name that is safe on Windows, macOS and Linux and stays inside its folder."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = _UNSAFE.sub("_", stem).strip("._-") or "file"
    suffix = _UNSAFE.sub("", suffix)[:12]
    if stem.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    stem = stem[: MAX_NAME_LENGTH - len(suffix) - 1]
    return f"{stem}.{suffix}" if suffix else stem


def reserve_path(folder: Path, name: str) -> Path:
    """Create ``folder/name`` (or ``name_1``, ``name_2``…) empty and exclusively; never overwrites."""
    candidate = folder / name
    stem, suffix = candidate.stem, candidate.suffix
    for number in range(1, 10_000):  # bounded
        try:
            with open(candidate, "xb"):
                return candidate
        except FileExistsError:
            candidate = folder / f"{stem}_{number}{suffix}"
    raise FileExistsError(f"too many files named {name} in {folder}")


def file_url(file_data: Mapping[str, Any], api_root: str) -> str:
    """Where to download a FileData: its own URL when it points at this server, else ``/file=``."""
    url = file_data.get("url")
    if isinstance(url, str) and _same_origin(url, api_root):
        return url
    return f"{api_root}/file={quote(str(file_data['path']), safe='/')}"


def _same_origin(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def download(
    session: requests.Session,
    file_data: Mapping[str, Any],
    api_root: str,
    out_dir: Path,
    service: str | None = None,
) -> Path:
    """Copy one result file into ``out_dir``; it gets its final name only once verified."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = safe_name(str(file_data.get("orig_name") or file_data["path"]))
    target = reserve_path(out_dir, name)
    try:
        with call(session, "GET", file_url(file_data, api_root), service=service, stream=True) as response:
            content_type = response.headers.get("Content-Type", "")
            save_body(
                response,
                target,
                target.with_name(f".{target.name}.part"),
                name=name,
                service=service,
                check=lambda size, head: _verify(name, size, content_type, head, file_data.get("size"), service),
                details={"file": name},
            )
    except BaseException:
        target.unlink(missing_ok=True)  # the name reserved for it
        raise
    return target


def _verify(name: str, size: int, content_type: str, first: bytes, expected: Any, service: str | None) -> None:
    label = service or "The Gradio app"
    if size == 0:
        raise MalformedResponse(f"{label} sent an empty file for {name}.", service=service, details={"file": name})
    if isinstance(expected, int) and expected > 0 and size != expected:
        raise MalformedResponse(
            f"{label} sent {size} bytes for {name}, but announced {expected}: the download was cut short.",
            service=service,
            details={"file": name, "size": size, "expected": expected},
        )
    head = first.lstrip().lower()
    looks_html = "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))
    if looks_html and Path(name).suffix.lower() not in _HTML_SUFFIXES:
        raise MalformedResponse(
            f"{label} sent a web page instead of the file {name}.",
            service=service,
            hints=["A proxy or login page may sit in front of the app: open its URL in a browser.", *MalformedResponse.default_hints],
            details={"file": name, "content_type": content_type},
        )


__all__ = ["download", "file_url", "find_files", "is_file_data", "replace_files", "reserve_path", "safe_name"]
