"""The add-on's notifications: a bounded, de-duplicated history the panels read.

Pure Python (no ``bpy``): the timer adds notifications on the main thread and the
panels read :meth:`NotificationCenter.recent`. Notifications are non-modal: nothing
pops up; the status panel shows the newest one and the history sub-panel the last 10.

Spec: severity INFO / WARNING / ERROR; a deque of the last 100; the same
``service:type:message`` within 30 s is counted on the earlier notification instead of
added again (a backend flapping every second must not push the history away).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

MAX_NOTIFICATIONS = 100
DEDUPE_WINDOW_S = 30.0
HISTORY_SHOWN = 10
SUMMARY_CHARS = 40


class Severity(str, Enum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True)
class Notification:
    """One thing the artist should know; ``type`` is an error code or an event name."""

    id: int
    severity: Severity
    service: str
    type: str
    title: str
    message: str
    timestamp: float
    hints: tuple[str, ...] = ()
    fix: str = ""
    count: int = 1

    @property
    def key(self) -> str:
        """What makes two notifications the same (spec: service:type:message)."""
        return f"{self.service}:{self.type}:{self.message}"

    def summary(self, width: int = SUMMARY_CHARS) -> str:
        """The one-line history entry, at most ``width`` characters."""
        text = f"{self.service}: {self.message}" if self.service else self.message
        if self.count > 1:
            text = f"{text} (×{self.count})"
        return text if len(text) <= width else text[: width - 1].rstrip() + "…"

    def details_text(self) -> str:
        """Everything the details dialog shows, as plain text for the clipboard."""
        lines = [
            f"{self.severity.value}: {self.title} [{self.type}]",
            f"Service: {self.service or '-'}",
            f"Time: {format_clock(self.timestamp)}",
            f"Message: {self.message}",
        ]
        if self.count > 1:
            lines.append(f"Seen {self.count} times")
        if self.hints:
            lines.append("Suggested Solutions:")
            lines += [f"- {hint}" for hint in self.hints]
        if self.fix:
            lines.append(f"Fix: {self.fix}")
        return "\n".join(lines)


def error_title(code: str) -> str:
    """The taxonomy's title for an error code ("Connection refused"), or ``""``."""
    from movie_director.errors import ALL_ERRORS

    return next((cls.title for cls in ALL_ERRORS if cls.code == code), "")


def format_clock(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


@dataclass
class NotificationCenter:
    """The last :data:`MAX_NOTIFICATIONS` notifications, newest last; main thread only."""

    clock: Callable[[], float] = time.time
    maxlen: int = MAX_NOTIFICATIONS
    dedupe_window: float = DEDUPE_WINDOW_S
    _items: deque[Notification] = field(init=False)
    _ids: Any = field(init=False, default_factory=lambda: itertools.count(1))
    #: Bumped on every change so the timer copies to Blender properties only when needed.
    revision: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._items = deque(maxlen=self.maxlen)

    def add(
        self,
        severity: Severity,
        message: str,
        *,
        service: str = "",
        type: str = "info",
        title: str = "",
        hints: Sequence[str] = (),
        fix: str = "",
    ) -> Notification:
        """Add one notification, or count it on the same one from the last 30 s."""
        now = self.clock()
        key = f"{service}:{type}:{message}"
        for index in range(len(self._items) - 1, -1, -1):
            earlier = self._items[index]
            if now - earlier.timestamp > self.dedupe_window:
                break
            if earlier.key == key:
                worst = max(earlier.severity, severity, key=_RANK.__getitem__)
                self._items[index] = updated = replace(earlier, count=earlier.count + 1, severity=worst)
                self.revision += 1
                return updated
        notification = Notification(next(self._ids), severity, service, type, title or type.replace("_", " ").capitalize(), message, now, tuple(hints), fix)
        self._items.append(notification)
        self.revision += 1
        return notification

    def add_error(self, error: Mapping[str, Any], *, severity: Severity = Severity.ERROR, service: str = "", title: str = "") -> Notification:
        """A notification from an error's ``to_dict()`` (code, message, hints, fix)."""
        fix = error.get("fix") or {}
        fix_text = " — ".join(part for part in (fix.get("label", ""), fix.get("command", "")) if part) if isinstance(fix, Mapping) else ""
        return self.add(
            severity,
            str(error.get("message") or "Unknown problem."),
            service=service or str(error.get("service") or ""),
            type=str(error.get("code") or "error"),
            title=title or error_title(str(error.get("code") or "")),
            hints=[str(hint) for hint in error.get("hints") or ()],
            fix=fix_text,
        )

    def recent(self, count: int = HISTORY_SHOWN) -> list[Notification]:
        """The newest ``count``, newest first."""
        return list(itertools.islice(reversed(self._items), count))

    def get(self, notification_id: int) -> Notification | None:
        return next((item for item in self._items if item.id == notification_id), None)

    def clear(self) -> None:
        self._items.clear()
        self.revision += 1

    def __len__(self) -> int:
        return len(self._items)


__all__ = ["DEDUPE_WINDOW_S", "HISTORY_SHOWN", "MAX_NOTIFICATIONS", "SUMMARY_CHARS", "Notification", "NotificationCenter", "Severity", "error_title", "format_clock"]
