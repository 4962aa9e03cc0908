"""Output files: listed from a history entry, downloaded safely; input files uploaded.

File names come from the server and are not trusted: a name such as ``../../x`` or an
absolute path is refused before anything is written, and every target is checked to
stay inside the caller's directory after symlinks are resolved. Downloads stream to a
``.part`` file, are checked against ``Content-Length`` (and an optional size cap) and
renamed into place only when complete.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import requests

from movie_director.errors import InvalidSetting, MalformedResponse
from movie_director.http import call, json_of, save_body

FILE_TYPES = ("output", "temp", "input")
_FORBIDDEN = re.compile(r'[\x00-\x1f<>:"|?*\\]')


@dataclass(frozen=True)
class OutputFile:
    """One file a node produced: ``kind`` is the key it came under (images, gifs, videos, audio…)."""

    node_id: str
    filename: str
    subfolder: str = ""
    type: str = "output"
    kind: str = "images"

    def to_dict(self) -> dict[str, str]:
        return {"node_id": self.node_id, "filename": self.filename, "subfolder": self.subfolder, "type": self.type, "kind": self.kind}


@dataclass(frozen=True)
class UploadedFile:
    """Where an upload landed; ``reference`` is the value a LoadImage input takes."""

    name: str
    subfolder: str = ""
    type: str = "input"

    @property
    def reference(self) -> str:
        return f"{self.subfolder}/{self.name}" if self.subfolder else self.name


def output_files(outputs: Mapping[str, Any]) -> list[OutputFile]:
    """Every file in a history entry's (or ``executed`` events') ``outputs``; other values are skipped."""
    files = []
    for node_id, output in outputs.items():
        if not isinstance(output, Mapping):
            continue
        for kind, items in output.items():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, Mapping) and isinstance(item.get("filename"), str):
                    files.append(
                        OutputFile(str(node_id), item["filename"], str(item.get("subfolder") or ""), str(item.get("type") or "output"), str(kind))
                    )
    return files


def relative_path(file: OutputFile, service: str = "ComfyUI") -> PurePosixPath:
    """Where ``file`` goes inside the output directory; refuses names that would escape it."""
    parts = [*_parts(file.subfolder), file.filename]
    if file.type != "output":
        parts.insert(0, file.type)
    if not file.filename or any(not _is_plain(part) for part in parts):
        raise _unsafe(file, service)
    return PurePosixPath(*parts)


def download(
    session: requests.Session,
    view_url: str,
    files: Iterable[OutputFile],
    directory: str | Path,
    service: str = "ComfyUI",
    max_bytes: int | None = None,
) -> list[Path]:
    """Download ``files`` through ``/view`` into ``directory``; return the paths written.

    Every name is checked before the first byte is written.
    """
    root = Path(directory).resolve()
    planned = [(file, relative_path(file, service)) for file in files]
    written = []
    for file, relative in planned:
        target = root.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(root):  # a symlink inside the folder points out
            raise _unsafe(file, service)
        params = {"filename": file.filename, "subfolder": file.subfolder, "type": file.type}
        response = call(session, "GET", view_url, service=service, params=params, stream=True)
        with response:
            save_body(response, target, target.with_name(target.name + ".part"), name=file.filename, service=service, max_bytes=max_bytes, details={"file": file.to_dict()})
        written.append(target)
    return written


def upload(
    session: requests.Session,
    upload_url: str,
    source: str | os.PathLike[str] | bytes | IO[bytes],
    name: str | None = None,
    *,
    type: str = "input",
    subfolder: str = "",
    overwrite: bool = False,
    service: str = "ComfyUI",
) -> UploadedFile:
    """Upload an image or video (``/upload/image``, multipart) and return where it landed."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or path.name
        with path.open("rb") as handle:
            return upload(session, upload_url, handle, name, type=type, subfolder=subfolder, overwrite=overwrite, service=service)
    if not name or not _is_plain(name):
        raise InvalidSetting(f"The upload name {name!r} must be a plain file name.", service=service, details={"field": "name", "value": name})
    if type not in FILE_TYPES or not all(_is_plain(part) for part in _parts(subfolder)):
        raise InvalidSetting(
            f"The upload folder {type}/{subfolder} is not allowed.",
            service=service,
            details={"field": "type/subfolder", "value": f"{type}/{subfolder}", "allowed": ", ".join(FILE_TYPES)},
        )
    fields = {"type": type, "subfolder": subfolder, "overwrite": "true" if overwrite else "false"}
    response = call(session, "POST", upload_url, service=service, files={"image": (name, source)}, data=fields)
    body = json_of(response, service, "the uploaded file's name")
    if not isinstance(body, Mapping) or not isinstance(body.get("name"), str):
        raise MalformedResponse(f"{service} accepted the upload but did not say where the file went.", service=service)
    return UploadedFile(body["name"], str(body.get("subfolder") or ""), str(body.get("type") or type))


def _unsafe(file: OutputFile, service: str) -> MalformedResponse:
    return MalformedResponse(
        f"{service} named an output file {_quoted(file)}, which would be written outside the output folder; nothing was downloaded.",
        service=service,
        hints=[f"A custom node on {service} produces unsafe file names: update or remove it.", "Check that the URL points at a trusted server."],
        details={"file": file.to_dict()},
    )


def _parts(subfolder: str) -> list[str]:
    return [part for part in re.split(r"[/\\]", subfolder) if part] if subfolder else []


def _is_plain(part: str) -> bool:
    """One path component that cannot climb, jump to a root or a drive, or hide as a device."""
    return bool(part) and part not in (".", "..") and not _FORBIDDEN.search(part) and "/" not in part and part.strip() == part


def _quoted(file: OutputFile) -> str:
    return repr(f"{file.subfolder}/{file.filename}" if file.subfolder else file.filename)


__all__ = ["FILE_TYPES", "OutputFile", "UploadedFile", "download", "output_files", "relative_path", "upload"]
