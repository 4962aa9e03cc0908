"""The sidebar panels (in the 3D Viewport and the Sequencer) and the preferences page.

The panels draw with :mod:`movie_director.blender.drawing`; the preferences page reads
only properties, the controller's in-memory state and ``os.environ`` (is a key variable
set?). No ``draw`` here opens a file or a socket.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import bpy
from bpy.types import Context, Panel

from movie_director.blender import runtime
from movie_director.blender.drawing import draw_dashboard, draw_generate, draw_history, draw_status, draw_statusbar, lines, triangle
from movie_director.configdata import LAYER_ENV, LAYER_FILE, PRESETS

CATEGORY = "Movie Director"
TEST_ICONS = {"running": "TIME", "ok": "CHECKMARK", "failed": "ERROR", "problems": "ERROR"}
FINDING_ICONS = {"ok": "CHECKMARK", "warn": "ERROR", "fail": "CANCEL"}


# -- preferences ---------------------------------------------------------------------------


def draw_preferences(preferences: Any, context: Context, layout: Any) -> None:
    controller = runtime.get().controller
    status = context.window_manager.movie_director_status
    if not bpy.app.online_access:
        lines(layout, "Online access is off: only services on this computer are checked (Edit › Preferences › System › Network).", icon="INFO")
    _draw_profiles(layout.box(), preferences, controller)
    for item in preferences.services:
        _draw_service(layout.box(), item, controller, status)
    row = layout.row(align=True)
    row.operator("movie_director.discover_services", icon="VIEWZOOM").ports = preferences.discovery_ports
    row.prop(preferences, "discovery_ports", text="")
    row = layout.row(align=True)
    for kind, label, url in controller.kinds:
        add = row.operator("movie_director.add_service", text=f"Add {label}", icon="ADD")
        add.kind, add.url = kind, url or "http://127.0.0.1:7860"
    if status.discovery.state:
        lines(layout, status.discovery.message, icon=TEST_ICONS.get(status.discovery.state, "INFO"))
    box = layout.box()
    row = box.row()
    row.operator("movie_director.run_diagnostics", icon="CONSOLE")
    if status.doctor.state:
        row.label(text={"running": "Running…", "ok": "Everything looks fine.", "problems": "Problems found:", "failed": "Diagnostics failed."}.get(status.doctor.state, ""))
    for finding in status.findings:
        lines(box, f"{finding.name}: {finding.message}", icon=FINDING_ICONS.get(finding.state, "INFO"))
        if finding.hints:
            lines(box, f"→ {finding.hints}")


def _draw_profiles(box: Any, preferences: Any, controller: Any) -> None:
    box.label(text=f"Profile: {preferences.active_profile}", icon="PRESET")
    row = box.row(align=True)
    for preset in PRESETS:
        row.operator("movie_director.apply_profile", text=preset, depress=preset == preferences.active_profile).name = preset
    for name in controller.profile_names:
        row = box.row(align=True)
        row.operator("movie_director.apply_profile", text=name, depress=name == preferences.active_profile).name = name
        row.operator("movie_director.delete_profile", text="", icon="TRASH").name = name
    row = box.row(align=True)
    row.prop(preferences, "profile_name", text="")
    row.operator("movie_director.save_profile", text="Save as Profile", icon="FILE_TICK").name = preferences.profile_name
    row = box.row(align=True)
    row.operator("movie_director.import_settings", text="Import JSON", icon="IMPORT")
    row.operator("movie_director.export_settings", text="Export JSON", icon="EXPORT")
    row.operator("movie_director.reset_settings", icon="LOOP_BACK")


def _draw_service(box: Any, item: Any, controller: Any, status: Any) -> None:
    header = box.row(align=True)
    header.prop(item, "show_expanded", text="", icon=triangle(item.show_expanded), emboss=False)
    header.prop(item, "enabled", text="")
    header.label(text=f"{item.name} ({item.kind})")
    header.operator("movie_director.test_connection", text="Test", icon="PLAY").service = item.name
    header.operator("movie_director.remove_service", text="", icon="X").service = item.name
    _field(box, controller, item, "url")
    _draw_instances(box, item, controller, status)
    if item.url_error:
        row = box.row()
        row.alert = True
        row.label(text=item.url_error, icon="ERROR")
    if item.show_expanded:
        _field(box, controller, item, "timeout")
        _field(box, controller, item, "retries")
        _field(box, controller, item, "auth_env")
        variable = controller.effective(item.name, "auth_env") or item.auth_env
        row = box.row(align=True)
        row.label(text=f"Key: {variable} is {'set' if os.environ.get(variable) else 'not set'}" if variable else "No API key used", icon="KEYINGSET")
        row.operator("movie_director.set_api_key", text="Paste Key…").service = item.name
    result = status.tests.get(item.name)
    if result is not None:
        lines(box, result.message, icon=TEST_ICONS.get(result.state, "INFO"))
        for hint in result.hints.splitlines():
            lines(box, f"• {hint}")


def _draw_instances(box: Any, item: Any, controller: Any, status: Any) -> None:
    """A service with several servers (config file or environment): each one's address and state."""
    config = controller.config.services.get(item.name) if controller.config is not None else None
    if config is None or len(config.instances) < 2:
        return
    rows = {row.url: row for row in status.services}
    column = box.column(align=True)
    column.label(text=f"{len(config.instances)} instances — work goes to the least loaded:")
    for instance in config.instances:
        row = rows.get(instance.url)
        state = row.state_text if row is not None else "not watched yet"
        column.label(text=f"{instance.url} (weight {instance.weight:g}) — {state}", icon=row.icon if row is not None else "BLANK1")


def _field(layout: Any, controller: Any, item: Any, key: str) -> None:
    """The field, or, when a config file or the environment sets it, its value read-only and why."""
    source = controller.source_of(item.name, "auth" if key == "auth_env" else key)
    if source is not None and source.layer in (LAYER_FILE, LAYER_ENV):
        row = layout.row(align=True)
        row.label(text=f"{item.bl_rna.properties[key].name}: {controller.effective(item.name, key)}", icon="LOCKED")
        row.label(text=f"overridden by {source.layer} {source.location}")
        return
    layout.prop(item, key)


# -- panel classes (the same three in the 3D Viewport and the Sequencer sidebar) ------------


class _Sidebar:
    bl_region_type = "UI"
    bl_category = CATEGORY
    if TYPE_CHECKING:  # what bpy.types.Panel gives; a class annotation would be read as a property
        layout: Any


class _Status(_Sidebar):
    bl_label = "Backend Services"

    def draw(self, context: Context) -> None:
        draw_status(self.layout, context)


class _History(_Sidebar):
    bl_label = "Recent Errors"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        draw_history(self.layout, context)


class _Dashboard(_Sidebar):
    bl_label = "Health Monitoring"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        draw_dashboard(self.layout, context)


class MOVIE_DIRECTOR_PT_connection_status(_Status, Panel):
    bl_space_type = "VIEW_3D"


class MOVIE_DIRECTOR_PT_error_history(_History, Panel):
    bl_space_type = "VIEW_3D"
    bl_parent_id = "MOVIE_DIRECTOR_PT_connection_status"


class MOVIE_DIRECTOR_PT_health_dashboard(_Dashboard, Panel):
    bl_space_type = "VIEW_3D"
    bl_parent_id = "MOVIE_DIRECTOR_PT_connection_status"


class MOVIE_DIRECTOR_PT_connection_status_sequencer(_Status, Panel):
    bl_space_type = "SEQUENCE_EDITOR"


class MOVIE_DIRECTOR_PT_error_history_sequencer(_History, Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_parent_id = "MOVIE_DIRECTOR_PT_connection_status_sequencer"


class MOVIE_DIRECTOR_PT_health_dashboard_sequencer(_Dashboard, Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_parent_id = "MOVIE_DIRECTOR_PT_connection_status_sequencer"


class MOVIE_DIRECTOR_PT_generate_sequencer(_Sidebar, Panel):
    """Generate: results land at the playhead of this scene's sequence editor."""

    bl_space_type = "SEQUENCE_EDITOR"
    bl_label = "Generate"

    def draw(self, context: Context) -> None:
        draw_generate(self.layout, context)


def _statusbar(self: Any, context: Context) -> None:
    draw_statusbar(self.layout, context)


CLASSES = (
    MOVIE_DIRECTOR_PT_connection_status,
    MOVIE_DIRECTOR_PT_error_history,
    MOVIE_DIRECTOR_PT_health_dashboard,
    MOVIE_DIRECTOR_PT_connection_status_sequencer,
    MOVIE_DIRECTOR_PT_error_history_sequencer,
    MOVIE_DIRECTOR_PT_health_dashboard_sequencer,
    MOVIE_DIRECTOR_PT_generate_sequencer,
)

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    """The panels in this order, and the running jobs' progress in the status bar."""
    _register_classes()
    bpy.types.STATUSBAR_HT_header.append(_statusbar)


def unregister() -> None:
    bpy.types.STATUSBAR_HT_header.remove(_statusbar)
    _unregister_classes()
