"""The artist's own connection profiles: one JSON file each in the user config folder.

Pure Python (no ``bpy``); Blender passes the folder
(``bpy.utils.user_resource('CONFIG', path="movie_director/profiles")``). A profile file
holds a ``profile.schema.json`` body, so it can be pasted into a config file's
``profiles:`` section unchanged. Built-in presets (Local, Remote, Development,
Production) are not files: they come from :data:`movie_director.config.PRESETS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from movie_director.configdata import PRESETS
from movie_director.configfile import write_atomic
from movie_director.errors import InvalidConfigError

_NAME = re.compile(r"^[\w][\w .-]{0,63}$")


def profile_name_problem(name: str) -> str:
    """Why ``name`` cannot name a profile file ("" when it can)."""
    if not _NAME.match(name) or name.strip() != name:
        return "Use 1–64 letters, digits, spaces, dots, dashes or underscores."
    if name in PRESETS:
        return f"{name} is a built-in preset; choose another name."
    return ""


class ProfileStore:
    """Profiles as ``<folder>/<name>.json``; every method does disk I/O (never call it from ``draw``)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def path_of(self, name: str) -> Path:
        problem = profile_name_problem(name)
        if problem:
            raise InvalidConfigError(f"{name!r} cannot name a profile. {problem}")
        return self.folder / f"{name}.json"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(path.stem for path in self.folder.glob("*.json") if not profile_name_problem(path.stem))

    def load(self, name: str) -> dict[str, Any]:
        path = self.path_of(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidConfigError(f"There is no profile named {name!r}.", hints=[f"Profiles live in {self.folder}."]) from None
        except (OSError, ValueError) as exc:
            raise InvalidConfigError(f"The profile {name!r} cannot be read: {exc}.", hints=[f"Fix or delete {path}."], cause=exc) from exc
        if not isinstance(data, dict):
            raise InvalidConfigError(f"The profile {name!r} does not hold settings.", hints=[f"Fix or delete {path}."])
        return data

    def save(self, name: str, body: Mapping[str, Any]) -> Path:
        path = self.path_of(name)
        write_atomic(path, json.dumps(dict(body), indent=2, ensure_ascii=False) + "\n")
        return path

    def delete(self, name: str) -> None:
        self.path_of(name).unlink(missing_ok=True)


__all__ = ["ProfileStore", "profile_name_problem"]
