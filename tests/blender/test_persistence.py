"""The .blend keeps each service's settings, the profile and auto-connect; a fresh Blender
process opening it gets them applied by the load_post handler (and old layouts migrated).
No secret ever lands in the file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Runs in a fresh process: enable the add-on, open the file, run the timer, report.
OPEN_IN_FRESH_BLENDER = r"""
import json, sys, time
import bpy
import addon_utils
from movie_director.blender import runtime

blend, wait_for = sys.argv[1], sys.argv[2]
addon_utils.enable("movie_director_dev", default_set=True)
bpy.ops.wm.open_mainfile(filepath=blend)
state = runtime.get()
prefs = state.preferences()
props = bpy.context.scene.movie_director_props
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    runtime.tick()
    rows = {row.name: row.state for row in state.controller.rows}
    if (wait_for == "stopped" and state.controller.state == "stopped") or rows.get(wait_for) == "connected":
        break
    time.sleep(0.05)
print("RESULT " + json.dumps({
    "services": {s.name: {"kind": s.kind, "url": s.url, "enabled": s.enabled, "timeout": s.timeout, "retries": s.retries, "auth_env": s.auth_env} for s in prefs.services},
    "profile": prefs.active_profile,
    "scene": {"config_version": props.config_version, "auto_connect": props.auto_connect_on_startup, "active_profile": props.active_profile,
              "services": [{**{k: item[k] for k in item.keys()}} for item in props.services]},
    "state": state.controller.state,
    "state_message": state.controller.state_message,
    "rows": {row.name: row.state for row in state.controller.rows},
    "notifications": [n.message for n in state.controller.notifications.recent()],
}))
addon_utils.disable("movie_director_dev", default_set=True)
"""


def open_in_fresh_blender(blend: Path, tmp_path: Path, wait_for: str, profiles: Path | None = None) -> dict[str, Any]:
    """Open ``blend`` in a new process with its own, empty Blender user folder (plus ``profiles``)."""
    user = tmp_path / "fresh-user"
    addon = user / "scripts" / "addons" / "movie_director_dev"
    shutil.copytree(Path(os.environ["BLENDER_USER_RESOURCES"]) / "scripts" / "addons" / "movie_director_dev", addon, ignore=shutil.ignore_patterns("__pycache__"))
    if profiles is not None:
        shutil.copytree(profiles, user / "config" / "movie_director" / "profiles")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user), "MOVIE_DIRECTOR_DATA_DIR": str(tmp_path / "fresh-data")}
    done = subprocess.run([sys.executable, "-c", OPEN_IN_FRESH_BLENDER, str(blend), wait_for], env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def test_settings_and_profile_survive_a_save_and_a_fresh_blender(addon: Any, bpy: Any, comfyui_server: Any, tmp_path: Path) -> None:
    secret = "sk-md-blend-secret-9876543210"
    addon.use(comfyui=comfyui_server.url, litellm="http://127.0.0.1:9")
    addon.prefs.services["comfyui"].timeout = 45.0
    addon.prefs.services["comfyui"].retries = 7
    bpy.ops.movie_director.save_profile(name="Studio")
    addon.pump(lambda: addon.controller.profile_names == ["Studio"], 10, "the profile saved")
    addon.pump(lambda: addon.status.services and addon.row("comfyui").state == "connected", 20, "connected")
    try:
        bpy.ops.movie_director.set_api_key(service="litellm", key=secret)
        blend = tmp_path / "shot.blend"
        assert bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=False) == {"FINISHED"}
    finally:
        os.environ.pop("MOVIE_DIRECTOR_LITELLM_API_KEY", None)
    data = blend.read_bytes()
    assert secret.encode() not in data
    assert comfyui_server.url.encode() in data and b"MOVIE_DIRECTOR_LITELLM_API_KEY" in data
    stored = {item.name: item for item in bpy.context.scene.movie_director_props.services}
    assert stored["comfyui"].status == "connected" and stored["comfyui"].last_connected.endswith("Z")
    assert stored["litellm"].last_connected == ""

    profiles = Path(bpy.utils.user_resource("CONFIG", path="movie_director/profiles"))
    result = open_in_fresh_blender(blend, tmp_path, "comfyui", profiles)
    assert result["profile"] == "Studio"
    assert result["services"]["comfyui"] == {"kind": "comfyui", "url": comfyui_server.url, "enabled": True, "timeout": 45.0, "retries": 7, "auth_env": ""}
    assert result["services"]["litellm"]["auth_env"] == "MOVIE_DIRECTOR_LITELLM_API_KEY" and result["services"]["wan2gp"]["enabled"] is False
    assert result["scene"]["config_version"] == 2 and result["scene"]["active_profile"] == "Studio"
    assert result["rows"]["comfyui"] == "connected"


def test_auto_connect_off_keeps_a_file_from_connecting_until_refresh(addon: Any, bpy: Any, comfyui_server: Any, tmp_path: Path) -> None:
    addon.use(comfyui=comfyui_server.url)
    bpy.context.scene.movie_director_props.auto_connect_on_startup = False
    blend = tmp_path / "quiet.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    result = open_in_fresh_blender(blend, tmp_path, "stopped")
    assert result["state"] == "stopped" and "Auto-connect is off" in result["state_message"]
    assert result["rows"] == {} and result["services"]["comfyui"]["url"] == comfyui_server.url
    bpy.ops.wm.open_mainfile(filepath=str(blend))  # and in this process: Refresh connects
    addon.pump(lambda: addon.controller.state == "stopped", 10, "stopped by the file")
    bpy.ops.movie_director.refresh_connections()
    addon.pump(lambda: addon.status.services and addon.row("comfyui").state == "connected", 20, "connected after Refresh")


def test_a_version_1_file_is_migrated_when_it_opens(switch: Any, bpy: Any, comfyui_server: Any, tmp_path: Path) -> None:
    # What an add-on writing layout 1 left in a file: host and port apart, the timeout in ms.
    bpy.context.scene["movie_director_props"] = {
        "config_version": 1,
        "active_profile": "Local",
        "services": [{"name": "comfyui", "kind": "comfyui", "host": "127.0.0.1", "port": comfyui_server.port, "use_ssl": 0, "timeout_ms": 45000, "enabled": 1}],
    }
    blend = tmp_path / "old.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    result = open_in_fresh_blender(blend, tmp_path, "comfyui")
    assert result["services"]["comfyui"]["url"] == comfyui_server.url and result["services"]["comfyui"]["timeout"] == 45.0
    assert result["scene"]["config_version"] == 2
    assert not {"host", "port", "use_ssl", "timeout_ms"} & set(result["scene"]["services"][0])
    assert result["rows"]["comfyui"] == "connected"


def test_a_file_from_a_newer_add_on_is_left_alone(switch: Any, bpy: Any, tmp_path: Path) -> None:
    bpy.context.scene["movie_director_props"] = {"config_version": 99, "services": [{"name": "comfyui", "url": "http://127.0.0.1:1"}]}
    blend = tmp_path / "future.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    addon = switch.on()
    addon.use(comfyui="http://127.0.0.1:9")
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    assert addon.prefs.services["comfyui"].url == "http://127.0.0.1:9"
    assert "layout 99" in addon.controller.notifications.recent()[0].message
    assert bpy.context.scene.movie_director_props.config_version == 99


@pytest.mark.parametrize("reload", ["home file", "empty file"])
def test_a_file_without_settings_keeps_the_preferences(addon: Any, bpy: Any, reload: str) -> None:
    addon.use(comfyui="http://127.0.0.1:8189")
    bpy.ops.wm.read_homefile(use_empty=reload == "empty file")
    assert addon.prefs.services["comfyui"].url == "http://127.0.0.1:8189" and addon.runtime.connect_allowed


def test_enabling_the_add_on_with_a_file_open_applies_its_settings(switch: Any, bpy: Any, tmp_path: Path) -> None:
    addon = switch.on()
    addon.use(comfyui="http://127.0.0.1:8191")
    blend = tmp_path / "open.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    switch.off()
    bpy.ops.wm.open_mainfile(filepath=str(blend))  # opened while the add-on is off: no handler ran
    addon = switch.on()
    assert len(addon.prefs.services) == 0
    addon.tick()
    assert addon.prefs.services["comfyui"].url == "http://127.0.0.1:8191"
