"""ComfyUI's folder layout under one base directory, with its path rules.

input/, output/, temp/ and models/<folder>/ behave like ComfyUI's: the same
annotated names (`x.png [output]`), the same traversal checks for /view and
/upload/image (and so the same status codes), the same `name_00001_.png` counters.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import shutil
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MODEL_FOLDERS = (
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision",
    "style_models", "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models",
    "custom_nodes", "hypernetworks", "photomaker", "classifiers", "model_patches", "audio_encoders",
)  # fmt: skip
MODEL_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".yaml"})
FAKE_CHECKPOINT = "sd15-standin.safetensors"
_ANNOTATIONS = ("output", "input", "temp")


@dataclass(frozen=True)
class SavePath:
    """Where the next file for a filename_prefix goes, as ComfyUI's get_save_image_path computes it."""

    folder: str
    filename: str
    counter: int
    subfolder: str

    def file(self, counter: int, extension: str) -> tuple[str, str]:
        """(file name, absolute path) for one counter value."""
        name = f"{self.filename}_{counter:05}_.{extension}"
        return name, os.path.join(self.folder, name)


class Folders:
    """The stand-in's files; every path returned is absolute and already checked."""

    def __init__(self, base: str | Path) -> None:
        self.base = os.path.abspath(base)
        self.input = os.path.join(self.base, "input")
        self.output = os.path.join(self.base, "output")
        self.temp = os.path.join(self.base, "temp")
        self.models = os.path.join(self.base, "models")

    def prepare(self) -> None:
        """Create the tree, empty temp/ (ComfyUI cleans it at start-up) and seed a fake checkpoint."""
        shutil.rmtree(self.temp, ignore_errors=True)
        for folder in (self.input, self.output, self.temp):
            os.makedirs(folder, exist_ok=True)
        for name in MODEL_FOLDERS:
            os.makedirs(os.path.join(self.models, name), exist_ok=True)
        checkpoint = os.path.join(self.models, "checkpoints", FAKE_CHECKPOINT)
        if not os.path.exists(checkpoint):
            header = json.dumps({"__metadata__": {"modelspec.title": "Movie Director stand-in"}}).encode()
            Path(checkpoint).write_bytes(struct.pack("<Q", len(header)) + header)

    def directory_by_type(self, kind: str | None) -> str | None:
        return {"output": self.output, "input": self.input, "temp": self.temp}.get(kind or "")

    def annotated(self, name: str) -> tuple[str, str | None]:
        """Split `x.png [output]` into the name and the folder it names (None when unannotated)."""
        for kind in _ANNOTATIONS:
            suffix = f" [{kind}]"
            if name.endswith(suffix):
                return name[: -len(suffix)], self.directory_by_type(kind)
        return name, None

    def input_path(self, name: str) -> str:
        """Absolute path of an input name as LoadImage resolves it (input/ unless annotated)."""
        name, folder = self.annotated(name)
        return os.path.join(folder or self.input, name)

    def input_images(self) -> list[str]:
        """Files in input/ whose type guesses as an image: LoadImage's combo options."""
        names = [entry.name for entry in os.scandir(self.input) if entry.is_file()]
        return sorted(name for name in names if (mimetypes.guess_type(name)[0] or "").startswith("image/"))

    def model_files(self, folder: str) -> list[str] | None:
        """Model files under models/<folder> (relative, '/'-separated); None for an unknown folder."""
        if folder not in MODEL_FOLDERS:
            return None
        root = os.path.join(self.models, folder)
        found = []
        for directory, _, files in os.walk(root, followlinks=True):
            for name in files:
                if os.path.splitext(name)[1].lower() in MODEL_EXTENSIONS:
                    found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
        return sorted(found)

    def save_path(self, prefix: str, root: str) -> SavePath:
        """The folder, base name and next free counter for `prefix` ("a/b/x" saves in subfolder "a/b")."""
        normalised = os.path.normpath(prefix)
        subfolder, filename = os.path.dirname(normalised), os.path.basename(normalised)
        folder = os.path.abspath(os.path.join(root, subfolder))
        if os.path.commonpath((root, folder)) != root:
            raise ValueError(
                "**** ERROR: Saving image outside the output folder is not allowed."
                f"\n full_output_folder: {folder}\n         output_dir: {root}"
            )
        os.makedirs(folder, exist_ok=True)
        counters = [0]
        for name in os.listdir(folder):
            head, rest = name[: len(filename) + 1], name[len(filename) + 1 :]
            if os.path.normcase(head) == os.path.normcase(filename + "_"):
                digits = rest.split("_")[0]
                counters.append(int(digits) if digits.isdigit() else 0)
        return SavePath(folder, filename, max(counters) + 1, subfolder)

    def view(self, query: Mapping[str, str]) -> str | int:
        """The file GET /view serves for these query parameters, or the HTTP status ComfyUI answers."""
        if "filename" not in query:
            return 404
        name, root = self.annotated(query["filename"])
        if not name:
            return 400
        if name[0] == "/" or ".." in name:
            return 400
        if root is None:
            root = self.directory_by_type(query.get("type", "output"))
            if root is None:
                return 400
        if "subfolder" in query:
            folder = os.path.join(root, query["subfolder"])
            if os.path.commonpath((os.path.abspath(folder), root)) != root:
                return 403
            root = folder
        path = os.path.join(root, os.path.basename(name))
        return path if os.path.isfile(path) else 404

    def upload_root(self, kind: str | None) -> tuple[str, str]:
        """(folder, type) for an upload; a bogus type raises, which the real server answers with 500."""
        kind = kind or "input"
        folder = self.directory_by_type(kind)
        if folder is None:
            raise ValueError(f"unknown upload type {kind!r}")
        return folder, kind

    def store_upload(self, root: str, subfolder: str, filename: str, data: bytes, overwrite: bool) -> str | None:
        """Write an upload the way ComfyUI does; returns the stored name, or None if it escapes `root`.

        Without `overwrite`, an existing file with the same bytes is reused (same name back)
        and different bytes get " (1)", " (2)"… appended to the stem.
        """
        folder = os.path.join(root, os.path.normpath(subfolder))
        path = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((root, path)) != root:
            return None
        os.makedirs(folder, exist_ok=True)
        stem, extension = os.path.splitext(filename)
        name, counter = filename, 1
        while not overwrite and os.path.exists(path):
            if _sha256_file(path) == hashlib.sha256(data).hexdigest():
                return name
            name = f"{stem} ({counter}){extension}"
            path = os.path.join(folder, name)
            counter += 1
        Path(path).write_bytes(data)
        return name


def _sha256_file(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
