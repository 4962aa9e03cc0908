"""The sidebar panels, the error-details dialog and the preferences page.

Every ``draw`` only reads properties the timer filled (and the controller's in-memory
notification history); it never opens a file or a socket and never waits for a lock a
worker holds for long, so a panel draws in well under a millisecond.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

import bpy
from bpy.types import Context, Panel

from movie_director.blender import runtime
from movie_director.blender.notifications import Notification, format_clock
from movie_director.config import LAYER_ENV, LAYER_FILE, PRESETS

CATEGORY = "Movie Director"
SEVERITY_ICONS = {"INFO": "INFO", "WARNING": "ERROR", "ERROR": "CANCEL"}
TEST_ICONS = {"running": "TIME", "ok": "CHECKMARK", "failed": "ERROR", "problems": "ERROR"}
FINDING_ICONS = {"ok": "CHECKMARK", "warn": "ERROR", "fail": "CANCEL"}
WRAP = 90


def _triangle(open_: bool) -> str:
    return "DISCLOSURE_TRI_DOWN" if open_ else "DISCLOSURE_TRI_RIGHT"


def _lines(layout: Any, text: str, icon: str = "NONE", width: int = WRAP) -> None:
    """A long text as several labels (a label never wraps by itself)."""
    for index, line in enumerate(textwrap.wrap(text, width) or [""]):
        layout.label(text=line, icon=icon if index == 0 else "BLANK1" if icon != "NONE" else "NONE")


# -- sidebar -------------------------------------------------------------------------------


def draw_status(layout: Any, context: Context) -> None:
    """Backend Services: traffic light, Refresh, one row per service, details, the LLM row."""
    status = context.window_manager.movie_director_status
    header = layout.row(align=True)
    header.label(text=status.overall_text or "Starting…", icon=status.overall_icon)
    header.operator("movie_director.refresh_connections", text="", icon="FILE_REFRESH")
    if status.offline_note:
        layout.label(text=status.offline_note, icon="INFO")
    column = layout.column(align=True)
    for item in status.services:
        row = column.row(align=True)
        row.prop(item, "show_details", text="", icon=_triangle(item.show_details), emboss=False)
        row.label(text=item.label, icon=item.icon)
        right = row.row(align=True)
        right.alignment = "RIGHT"
        right.label(text=item.latency)
        right.label(text=item.last_check_text)
        if item.show_details:
            _draw_details(column.box(), item)
        elif item.error:
            column.label(text=item.error, icon="BLANK1")
    if status.llm_text:
        layout.label(text=status.llm_text, icon=status.llm_icon)


def _draw_details(box: Any, item: Any) -> None:
    column = box.column(align=True)
    column.label(text=f"State: {item.state_text}")
    column.label(text=f"URL: {item.url}")
    column.label(text=f"Version: {item.version}")
    column.label(text=f"Capabilities: {item.capabilities}")
    if item.error:
        _lines(column, f"Last error: {item.error}", icon="ERROR")
        for hint in item.hints.splitlines():
            _lines(column, f"• {hint}")
    if item.reconnect_text:
        column.label(text=f"Next reconnect: {item.reconnect_text}", icon="TIME")
    column.label(text=f"Queued operations: {item.queued_ops}" + (f" ({item.queued})" if item.queued else ""))
    column.operator("movie_director.manual_reconnect", text="Reconnect Now", icon="FILE_REFRESH").service = item.name


def draw_history(layout: Any, context: Context) -> None:
    """The last 10 notifications as 40-character summaries, each with a details button."""
    status = context.window_manager.movie_director_status
    if not status.notifications:
        layout.label(text="No recent errors", icon="CHECKMARK")
        return
    column = layout.column(align=True)
    for item in status.notifications:
        row = column.row(align=True)
        row.label(text=item.summary, icon=SEVERITY_ICONS.get(item.severity, "INFO"))
        row.operator("movie_director.show_error_details", text="", icon="VIEWZOOM").notification_id = item.notification_id
    layout.operator("movie_director.clear_notifications", icon="TRASH")


def draw_dashboard(layout: Any, context: Context) -> None:
    """Health Monitoring: range selector, per-service numbers and trend, export, reconnect."""
    status = context.window_manager.movie_director_status
    layout.row().prop(status, "time_range", expand=True)
    if not status.dashboard:
        layout.label(text="No health history yet.", icon="INFO")
    for item in status.dashboard:
        box = layout.box()
        header = box.row(align=True)
        header.label(text=f"{item.label} ({item.checks} checks)")
        header.operator("movie_director.manual_reconnect", text="", icon="FILE_REFRESH").service = item.name
        column = box.column(align=True)
        column.label(text=item.response)
        column.label(text=item.availability)
        for line in item.metrics.splitlines():
            column.label(text=line)
        column.label(text=item.trend, icon="GRAPH")
    row = layout.row(align=True)
    row.operator("movie_director.export_metrics", text="Export CSV", icon="EXPORT").format = "CSV"
    row.operator("movie_director.export_metrics", text="Export JSON", icon="EXPORT").format = "JSON"
    layout.operator("movie_director.manual_reconnect", text="Reconnect All", icon="FILE_REFRESH").service = ""


def draw_error_details(layout: Any, notification: Notification | None) -> None:
    """The details dialog: type, service, time, message, Suggested Solutions, Copy."""
    if notification is None:
        layout.label(text="This notification is no longer in the history.", icon="INFO")
        return
    column = layout.column(align=True)
    column.label(text=notification.title, icon=SEVERITY_ICONS[notification.severity.value])
    column.label(text=f"Type: {notification.type}")
    column.label(text=f"Service: {notification.service or '–'}")
    seen = f" (seen {notification.count} times)" if notification.count > 1 else ""
    column.label(text=f"Time: {format_clock(notification.timestamp)}{seen}")
    column.separator()
    _lines(column, notification.message)
    if notification.hints:
        column.separator()
        column.label(text="Suggested Solutions", icon="HELP")
        for hint in notification.hints:
            _lines(column, f"• {hint}")
    if notification.fix:
        column.separator()
        _lines(column, f"Fix: {notification.fix}", icon="TOOL_SETTINGS")
    layout.operator("movie_director.copy_error", icon="COPYDOWN").notification_id = notification.id


# -- preferences ---------------------------------------------------------------------------


def draw_preferences(preferences: Any, context: Context, layout: Any) -> None:
    controller = runtime.get().controller
    status = context.window_manager.movie_director_status
    if not bpy.app.online_access:
        _lines(layout, "Online access is off: only services on this computer are checked (Edit › Preferences › System › Network).", icon="INFO")
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
        _lines(layout, status.discovery.message, icon=TEST_ICONS.get(status.discovery.state, "INFO"))
    box = layout.box()
    row = box.row()
    row.operator("movie_director.run_diagnostics", icon="CONSOLE")
    if status.doctor.state:
        row.label(text={"running": "Running…", "ok": "Everything looks fine.", "problems": "Problems found:", "failed": "Diagnostics failed."}.get(status.doctor.state, ""))
    for finding in status.findings:
        _lines(box, f"{finding.name}: {finding.message}", icon=FINDING_ICONS.get(finding.state, "INFO"))
        if finding.hints:
            _lines(box, f"→ {finding.hints}")


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
    header.prop(item, "show_expanded", text="", icon=_triangle(item.show_expanded), emboss=False)
    header.prop(item, "enabled", text="")
    header.label(text=f"{item.name} ({item.kind})")
    header.operator("movie_director.test_connection", text="Test", icon="PLAY").service = item.name
    header.operator("movie_director.remove_service", text="", icon="X").service = item.name
    _field(box, controller, item, "url")
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
        _lines(box, result.message, icon=TEST_ICONS.get(result.state, "INFO"))
        for hint in result.hints.splitlines():
            _lines(box, f"• {hint}")


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


CLASSES = (
    MOVIE_DIRECTOR_PT_connection_status,
    MOVIE_DIRECTOR_PT_error_history,
    MOVIE_DIRECTOR_PT_health_dashboard,
    MOVIE_DIRECTOR_PT_connection_status_sequencer,
    MOVIE_DIRECTOR_PT_error_history_sequencer,
    MOVIE_DIRECTOR_PT_health_dashboard_sequencer,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
