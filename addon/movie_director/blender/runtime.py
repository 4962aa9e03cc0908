"""The timer: the one bridge between the core's threads and Blender's properties.

:func:`tick` runs on Blender's main thread every :data:`POLL_INTERVAL` (0.1 s) through
``bpy.app.timers``; tests call it by hand, since timers never fire while a script
blocks (and not at all in ``bpy`` module mode). One tick snapshots the preferences,
lets the :class:`~movie_director.blender.controller.Controller` take job results and
core events, and copies what changed into ``WindowManager.movie_director_status``.
An event is drained by the next tick and shown by the same tick; without events the
rows are refreshed from a snapshot once a second.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import bpy

from movie_director.blender.controller import POLL_INTERVAL, Controller, SettingsUpdate
from movie_director.blender.jobboard import JobBoard
from movie_director.blender.notifications import HISTORY_SHOWN, Severity
from movie_director.blender.pending import forget, resume
from movie_director.blender.persistence import apply_file_settings
from movie_director.blender.profiles import ProfileStore
from movie_director.blender.settings import UISettings
from movie_director.blender.view import format_age, format_elapsed, format_ms, percent
from movie_director.config import default_data_dir
from movie_director.errors import map_exception
from movie_director.logs import configure_logging, reset_logging
from movie_director.redact import install_log_filter

log = logging.getLogger(__name__)

REDRAW_AREAS = {"VIEW_3D", "SEQUENCE_EDITOR", "PREFERENCES"}
PROFILES_PATH = "movie_director/profiles"


class Runtime:
    """The add-on's state while it is enabled; one per Blender session."""

    def __init__(self, package: str, profiles_dir: Path) -> None:
        self.package = package
        self.controller = Controller(ProfileStore(profiles_dir))
        #: False after opening a file saved with auto-connect off, until Refresh is pressed.
        self.connect_allowed = True
        self._notification_revision = -1
        #: Enabled while a file is open: its settings are applied by the first tick.
        self._file_applied = False
        self._board_revision = -1
        #: A file was opened: resume the jobs it kept once the services run.
        self.pending_check = True
        self._board_written = float("-inf")

    def preferences(self) -> Any:
        return bpy.context.preferences.addons[self.package].preferences

    def settings(self) -> UISettings:
        """The preferences, frozen: the only form of them a worker thread ever sees."""
        defaults = tuple(service.name for service in self.controller.defaults.services)
        return self.preferences().to_settings(tuple(self.controller.profile_names), defaults)

    def step(self) -> None:
        if not self._file_applied:
            self._file_applied = True
            if bpy.context.scene is not None:
                apply_file_settings(self, bpy.context.scene)
        preferences = self.preferences()
        controller = self.controller
        controller.configure(self.settings(), bpy.app.online_access, connect=self.connect_allowed)
        poll = controller.poll()
        if not preferences.initialized and controller.defaults.services:
            if not preferences.services:  # the first start: the installed kinds' defaults
                self.apply(SettingsUpdate(replace(controller.defaults, active_profile=preferences.active_profile), ""))
                controller.adopt(self.settings())
            preferences.initialized = True
        for update in poll.updates:
            self.apply(update)
        jobs_changed = self.deliver_jobs()
        if poll.redraw or jobs_changed or controller.notifications.revision != self._notification_revision:
            self._notification_revision = controller.notifications.revision
            write_status(bpy.context.window_manager.movie_director_status, controller, time.time())
            tag_redraw()

    def deliver_jobs(self) -> bool:
        """Stream answers into their Text datablocks, import what finished; True if the panel must show it."""
        from movie_director.blender.delivery import deliver, write_answer

        resume(self)
        board = self.controller.board
        for job in board.active:
            if job.kind == "llm" and job.target.blend == bpy.data.filepath:
                write_answer(job)
        finished = board.take_finished(bpy.data.filepath)
        for job in finished:
            deliver(job, self.controller.notifications)
            forget(job.id)
        for job in board.undelivered():
            waiting = f"Done; imported when {Path(job.target.blend).name or 'the unsaved file'} is open again"
            if job.status != waiting:
                job.update(status=waiting)
        now = time.monotonic()
        changed = bool(finished) or board.revision != self._board_revision or (bool(board.active) and now - self._board_written >= 1.0)
        if changed:
            self._board_revision, self._board_written = board.revision, now
        return changed

    def apply(self, update: SettingsUpdate) -> None:
        """Put settings produced off the main thread into the preferences."""
        self.preferences().set_from(update.settings)
        if update.reason:
            self.controller.notifications.add(Severity.INFO, update.reason, type="settings")

    def refresh(self) -> None:
        self.connect_allowed = True
        self.controller.refresh(self.settings(), bpy.app.online_access)


_runtime: Runtime | None = None


def get() -> Runtime:
    if _runtime is None:
        raise RuntimeError("The Movie Director add-on is not enabled.")
    return _runtime


def tick() -> float | None:
    """The ``bpy.app.timers`` callback (also called by hand in tests); returns the next interval."""
    runtime = _runtime
    if runtime is None:
        return None
    try:
        runtime.step()
    except Exception as exc:  # noqa: BLE001 - a broken tick must not kill the timer; the artist hears of it
        log.exception("Movie Director timer failed")
        runtime.controller.notifications.add_error(map_exception(exc).to_dict(), title="Internal error")
    return POLL_INTERVAL


def range_changed(range_key: str) -> None:
    if _runtime is not None:
        _runtime.controller.set_dashboard_range(range_key)


def start(package: str) -> Runtime:
    global _runtime
    if _runtime is not None:
        raise RuntimeError(f"Movie Director is already enabled as {_runtime.package}.")
    install_log_filter()
    configure_logging(default_data_dir(os.environ))
    profiles_dir = Path(bpy.utils.user_resource("CONFIG", path=PROFILES_PATH))
    _runtime = Runtime(package, profiles_dir)
    _runtime.controller.list_profiles()
    bpy.app.timers.register(tick, first_interval=0.0, persistent=True)
    return _runtime


def stop() -> None:
    """Unregister the timer, then close the manager and join every thread the add-on started."""
    global _runtime
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.controller.close()
    reset_logging()


# -- copying into properties ---------------------------------------------------------------


def _set(target: Any, **values: Any) -> None:
    """Assign only what changed (each assignment costs an RNA update)."""
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)


def _resize(collection: Any, size: int) -> None:
    while len(collection) > size:
        collection.remove(len(collection) - 1)
    while len(collection) < size:
        collection.add()


def write_status(status: Any, controller: Controller, now: float) -> None:
    """Copy the controller's view into ``WindowManager.movie_director_status``."""
    icon, text = controller.traffic_light
    _set(status, state=controller.state, overall_icon=icon, overall_text=text)
    _set(status, llm_icon=controller.llm[0], llm_text=controller.llm[1] if controller.rows else "")
    blocked = any(row.error_code == "online_access_disabled" for row in controller.rows)
    _set(status, offline_note="Online access is off: services on other machines are not checked." if blocked else "")

    expanded = {item.name for item in status.services if item.show_details}
    renamed = [item.name for item in status.services] != [row.name for row in controller.rows]
    _resize(status.services, len(controller.rows))
    for item, row in zip(status.services, controller.rows):
        _set(
            item,
            name=row.name,
            label=row.label,
            kind=row.kind,
            url=row.url,
            state=row.state,
            state_text=row.state_text,
            icon=row.icon,
            latency=row.latency,
            last_check_text=format_age(row.last_check, now),
            version=row.version or "–",
            capabilities=row.capabilities,
            error=row.error,
            error_code=row.error_code,
            hints="\n".join(row.hints),
            reconnect_text=row.waiting,
            queued_ops=row.queued_ops,
            queued=row.queued,
        )
        if renamed:
            _set(item, show_details=row.name in expanded)

    recent = controller.notifications.recent(HISTORY_SHOWN)
    _resize(status.notifications, len(recent))
    for item, notification in zip(status.notifications, recent):
        _set(item, notification_id=notification.id, severity=notification.severity.value, summary=notification.summary())

    _resize(status.dashboard, len(controller.dashboard))
    for item, dashboard_row in zip(status.dashboard, controller.dashboard):
        stats = dashboard_row.stats
        _set(
            item,
            name=dashboard_row.name,
            label=dashboard_row.label,
            checks=stats.checks,
            response=f"avg {format_ms(stats.avg_ms)} · p95 {format_ms(stats.p95_ms)}",
            availability=f"uptime {percent(stats.uptime_pct)} · success {percent(stats.success_pct)}",
            metrics="\n".join(dashboard_row.lines),
            trend=stats.trend,
        )

    tests = sorted(controller.tests.items())
    _resize(status.tests, len(tests))
    for item, (name, outcome) in zip(status.tests, tests):
        _set(item, name=name, state=outcome.state, message=outcome.message, hints="\n".join(outcome.hints))
    discovery = controller.discovery
    _set(status.discovery, state=discovery.state if discovery else "", message=discovery.message if discovery else "", hints="\n".join(discovery.hints) if discovery else "")
    _set(status.doctor, state=controller.doctor_state)
    _resize(status.findings, len(controller.doctor_findings))
    for item, finding in zip(status.findings, controller.doctor_findings):
        _set(item, name=finding["name"], state=finding["status"], message=finding["detail"], hints=finding.get("fix", ""))
    write_jobs(status, controller.board, now)


def write_jobs(status: Any, board: JobBoard, now: float) -> None:
    """The Generate panel's rows and the status bar's progress."""
    views = board.views()
    _resize(status.jobs, len(views))
    for item, view in zip(status.jobs, views):
        elapsed = format_elapsed((view.finished or now) - view.started)
        _set(item, job_id=view.id, service=view.service, instance=view.instance, title=view.title, state=view.state, status=view.status, progress=view.progress, elapsed=elapsed)
    overall = board.overall_progress()
    _set(status, jobs_progress=-1.0 if overall is None else overall, jobs_running=len(board.active))


def tag_redraw() -> None:
    """Ask the sidebars and the preferences to redraw (nothing to do without windows)."""
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in REDRAW_AREAS:
                area.tag_redraw()


__all__ = ["POLL_INTERVAL", "Runtime", "get", "range_changed", "start", "stop", "tick"]
