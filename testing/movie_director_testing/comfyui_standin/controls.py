"""Knobs for tests, set at start-up or live through POST /_standin/control.

Only settings live here; the one-shot actions (drop_websockets, send_garbage) are
carried out by the server route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("drop_websockets", "send_garbage")


@dataclass
class Controls:
    node_delay: float = 0.05
    """Seconds every executed node takes, and again per progress step."""
    steps: int | None = None
    """Progress steps for KSampler instead of its `steps` input (None keeps the input)."""
    fail_nodes: frozenset[str] = field(default_factory=frozenset)
    """Node ids or class types that raise a runtime error when they execute."""
    refuse_websockets: bool = False
    """Answer /ws with 403, as a proxy that blocks upgrades would."""

    def update(self, payload: Mapping[str, Any]) -> None:
        """Apply the settings in `payload`; raises ValueError (and changes nothing) on a bad one."""
        unknown = set(payload) - {"node_delay", "steps", "fail_nodes", "refuse_websockets", *ACTIONS}
        if unknown:
            raise ValueError(f"unknown control(s): {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        if "node_delay" in payload:
            changes["node_delay"] = _number(payload["node_delay"], "node_delay", float)
        if "steps" in payload:
            changes["steps"] = None if payload["steps"] is None else _number(payload["steps"], "steps", int)
        if "fail_nodes" in payload:
            nodes = payload["fail_nodes"]
            if not isinstance(nodes, list) or not all(isinstance(node, str) for node in nodes):
                raise ValueError("fail_nodes must be a list of node ids or class types")
            changes["fail_nodes"] = frozenset(nodes)
        if "refuse_websockets" in payload:
            if not isinstance(payload["refuse_websockets"], bool):
                raise ValueError("refuse_websockets must be true or false")
            changes["refuse_websockets"] = payload["refuse_websockets"]
        for name, value in changes.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "node_delay": self.node_delay,
            "steps": self.steps,
            "fail_nodes": sorted(self.fail_nodes),
            "refuse_websockets": self.refuse_websockets,
        }


def _number(value: Any, name: str, kind: type[int | float]) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a non-negative number")
    if kind is int and (value != int(value) or value < 1):
        raise ValueError(f"{name} must be a positive integer")
    return kind(value)
