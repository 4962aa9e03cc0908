"""What the sidebar panels and the error-details dialog draw: plain Python, no ``bpy``.

Each function only reads what the timer copied into ``WindowManager.movie_director_status``
(and one notification from the in-memory history); it never opens a file or a socket, so
a panel draws in well under a millisecond. ``panels.py`` wraps these in Blender's Panel
classes; tests and ``benchmarks/bench_panel_draw.py`` call them with a recording layout.
"""

from __future__ import annotations

import textwrap
from typing import Any

from movie_director.blender.notifications import Notification, format_clock

SEVERITY_ICONS = {"INFO": "INFO", "WARNING": "ERROR", "ERROR": "CANCEL"}
WRAP = 90


def triangle(open_: bool) -> str:
    return "DISCLOSURE_TRI_DOWN" if open_ else "DISCLOSURE_TRI_RIGHT"


def lines(layout: Any, text: str, icon: str = "NONE", width: int = WRAP) -> None:
    """A long text as several labels (a label never wraps by itself)."""
    for index, line in enumerate(textwrap.wrap(text, width) or [""]):
        layout.label(text=line, icon=icon if index == 0 else "BLANK1" if icon != "NONE" else "NONE")


# -- sidebar -------------------------------------------------------------------------------


def draw_status(layout: Any, context: Any) -> None:
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
        row.prop(item, "show_details", text="", icon=triangle(item.show_details), emboss=False)
        row.label(text=item.label, icon=item.icon)
        right = row.row(align=True)
        right.alignment = "RIGHT"
        right.label(text=item.latency)
        right.label(text=item.last_check_text)
        if item.show_details:
            _draw_details(column.box(), item)
        else:
            if item.error:
                column.label(text=item.error, icon="BLANK1")
            if item.reconnect_text:
                column.label(text=item.reconnect_text, icon="TIME")
    if status.llm_text:
        layout.label(text=status.llm_text, icon=status.llm_icon)


def _draw_details(box: Any, item: Any) -> None:
    column = box.column(align=True)
    column.label(text=f"State: {item.state_text}")
    column.label(text=f"URL: {item.url}")
    column.label(text=f"Version: {item.version}")
    column.label(text=f"Capabilities: {item.capabilities}")
    if item.error:
        lines(column, f"Last error: {item.error}", icon="ERROR")
        for hint in item.hints.splitlines():
            lines(column, f"• {hint}")
    if item.reconnect_text:
        column.label(text=item.reconnect_text, icon="TIME")
    column.label(text=f"Queued operations: {item.queued_ops}" + (f" ({item.queued})" if item.queued else ""))
    column.operator("movie_director.manual_reconnect", text="Reconnect Now", icon="FILE_REFRESH").service = item.name


def draw_history(layout: Any, context: Any) -> None:
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


def draw_dashboard(layout: Any, context: Any) -> None:
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
    lines(column, notification.message)
    if notification.hints:
        column.separator()
        column.label(text="Suggested Solutions", icon="HELP")
        for hint in notification.hints:
            lines(column, f"• {hint}")
    if notification.fix:
        column.separator()
        lines(column, f"Fix: {notification.fix}", icon="TOOL_SETTINGS")
    layout.operator("movie_director.copy_error", icon="COPYDOWN").notification_id = notification.id


__all__ = ["SEVERITY_ICONS", "draw_dashboard", "draw_error_details", "draw_history", "draw_status", "lines", "triangle"]
