"""ComfyUI's classic output cache, keyed by input signatures.

A node's signature covers its class, its IS_CHANGED value, its literal inputs and
the signatures of the nodes it links to, not its id. So an identical prompt is
fully cached, changing only a SaveImage prefix re-runs only that node, and each new
prompt evicts whatever it does not use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def signatures(prompt: dict[str, Any], fingerprint: Callable[[str], object]) -> dict[str, str]:
    """node id -> signature for every node of a validated prompt."""
    done: dict[str, str] = {}

    def signature(node_id: str) -> str:
        if node_id not in done:
            node = prompt[node_id]
            parts: list[Any] = [node["class_type"], repr(fingerprint(node_id))]
            for name in sorted(node["inputs"]):
                value = node["inputs"][name]
                parts.append([name, ["link", signature(value[0]), value[1]] if is_link(value) else value])
            done[node_id] = hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()
        return done[node_id]

    for node_id in prompt:
        signature(node_id)
    return done


@dataclass(frozen=True)
class Entry:
    """A finished node: its output values and its UI dict (None when it shows nothing)."""

    values: tuple[Any, ...]
    ui: dict[str, Any] | None


class OutputCache:
    """Signature -> Entry. Used only by the worker thread."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def get(self, signature: str) -> Entry | None:
        return self._entries.get(signature)

    def put(self, signature: str, entry: Entry) -> None:
        self._entries[signature] = entry

    def retain(self, keep: set[str]) -> None:
        """Drop every entry the new prompt does not use (what the classic cache does per prompt)."""
        self._entries = {key: entry for key, entry in self._entries.items() if key in keep}

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
