"""Where generated results go: the folder of a job's files and the channel of its strips.

Plain Python (tested without Blender): the main thread computes a folder from the
.blend's path, and a channel from the strips already in the sequence editor.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

#: Blender's sequence editor has channels 1…128.
MAX_CHANNEL = 128
#: ``//movie_director/<job>/`` next to the .blend.
FOLDER = "movie_director"
#: Under the data dir while the file was never saved (moved next to the .blend on save).
UNSAVED = "unsaved"


def job_folder(blend_path: str, data_dir: Path, job_id: str) -> Path:
    """``<blend folder>/movie_director/<job>`` for a saved file, ``<data dir>/unsaved/<job>`` otherwise."""
    if blend_path:
        return Path(blend_path).parent / FOLDER / job_id
    return data_dir / UNSAVED / job_id


def free_channel(occupied: Iterable[tuple[int, int, int]], start: int, end: int) -> int:
    """The lowest channel with no strip overlapping frames ``[start, end)``.

    ``occupied`` holds ``(channel, first frame, end frame)`` of the strips already there.
    """
    busy = {channel for channel, first, last in occupied if first < end and start < last}
    return next((channel for channel in range(1, MAX_CHANNEL + 1) if channel not in busy), MAX_CHANNEL)


def move_folders(moves: Iterable[tuple[Path, Path]]) -> tuple[tuple[Path, Path], ...]:
    """Move each job folder (worker thread); returns the moves done (a missing folder is skipped)."""
    import shutil

    done = []
    for old, new in moves:
        if old.is_dir():
            new.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(old), str(new))
            done.append((old, new))
    return tuple(done)


__all__ = [
    "move_folders","FOLDER", "MAX_CHANNEL", "UNSAVED", "free_channel", "job_folder"]
