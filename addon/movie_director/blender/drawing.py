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

#: The video model menu's "whatever Wan2GP has loaded" entry.
LOADED_MODEL = "LOADED"
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


JOB_ICONS = {"running": "TIME", "done": "CHECKMARK", "failed": "ERROR", "cancelled": "CANCEL"}


def draw_generate(layout: Any, context: Any) -> None:
    """Generate: a ComfyUI workflow, an LLM question, and every job with its progress and Cancel."""
    settings = context.scene.movie_director_generate
    box = layout.box()
    box.label(text="ComfyUI workflow", icon="NODETREE")
    box.prop(settings, "workflow_path", text="")
    box.prop(settings, "workflow_text", text="Text")
    box.prop(settings, "prompt")
    row = box.row(align=True)
    row.prop(settings, "seed")
    row.prop(settings, "prompt_node", text="Prompt node")
    row.prop(settings, "seed_node", text="Seed node")
    run = box.operator("movie_director.run_workflow", icon="PLAY")
    run.filepath, run.prompt, run.seed = settings.workflow_path, settings.prompt, settings.seed
    run.prompt_node, run.seed_node = settings.prompt_node, settings.seed_node
    run.workflow_text = settings.workflow_text.name if settings.workflow_text else ""

    box = layout.box()
    box.label(text="Ask the LLM", icon="OUTLINER_DATA_GP_LAYER")
    box.prop(settings, "llm_prompt", text="")
    box.prop(settings, "llm_context")
    row = box.row(align=True)
    row.prop(settings, "llm_use_strip", text="Strip as context")
    row.prop(settings, "llm_text_strip", text="Text strip")
    ask = box.operator("movie_director.ask_llm", icon="PLAY")
    ask.prompt, ask.use_selected_strip, ask.text_strip = settings.llm_prompt, settings.llm_use_strip, settings.llm_text_strip
    ask.context_text = settings.llm_context.name if settings.llm_context else ""

    box = layout.box()
    box.label(text="Wan2GP video", icon="SEQUENCE")
    box.prop(settings, "video_prompt", text="")
    row = box.row(align=True)
    row.prop(settings, "video_model", text="")
    row.operator("movie_director.refresh_video_models", text="", icon="FILE_REFRESH")
    row = box.row(align=True)
    row.prop(settings, "video_resolution", text="")
    row.prop(settings, "video_frames")
    row = box.row(align=True)
    row.prop(settings, "video_steps")
    row.prop(settings, "video_guidance")
    row.prop(settings, "video_seed")
    box.prop(settings, "video_start_image")
    video = box.operator("movie_director.generate_video", icon="PLAY")
    video.prompt, video.resolution, video.frames = settings.video_prompt, settings.video_resolution, settings.video_frames
    video.steps, video.guidance, video.seed = settings.video_steps, settings.video_guidance, settings.video_seed
    video.use_start_image = settings.video_start_image
    video.model = "" if settings.video_model == LOADED_MODEL else settings.video_model

    draw_jobs(layout, context.window_manager.movie_director_status)


def draw_jobs(layout: Any, status: Any) -> None:
    """One box per job: title, service and instance, progress bar with %, status text, elapsed, Cancel."""
    if not status.jobs:
        layout.label(text="No jobs yet.", icon="INFO")
        return
    for item in status.jobs:
        box = layout.box()
        header = box.row(align=True)
        header.label(text=item.title, icon=JOB_ICONS.get(item.state, "INFO"))
        header.label(text=item.elapsed)
        if item.state == "running":
            header.operator("movie_director.cancel_job", text="", icon="X").job_id = item.job_id
        box.label(text=f"{item.service} · {item.instance}")
        box.progress(factor=item.progress, type="BAR", text=f"{item.progress * 100:.0f} % · {item.status}")
    layout.operator("movie_director.clear_jobs", icon="TRASH")


def draw_statusbar(layout: Any, context: Any) -> None:
    """The status bar's share: how many jobs run and their mean progress."""
    status = context.window_manager.movie_director_status
    if status.jobs_running:
        layout.progress(factor=status.jobs_progress, type="BAR", text=f"Movie Director: {status.jobs_running} job(s) {status.jobs_progress * 100:.0f} %")


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


__all__ = ["JOB_ICONS", "SEVERITY_ICONS", "draw_dashboard", "draw_error_details", "draw_generate", "draw_history", "draw_jobs", "draw_statusbar", "draw_status", "lines", "triangle"]
