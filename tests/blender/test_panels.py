"""Each panel's draw(), through a recording layout, for connected / degraded / disconnected /
error services; what it shows, that it does no I/O, and that it stays under 1 ms."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("bpy")

from movie_director.blender import panels  # noqa: E402 - needs bpy
from movie_director.blender.operators import MOVIE_DIRECTOR_OT_copy_error, MOVIE_DIRECTOR_OT_show_error_details

REMOTE = "http://192.0.2.10:9"  # TEST-NET: never contacted, online access is off in module mode


def draw(panel: Any, recorder: Any, bpy: Any, io_watch: Any) -> Any:
    """Draw one panel class into a recording layout; fails if the draw touched a file or a socket."""
    layout = recorder()
    with io_watch.watching() as events:
        panel.draw(SimpleNamespace(layout=layout), bpy.context)
    assert events == [], f"{panel.__name__}.draw did I/O: {events}"
    return layout


def status_panel(addon: Any, recorder: Any, bpy: Any, io_watch: Any) -> Any:
    return draw(panels.MOVIE_DIRECTOR_PT_connection_status, recorder, bpy, io_watch)


def test_connected(addon: Any, bpy: Any, recorder: Any, io_watch: Any, tmp_path: Path, listening: Any) -> None:
    local = listening()
    addon.use_fake(tmp_path, {"fake": local})
    addon.pump(lambda: addon.status.services and addon.row("fake").state == "connected", message="connected")
    layout = status_panel(addon, recorder, bpy, io_watch)
    labels = layout.labels()
    assert labels[0] == "All services online" and layout.icons()[0] == "COLORSET_03_VEC"
    assert "Fake" in labels and "5 ms" in labels and "just now" in labels
    assert [call.icon for call in layout.calls() if call.text == "Fake"] == ["CHECKMARK"]
    assert layout.operators("movie_director.refresh_connections")[0].icon == "FILE_REFRESH"
    assert "LLM: no LiteLLM service enabled" in labels
    addon.row("fake").show_details = True
    details = status_panel(addon, recorder, bpy, io_watch)
    for text in ("State: Connected", f"URL: {local}", "Version: 1.0", "Capabilities: 1", "Queued operations: 0"):
        assert text in details.labels()
    assert not any(label.startswith("waiting for") for label in details.labels())
    [reconnect] = details.operators("movie_director.manual_reconnect")
    assert reconnect.properties == {"service": "fake"}


def test_degraded(addon: Any, bpy: Any, recorder: Any, io_watch: Any, tmp_path: Path, listening: Any) -> None:
    local = listening()
    slow = listening()
    backend = addon.use_fake(tmp_path, {"fake": local, "slow": slow})
    backend.service_at(slow).latency_ms = 1500.0
    addon.pump(lambda: len(addon.status.services) == 2 and addon.row("slow").state == "degraded", message="degraded")
    layout = status_panel(addon, recorder, bpy, io_watch)
    assert layout.labels()[0] == "Some services need attention" and layout.icons()[0] == "COLORSET_09_VEC"
    icons = {call.text: call.icon for call in layout.calls() if call.method == "label"}
    assert (icons["Fake"], icons["Fake (slow)"]) == ("CHECKMARK", "SORTTIME")
    assert "1.5 s" in layout.labels()


def test_disconnected(addon: Any, bpy: Any, recorder: Any, io_watch: Any, tmp_path: Path, listening: Any) -> None:
    local = listening()
    backend = addon.use_fake(tmp_path, {"fake": local})
    backend.service_at(local).up = False
    addon.pump(lambda: addon.status.services and addon.row("fake").state == "disconnected", message="disconnected")
    layout = status_panel(addon, recorder, bpy, io_watch)
    assert [call.icon for call in layout.calls() if call.text == "Fake"] == ["X"]
    assert "Fake is not running or not listening on this address." in layout.labels()
    addon.row("fake").show_details = True
    addon.tick()
    details = status_panel(addon, recorder, bpy, io_watch).labels()
    assert "State: Disconnected" in details
    assert "Last error: Fake is not running or not listening on this address." in details
    assert any(label.startswith("• Start Fake") for label in details)
    assert any(label.startswith("waiting for Fake — 0 queued, ") for label in details)


def test_error(addon: Any, bpy: Any, recorder: Any, io_watch: Any, tmp_path: Path) -> None:
    addon.use_fake(tmp_path, {"remote": REMOTE})
    addon.pump(lambda: addon.status.services and addon.row("remote").state == "error", message="error row")
    layout = status_panel(addon, recorder, bpy, io_watch)
    labels = layout.labels()
    assert labels[0] == "No service can be checked" and layout.icons()[0] == "COLORSET_01_VEC"
    assert "Online access is off: services on other machines are not checked." in labels
    assert [call.icon for call in layout.calls() if call.text == "Fake (remote)"] == ["ERROR"]
    assert any("online access is turned off" in label for label in labels)


def test_starting_and_failed_states_say_so(addon: Any, bpy: Any, recorder: Any, io_watch: Any) -> None:
    from movie_director.errors import InvalidConfigError

    def broken(layer: Any, online: bool) -> Any:
        raise InvalidConfigError("The config file is broken.")

    addon.use()
    addon.controller.builder = broken
    addon.tick()
    assert addon.status.overall_text in ("Starting…", "The config file is broken.")
    addon.pump(lambda: addon.status.state == "failed", message="failed")
    layout = status_panel(addon, recorder, bpy, io_watch)
    assert layout.labels()[0] == "The config file is broken." and layout.icons()[0] == "COLORSET_01_VEC"


def test_error_history_and_details_dialog(addon: Any, bpy: Any, recorder: Any, io_watch: Any, tmp_path: Path, listening: Any) -> None:
    local = listening()
    backend = addon.use_fake(tmp_path, {"fake": local})
    addon.pump(lambda: addon.status.services and addon.row("fake").state == "connected")
    empty = draw(panels.MOVIE_DIRECTOR_PT_error_history, recorder, bpy, io_watch)
    assert empty.labels() == ["No recent errors"]
    backend.service_at(local).up = False
    addon.controller.manager.check_now("fake")
    addon.pump(lambda: len(addon.status.notifications) == 1, message="a notification")
    history = draw(panels.MOVIE_DIRECTOR_PT_error_history_sequencer, recorder, bpy, io_watch)
    [entry] = [call for call in history.calls() if call.method == "label"]
    assert entry.icon == "ERROR" and len(entry.text) <= 40 and entry.text.startswith("fake: Fake is not running")
    [details] = history.operators("movie_director.show_error_details")
    notification_id = details.properties["notification_id"]
    assert history.operators("movie_director.clear_notifications")

    dialog = recorder()
    with io_watch.watching() as events:
        MOVIE_DIRECTOR_OT_show_error_details.draw(SimpleNamespace(layout=dialog, notification_id=notification_id), bpy.context)
    assert events == []
    labels = dialog.labels()
    assert labels[0] == "Connection refused"
    for text in ("Type: connection_refused", "Service: fake", "Fake is not running or not listening on this address.", "Suggested Solutions"):
        assert text in labels
    assert any(label.startswith("Time: ") for label in labels) and any(label.startswith("• Start Fake") for label in labels)
    assert dialog.operators("movie_director.copy_error")[0].properties == {"notification_id": notification_id}

    widths = []
    window_manager = SimpleNamespace(invoke_props_dialog=lambda operator, width: widths.append(width) or {"RUNNING_MODAL"})
    assert MOVIE_DIRECTOR_OT_show_error_details.invoke(SimpleNamespace(), SimpleNamespace(window_manager=window_manager), None) == {"RUNNING_MODAL"}
    assert widths == [600]
    assert bpy.ops.movie_director.show_error_details(notification_id=notification_id) == {"FINISHED"}
    assert bpy.ops.movie_director.copy_error(notification_id=notification_id) == {"FINISHED"}
    # bpy as a module has no system clipboard: read what the operator hands to it
    clipboard = SimpleNamespace(clipboard="")
    operator = SimpleNamespace(notification_id=notification_id, report=lambda kind, text: None)
    assert MOVIE_DIRECTOR_OT_copy_error.execute(operator, SimpleNamespace(window_manager=clipboard)) == {"FINISHED"}
    assert clipboard.clipboard.startswith("WARNING: Connection refused [connection_refused]") and "Suggested Solutions:" in clipboard.clipboard
    assert bpy.ops.movie_director.copy_error(notification_id=99999) == {"CANCELLED"}
    assert bpy.ops.movie_director.clear_notifications() == {"FINISHED"}
    addon.tick()
    assert draw(panels.MOVIE_DIRECTOR_PT_error_history, recorder, bpy, io_watch).labels() == ["No recent errors"]


def test_health_dashboard(addon: Any, bpy: Any, recorder: Any, io_watch: Any, tmp_path: Path, listening: Any) -> None:
    local = listening()
    addon.use_fake(tmp_path, {"fake": local})
    addon.pump(lambda: addon.status.dashboard and addon.status.dashboard[0].checks >= 1, message="dashboard")
    layout = draw(panels.MOVIE_DIRECTOR_PT_health_dashboard, recorder, bpy, io_watch)
    [selector] = layout.props()
    assert (selector.target, selector.options.get("expand")) == ("time_range", True)
    labels = layout.labels()
    assert any(label.startswith("Fake (") and label.endswith("checks)") for label in labels)
    assert "avg 5 ms · p95 5 ms" in labels and "uptime 100.0 % · success 100.0 %" in labels
    assert "Queue: 0 on the server, 0 waiting here" in labels
    [trend] = [call for call in layout.calls() if call.icon == "GRAPH"]
    assert len(trend.text) == 32
    assert [call.properties for call in layout.operators("movie_director.export_metrics")] == [{"format": "CSV"}, {"format": "JSON"}]
    assert {"service": "fake"} in [call.properties for call in layout.operators("movie_director.manual_reconnect")]
    addon.status.time_range = "24H"
    addon.pump(lambda: addon.controller.dashboard_range == "24H" and addon.status.dashboard[0].checks >= 1)


def test_preferences_draw_does_no_io(addon: Any, bpy: Any, recorder: Any, io_watch: Any, tmp_path: Path, listening: Any) -> None:
    local = listening()
    addon.use_fake(tmp_path, {"fake": local})
    addon.pump(lambda: addon.status.services)
    for item in addon.prefs.services:
        item.show_expanded = True
    layout = recorder()
    with io_watch.watching() as events:
        panels.draw_preferences(addon.prefs, bpy.context, layout)
    assert events == []
    assert [call.properties for call in layout.operators("movie_director.apply_profile")][:4] == [{"name": name} for name in ("Local", "Remote", "Development", "Production")]
    assert layout.operators("movie_director.test_connection")[0].properties == {"service": "fake"}
    assert {call.target for call in layout.props()} >= {"url", "timeout", "retries", "auth_env", "enabled", "profile_name"}


def test_draw_stays_under_a_millisecond_per_panel_with_ten_services(addon: Any, bpy: Any, recorder: Any, tmp_path: Path, listening: Any) -> None:
    addon.use_fake(tmp_path, {f"svc{number}": listening() for number in range(10)})
    addon.pump(lambda: len(addon.status.services) == 10 and all(item.state == "connected" for item in addon.status.services), message="ten connected")
    addon.pump(lambda: len(addon.status.dashboard) == 10, message="ten dashboard rows")
    addon.status.services[0].show_details = True
    context = bpy.context
    for panel in (panels.MOVIE_DIRECTOR_PT_connection_status, panels.MOVIE_DIRECTOR_PT_error_history, panels.MOVIE_DIRECTOR_PT_health_dashboard):
        best = float("inf")
        for _ in range(30):
            layout = recorder()
            started = time.perf_counter()
            panel.draw(SimpleNamespace(layout=layout), context)
            best = min(best, time.perf_counter() - started)
        assert best < 0.001, f"{panel.__name__}.draw took {best * 1e6:.0f} µs"


@pytest.mark.parametrize("panel", panels.CLASSES, ids=lambda panel: panel.__name__)
def test_every_panel_draws_with_no_services(addon: Any, bpy: Any, recorder: Any, io_watch: Any, panel: Any) -> None:
    addon.use()
    addon.tick()
    draw(panel, recorder, bpy, io_watch)
