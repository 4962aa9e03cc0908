"""Registering the add-on in real Blender: classes, properties, handlers, the timer, and a
clean unregister (twice in a row: no leaked timers, threads, handlers or classes)."""

from __future__ import annotations

import threading
from typing import Any

PANELS = {
    "MOVIE_DIRECTOR_PT_connection_status": ("VIEW_3D", None, "Backend Services"),
    "MOVIE_DIRECTOR_PT_error_history": ("VIEW_3D", "MOVIE_DIRECTOR_PT_connection_status", "Recent Errors"),
    "MOVIE_DIRECTOR_PT_health_dashboard": ("VIEW_3D", "MOVIE_DIRECTOR_PT_connection_status", "Health Monitoring"),
    "MOVIE_DIRECTOR_PT_connection_status_sequencer": ("SEQUENCE_EDITOR", None, "Backend Services"),
    "MOVIE_DIRECTOR_PT_error_history_sequencer": ("SEQUENCE_EDITOR", "MOVIE_DIRECTOR_PT_connection_status_sequencer", "Recent Errors"),
    "MOVIE_DIRECTOR_PT_health_dashboard_sequencer": ("SEQUENCE_EDITOR", "MOVIE_DIRECTOR_PT_connection_status_sequencer", "Health Monitoring"),
    "MOVIE_DIRECTOR_PT_generate_sequencer": ("SEQUENCE_EDITOR", None, "Generate"),
}
OPERATORS = (
    "refresh_connections", "test_connection", "discover_services", "manual_reconnect", "show_error_details", "copy_error",
    "export_metrics", "apply_profile", "save_profile", "import_settings", "export_settings", "reset_settings", "set_api_key", "run_diagnostics",
    "run_workflow", "ask_llm", "generate_video", "refresh_video_models", "cancel_job", "clear_jobs",
)
#: load_post, save_pre and save_post (the settings and the kept jobs, blender/handlers.py).
HANDLERS = 3


def census(bpy: Any) -> dict[str, Any]:
    """Everything the add-on can leave behind."""
    from movie_director.blender import runtime

    names = [*PANELS, *(f"MOVIE_DIRECTOR_OT_{name}" for name in OPERATORS), "MovieDirectorPreferences", "MovieDirectorSceneSettings", "MovieDirectorStatus"]
    return {
        "timer": bpy.app.timers.is_registered(runtime.tick),
        "runtime": runtime._runtime is not None,
        "threads": sorted(thread.name for thread in threading.enumerate() if thread.name.startswith("md-")),
        "handlers": [handler.__name__ for handlers in (bpy.app.handlers.load_post, bpy.app.handlers.save_pre, bpy.app.handlers.save_post) for handler in handlers if handler.__module__.startswith("movie_director")],
        "status_bar": [draw.__name__ for draw in bpy.types.STATUSBAR_HT_header._dyn_ui_initialize() if draw.__module__.startswith("movie_director")],
        "classes": [name for name in names if hasattr(bpy.types, name)],
        "scene": [name for name in ("movie_director_props", "movie_director_generate") if hasattr(bpy.types.Scene, name)],
        "window_manager": hasattr(bpy.types.WindowManager, "movie_director_status"),
        "preferences": "movie_director_dev" in bpy.context.preferences.addons,
    }


def connect_and_start_a_job(addon: Any, bpy: Any, url: str) -> None:
    addon.use(comfyui=url)
    addon.running()
    addon.pump(lambda: addon.row("comfyui").state == "connected", message="ComfyUI connected")
    bpy.ops.movie_director.test_connection(service="comfyui")  # a job in flight while unregistering


def test_register_and_unregister_twice_leave_nothing_behind(bpy: Any, switch: Any, comfyui_server: Any) -> None:
    before = census(bpy)
    assert not before["classes"] and not before["timer"] and not before["handlers"]
    for _ in range(2):
        connect_and_start_a_job(switch.on(), bpy, comfyui_server.url)
        during = census(bpy)
        assert during["timer"] and during["runtime"] and len(during["scene"]) == 2 and during["window_manager"] and during["preferences"]
        assert set(during["classes"]) >= set(PANELS) and len(during["handlers"]) == HANDLERS and during["status_bar"] == ["_statusbar"]
        assert any(name.startswith("md-health") for name in during["threads"]) and any(name.startswith("md-ui") for name in during["threads"])
        switch.off()
        assert census(bpy) == before


def test_panels_sit_in_both_sidebars_under_movie_director(addon: Any, bpy: Any) -> None:
    for name, (space, parent, label) in PANELS.items():
        panel = getattr(bpy.types, name)
        assert (panel.bl_space_type, panel.bl_region_type, panel.bl_category, panel.bl_label) == (space, "UI", "Movie Director", label)
        assert getattr(panel, "bl_parent_id", None) == parent


def test_the_timer_is_persistent_and_polls_every_tenth_of_a_second(addon: Any, bpy: Any) -> None:
    from movie_director.blender import runtime

    assert bpy.app.timers.is_registered(runtime.tick)
    addon.use()
    assert addon.tick() == 0.1
    bpy.ops.wm.read_homefile(use_empty=True)  # a persistent timer survives loading a file
    assert bpy.app.timers.is_registered(runtime.tick)


def test_preferences_and_scene_settings_exist_with_spec_defaults(addon: Any, bpy: Any) -> None:
    props = bpy.context.scene.movie_director_props
    assert props.config_version == 2 and props.auto_connect_on_startup and len(props.services) == 0
    service = props.services.add()
    assert (service.enabled, service.timeout, service.retries) == (True, 30.0, 3)
    rna = service.bl_rna.properties
    assert (rna["timeout"].hard_min, rna["timeout"].hard_max, rna["retries"].hard_min, rna["retries"].hard_max) == (1.0, 300.0, 0, 10)
    assert addon.prefs.active_profile == "Local"
    assert addon.prefs.bl_rna.identifier == "MovieDirectorPreferences"


def test_the_first_start_fills_in_the_default_services(addon: Any) -> None:
    assert len(addon.prefs.services) == 0 and not addon.prefs.initialized
    addon.pump(lambda: addon.prefs.initialized, message="defaults filled in")
    assert {(service.name, service.url) for service in addon.prefs.services} >= {("comfyui", "http://127.0.0.1:8188"), ("litellm", "http://127.0.0.1:4000"), ("wan2gp", "http://127.0.0.1:7860")}
    addon.use()  # switch them off again: nothing of anybody else's gets checked
