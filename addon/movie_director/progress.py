"""One progress event type for every backend's jobs.

ComfyUI's WebSocket, Gradio's queue status and LiteLLM streams all say "waiting",
"step 3 of 30" or "done" in their own words; backends translate them into
:class:`Progress` so the CLI draws one kind of bar and the add-on one kind of panel.
Events are immutable: worker threads publish them, the UI copies them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

log = logging.getLogger(__name__)


class Phase(str, Enum):
    """Where a job is, in the order a job goes through them."""

    CONNECTING = "connecting"
    UPLOADING = "uploading"
    QUEUED = "queued"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    DONE = "done"


@dataclass(frozen=True)
class Progress:
    """One progress event.

    ``fraction`` is 0–1 when the service says how far it is, else ``None``; ``step``
    and ``total`` count the service's own units (``unit``: "steps", "frames"…);
    ``queue_rank`` is 0 for "next in line"; ``eta`` is in seconds.
    """

    phase: Phase
    fraction: float | None = None
    step: int | None = None
    total: int | None = None
    unit: str = ""
    queue_rank: int | None = None
    queue_size: int | None = None
    eta: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["phase"] = self.phase.value
        return data

    def describe(self) -> str:
        """A short line for a status bar: "queued (2 ahead)", "running 12/30 steps"."""
        if self.phase is Phase.QUEUED:
            ahead = f" ({self.queue_rank} ahead)" if self.queue_rank else ""
            eta = f", ~{self.eta:.0f} s" if self.eta else ""
            return f"queued{ahead}{eta}"
        text = self.phase.value
        if self.step is not None and self.total:
            text += f" {self.step}/{self.total} {self.unit}".rstrip()
        elif self.fraction is not None:
            text += f" {self.fraction:.0%}"
        if self.message:
            text += f" — {self.message}"
        return text


ProgressCallback = Callable[[Progress], None]


def notify(callback: ProgressCallback | None, event: Progress) -> None:
    """Call ``callback`` with ``event``; a broken callback is logged, never kills the job."""
    if callback is None:
        return
    try:
        callback(event)
    except Exception:  # noqa: BLE001 - UI code must not abort a generation
        log.exception("progress callback failed")


__all__ = ["Phase", "Progress", "ProgressCallback", "notify"]
