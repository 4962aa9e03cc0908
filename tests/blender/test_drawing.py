"""The panels' draw functions without Blender: plain objects shaped like the properties,
a recording layout (with Blender's own checks in test_panels.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from movie_director.blender.drawing import SEVERITY_ICONS, draw_dashboard, draw_error_details, draw_history, draw_status, lines
from movie_director.blender.notifications import NotificationCenter, Severity
from movie_director.blender.recording import RecordingLayout
from movie_director.errors import ConnectionRefused


def service(**changes: Any) -> SimpleNamespace:
    base = dict(name="comfyui", label="ComfyUI", icon="CHECKMARK", latency="12 ms", last_check_text="3 s ago", error="", show_details=False, state_text="Connected",
                url="http://127.0.0.1:8188", version="0.3.64", capabilities="412", hints="", reconnect_text="", queued_ops=0, queued="")
    return SimpleNamespace(**{**base, **changes})


def context(**status: Any) -> SimpleNamespace:
    base = dict(overall_text="All services online", overall_icon="COLORSET_03_VEC", offline_note="", services=[], llm_text="", llm_icon="INFO", notifications=[], dashboard=[], time_range="5M")
    return SimpleNamespace(window_manager=SimpleNamespace(movie_director_status=SimpleNamespace(**{**base, **status})))


def test_status_rows_details_and_llm() -> None:
    down = service(name="litellm", label="LiteLLM", icon="X", latency="–", error="LiteLLM is not running.", state_text="Disconnected", hints="Start it.\nCheck the port.", reconnect_text="waiting for LiteLLM — 2 queued, next try in 3 s", queued_ops=2, queued="llm.chat #1, llm.chat #2")
    layout = RecordingLayout()
    draw_status(layout, context(services=[service(), down], llm_text="LLM — LiteLLM: disconnected", llm_icon="ERROR", offline_note="Online access is off: …"))
    assert layout.labels()[:2] == ["All services online", "Online access is off: …"]
    assert ("ComfyUI", "CHECKMARK") in [(call.text, call.icon) for call in layout.calls()]
    assert "LiteLLM is not running." in layout.labels()  # collapsed: the error still shows under the row
    assert "waiting for LiteLLM — 2 queued, next try in 3 s" in layout.labels()  # and that its work waits
    assert layout.labels()[-1] == "LLM — LiteLLM: disconnected"
    down.show_details = True
    details = RecordingLayout()
    draw_status(details, context(services=[down]))
    for text in ("State: Disconnected", "URL: http://127.0.0.1:8188", "Last error: LiteLLM is not running.", "• Start it.", "• Check the port.", "waiting for LiteLLM — 2 queued, next try in 3 s", "Queued operations: 2 (llm.chat #1, llm.chat #2)"):
        assert text in details.labels()
    assert details.operators("movie_director.manual_reconnect")[0].properties == {"service": "litellm"}
    [toggle] = details.props()
    assert (toggle.target, toggle.icon, toggle.options["emboss"]) == ("show_details", "DISCLOSURE_TRI_DOWN", False)


def test_history_and_details() -> None:
    center = NotificationCenter()
    notification = center.add_error(ConnectionRefused(service="ComfyUI").to_dict(), service="comfyui")
    empty = RecordingLayout()
    draw_history(empty, context())
    assert empty.labels() == ["No recent errors"] and not empty.operators()
    items = [SimpleNamespace(notification_id=notification.id, severity="ERROR", summary=notification.summary())]
    layout = RecordingLayout()
    draw_history(layout, context(notifications=items))
    assert [(call.text, call.icon) for call in layout.calls() if call.method == "label"] == [(notification.summary(), SEVERITY_ICONS["ERROR"])]
    dialog = RecordingLayout()
    draw_error_details(dialog, notification)
    assert dialog.labels()[:3] == ["Connection refused", "Type: connection_refused", "Service: comfyui"]
    assert "Suggested Solutions" in dialog.labels() and dialog.operators("movie_director.copy_error")[0].properties == {"notification_id": notification.id}
    gone = RecordingLayout()
    draw_error_details(gone, None)
    assert gone.labels() == ["This notification is no longer in the history."]
    fixed = center.add(Severity.WARNING, "x " * 80, type="wrong_service", fix="Use port 8189 — movie-director check http://127.0.0.1:8189")
    wrapped = RecordingLayout()
    draw_error_details(wrapped, fixed)
    assert sum(label.startswith("x x") for label in wrapped.labels()) == 2 and any(label.startswith("Fix: Use port 8189") for label in wrapped.labels())


def test_dashboard() -> None:
    row = SimpleNamespace(name="comfyui", label="ComfyUI", checks=10, response="avg 12 ms · p95 20 ms", availability="uptime 100.0 % · success 100.0 %", metrics="Queue: 0\nVRAM: 10.0 GB free of 24.0 GB", trend="▁▂▃")
    layout = RecordingLayout()
    draw_dashboard(layout, context(dashboard=[row]))
    assert layout.labels() == ["ComfyUI (10 checks)", "avg 12 ms · p95 20 ms", "uptime 100.0 % · success 100.0 %", "Queue: 0", "VRAM: 10.0 GB free of 24.0 GB", "▁▂▃"]
    empty = RecordingLayout()
    draw_dashboard(empty, context())
    assert empty.labels() == ["No health history yet."] and len(empty.operators("movie_director.export_metrics")) == 2


def test_long_texts_wrap_and_the_recorder_checks_like_blender() -> None:
    layout = RecordingLayout()
    lines(layout, "word " * 40, icon="ERROR", width=50)
    assert [call.icon for call in layout.calls()] == ["ERROR", "BLANK1", "BLANK1", "BLANK1"]
    def only_service(idname: str, attribute: str) -> None:
        if attribute not in ("", "service"):
            raise AttributeError(attribute)

    strict = RecordingLayout(icons={"NONE", "INFO"}, operator_check=only_service)
    strict.label(text="fine", icon="INFO")
    with pytest.raises(TypeError, match="not found"):
        strict.row().label(text="bad", icon="NO_SUCH_ICON")
    strict.operator("movie_director.manual_reconnect").service = "comfyui"
    with pytest.raises(AttributeError):
        strict.operator("movie_director.manual_reconnect").nope = 1
    assert strict.text() == "fine"
