"""A stand-in for ``bpy.types.UILayout`` that records what a ``draw`` asks for.

Panels cannot be drawn without a window (``bpy`` as a module has none), so the tests
and ``benchmarks/bench_panel_draw.py`` call each panel's ``draw`` with this object
instead and read back the labels, icons, operators and properties it was given. Pure
Python; optional checks reject unknown icons, operators and operator properties the
way Blender would. :func:`rna_status_context` gives those draws real Blender properties
to read (it imports ``bpy`` only when called).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from movie_director.blender.controller import Controller


@dataclass
class Call:
    """One ``label`` / ``operator`` / ``prop`` / ``separator`` call and its arguments."""

    method: str
    text: str | None = None
    icon: str = "NONE"
    target: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    #: The layout attributes in force (enabled, alert …) when the call was made.
    state: dict[str, Any] = field(default_factory=dict)


class OperatorProperties:
    """What ``layout.operator`` returns: remembers the properties set on it."""

    _call: Call
    _check: Callable[[str, str], None] | None

    def __init__(self, call: Call, check: Callable[[str, str], None] | None) -> None:
        object.__setattr__(self, "_call", call)
        object.__setattr__(self, "_check", check)

    def __setattr__(self, name: str, value: Any) -> None:
        if self._check is not None:
            self._check(self._call.target, name)
        self._call.properties[name] = value


class RecordingLayout:
    """Records calls in order; ``row``/``column``/``box``/``split`` return child recorders."""

    _STATE = ("enabled", "active", "alert")

    def __init__(
        self,
        kind: str = "layout",
        *,
        icons: set[str] | None = None,
        operator_check: Callable[[str, str], None] | None = None,
        prop_check: Callable[[Any, str], None] | None = None,
    ) -> None:
        self.kind = kind
        self.items: list[Call | RecordingLayout] = []
        self.enabled = True
        self.active = True
        self.alert = False
        self.alignment = "EXPAND"
        self.scale_x = self.scale_y = 1.0
        self.use_property_split = self.use_property_decorate = False
        self.operator_context = "INVOKE_DEFAULT"
        self._icons = icons
        self._operator_check = operator_check
        self._prop_check = prop_check

    # -- containers ----------------------------------------------------------------------

    def _child(self, kind: str) -> RecordingLayout:
        child = RecordingLayout(kind, icons=self._icons, operator_check=self._operator_check, prop_check=self._prop_check)
        child.enabled, child.active, child.alert = self.enabled, self.active, self.alert
        self.items.append(child)
        return child

    def row(self, **options: Any) -> RecordingLayout:
        return self._child("row")

    def column(self, **options: Any) -> RecordingLayout:
        return self._child("column")

    def box(self) -> RecordingLayout:
        return self._child("box")

    def split(self, **options: Any) -> RecordingLayout:
        return self._child("split")

    def grid_flow(self, **options: Any) -> RecordingLayout:
        return self._child("grid_flow")

    # -- items -----------------------------------------------------------------------------

    def _record(self, method: str, text: str | None, icon: str, target: str = "", **options: Any) -> Call:
        if self._icons is not None and icon not in self._icons:
            raise TypeError(f"{method}(): icon {icon!r} not found")
        call = Call(method, text, icon, target, options, state={name: getattr(self, name) for name in self._STATE})
        self.items.append(call)
        return call

    def label(self, *, text: str = "", icon: str = "NONE", **options: Any) -> None:
        self._record("label", text, icon, **options)

    def operator(self, operator: str, *, text: str | None = None, icon: str = "NONE", **options: Any) -> OperatorProperties:
        if self._operator_check is not None:
            self._operator_check(operator, "")
        return OperatorProperties(self._record("operator", text, icon, operator, **options), self._operator_check)

    def prop(self, data: Any, property: str, *, text: str | None = None, icon: str = "NONE", **options: Any) -> None:
        if self._prop_check is not None:
            self._prop_check(data, property)
        self._record("prop", text, icon, property, data=data, **options)

    def progress(self, *, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:
        self._record("progress", text, "NONE", factor=factor, type=type)

    def separator(self, **options: Any) -> None:
        self._record("separator", None, "NONE")

    # -- reading back ----------------------------------------------------------------------

    def calls(self) -> Iterator[Call]:
        """Every call, depth first, in drawing order."""
        for item in self.items:
            if isinstance(item, RecordingLayout):
                yield from item.calls()
            else:
                yield item

    def labels(self) -> list[str]:
        return [call.text or "" for call in self.calls() if call.method == "label"]

    def icons(self) -> list[str]:
        return [call.icon for call in self.calls() if call.icon != "NONE"]

    def operators(self, idname: str | None = None) -> list[Call]:
        return [call for call in self.calls() if call.method == "operator" and idname in (None, call.target)]

    def props(self) -> list[Call]:
        return [call for call in self.calls() if call.method == "prop"]

    def text(self) -> str:
        """Every label and button text, one per line (for "what does the panel say" asserts)."""
        return "\n".join(call.text or "" for call in self.calls() if call.method in ("label", "operator", "progress") and call.text)


@contextmanager
def rna_status_context(controller: Controller, package: str) -> Iterator[Any]:
    """``bpy.context`` with ``WindowManager.movie_director_status`` filled from ``controller``
    by the add-on's own ``write_status``, so a draw reads real RNA properties, not look-alikes.

    The property groups are registered under ``package`` for the ``with`` block only.
    Raises ImportError where ``bpy`` is not installed (callers fall back to plain objects).
    """
    import bpy

    from movie_director.blender import properties, runtime

    properties.register(package)
    try:
        runtime.write_status(bpy.context.window_manager.movie_director_status, controller, time.time())
        yield bpy.context
    finally:
        properties.unregister()


__all__ = ["Call", "OperatorProperties", "RecordingLayout", "rna_status_context"]
