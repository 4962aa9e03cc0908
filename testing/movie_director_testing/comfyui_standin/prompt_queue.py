"""The prompt queue and the in-memory history, shared by the HTTP thread and the worker.

Pending items live in a `heapq` array exactly like ComfyUI's, so /queue lists them in
heap order, not sorted. Every change calls `on_change` (ComfyUI's queue_updated), which
broadcasts a `status` frame.
"""

from __future__ import annotations

import copy
import heapq
import threading
from collections.abc import Callable
from typing import Any

QueueItem = tuple[Any, str, dict[str, Any], dict[str, Any], list[str]]
"""(number, prompt_id, prompt, extra_data, outputs_to_execute)"""

MAXIMUM_HISTORY_SIZE = 10000


class PromptQueue:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._lock = threading.RLock()
        self._not_empty = threading.Condition(self._lock)
        self._pending: list[QueueItem] = []
        self._running: dict[str, QueueItem] = {}
        self._history: dict[str, dict[str, Any]] = {}
        self._flags: dict[str, Any] = {}

    def put(self, item: QueueItem) -> None:
        with self._lock:
            heapq.heappush(self._pending, item)
            self._on_change()
            self._not_empty.notify()

    def get(self, timeout: float) -> QueueItem | None:
        """Take the next item (it then counts as running) or None after `timeout`."""
        with self._not_empty:
            if not self._pending:
                self._not_empty.wait(timeout)
            if not self._pending:
                return None
            item = heapq.heappop(self._pending)
            self._running[item[1]] = item
            self._on_change()
            return copy.deepcopy(item)

    def wake(self) -> None:
        with self._not_empty:
            self._not_empty.notify_all()

    def task_done(self, prompt_id: str, result: dict[str, Any], status: dict[str, Any]) -> None:
        """Move a finished item into the history: prompt, outputs, status, meta (the real key order)."""
        with self._lock:
            item = self._running.pop(prompt_id)
            if len(self._history) > MAXIMUM_HISTORY_SIZE:
                self._history.pop(next(iter(self._history)))
            entry: dict[str, Any] = {"prompt": item, "outputs": copy.deepcopy(result["outputs"]), "status": status}
            entry.update(result)
            self._history[prompt_id] = entry
            self._on_change()

    def snapshot(self) -> tuple[list[QueueItem], list[QueueItem]]:
        """(running, pending in heap-array order)."""
        with self._lock:
            return list(self._running.values()), list(self._pending)

    def running_ids(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def remaining(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._running)

    def wipe(self) -> None:
        with self._lock:
            self._pending = []
            self._on_change()

    def delete(self, prompt_id: str) -> bool:
        """Remove one pending item; a running one cannot be deleted (interrupt it instead)."""
        with self._lock:
            for index, item in enumerate(self._pending):
                if item[1] == prompt_id:
                    self._pending.pop(index)
                    heapq.heapify(self._pending)
                    self._on_change()
                    return True
            return False

    def history(self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1) -> dict[str, Any]:
        """One entry (`{}` if unknown) or a slice: without an offset, `max_items` means the newest N."""
        with self._lock:
            if prompt_id is not None:
                return {prompt_id: copy.deepcopy(self._history[prompt_id])} if prompt_id in self._history else {}
            if offset < 0 and max_items is not None:
                offset = len(self._history) - max_items
            selected: dict[str, Any] = {}
            for index, (key, entry) in enumerate(self._history.items()):
                if index >= offset:
                    selected[key] = copy.deepcopy(entry)
                    if max_items is not None and len(selected) >= max_items:
                        break
            return selected

    def wipe_history(self) -> None:
        with self._lock:
            self._history.clear()

    def delete_history(self, prompt_id: str) -> None:
        with self._lock:
            self._history.pop(prompt_id, None)

    def set_flag(self, name: str, value: Any) -> None:
        with self._lock:
            self._flags[name] = value

    def take_flags(self) -> dict[str, Any]:
        with self._lock:
            flags, self._flags = self._flags, {}
            return flags
