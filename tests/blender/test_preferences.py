"""Preferences: inline validation, presets, profiles, JSON import/export, reset, fields
overridden by the environment or a config file, services added and removed, keys never stored."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("bpy")

from movie_director.blender import panels  # noqa: E402 - needs bpy


def draw_preferences(addon: Any, bpy: Any, recorder: Any) -> Any:
    layout = recorder()
    panels.draw_preferences(addon.prefs, bpy.context, layout)
    return layout


def test_a_bad_url_is_shown_inline_and_left_out_of_the_config(addon: Any, bpy: Any, recorder: Any) -> None:
    addon.use(comfyui="http://127.0.0.1:9")
    addon.running()
    service = addon.prefs.services["comfyui"]
    for url, words in (("ftp://127.0.0.1:8188", "http, https, ws or wss"), ("http://:8188", "no host"), ("http://127.0.0.1:70000", "1 to 65535")):
        service.url = url
        assert words in service.url_error
    layout = draw_preferences(addon, bpy, recorder)
    [alert] = [call for call in layout.calls() if call.text == service.url_error]
    assert alert.icon == "ERROR" and alert.state["alert"]
    addon.pump(lambda: addon.controller.config is not None and addon.controller.config.services["comfyui"].url == "http://127.0.0.1:8188", 10, "the bad URL left out (the default in force)")
    service.url = "http://127.0.0.1:8190"
    assert service.url_error == ""
    addon.pump(lambda: addon.controller.config.services["comfyui"].url == "http://127.0.0.1:8190", 10, "the new URL in force")


def test_presets_set_timeouts_and_the_profile(addon: Any, bpy: Any) -> None:
    addon.use(comfyui="http://127.0.0.1:9")
    addon.running()
    assert bpy.ops.movie_director.apply_profile(name="Remote") == {"FINISHED"}
    assert addon.prefs.active_profile == "Remote"
    assert {(service.timeout, service.retries) for service in addon.prefs.services} == {(120.0, 5)}
    addon.pump(lambda: addon.controller.config.active_profile == "Remote", 10, "the Remote profile in force")
    assert addon.controller.config.services["comfyui"].connect_timeout == 10.0  # from the preset, not the preferences
    bpy.ops.movie_director.apply_profile(name="Development")
    assert addon.prefs.services["comfyui"].timeout == 10.0 and addon.prefs.services["comfyui"].retries == 1


def test_profiles_are_saved_applied_and_deleted(addon: Any, bpy: Any) -> None:
    addon.use(comfyui="http://127.0.0.1:8189")
    addon.prefs.services["comfyui"].timeout = 42.0
    assert bpy.ops.movie_director.save_profile(name="Studio") == {"FINISHED"}
    assert addon.prefs.active_profile == "Studio"
    addon.pump(lambda: addon.controller.profile_names == ["Studio"], 10, "the profile listed")
    saved = Path(bpy.utils.user_resource("CONFIG", path="movie_director/profiles")) / "Studio.json"
    body = json.loads(saved.read_text(encoding="utf-8"))
    assert body["services"]["comfyui"] == {"kind": "comfyui", "url": "http://127.0.0.1:8189", "enabled": True, "timeout": 42.0, "retries": 3}
    addon.pump(lambda: addon.controller.config is not None and addon.controller.config.active_profile == "Studio", 10, "a custom profile is a valid config profile")
    addon.use()
    bpy.ops.movie_director.apply_profile(name="Studio")
    addon.pump(lambda: addon.prefs.services["comfyui"].url == "http://127.0.0.1:8189", 10, "the profile applied")
    assert addon.prefs.services["comfyui"].timeout == 42.0 and addon.prefs.active_profile == "Studio"
    with pytest.raises(RuntimeError, match="built-in preset"):
        bpy.ops.movie_director.save_profile(name="Remote")
    bpy.ops.movie_director.delete_profile(name="Studio")
    addon.pump(lambda: addon.controller.profile_names == [], 10, "the profile deleted")
    assert not saved.exists()


def test_settings_export_and_import_as_json(addon: Any, bpy: Any, tmp_path: Path) -> None:
    addon.use(comfyui="http://127.0.0.1:8189", litellm="http://127.0.0.1:4001")
    addon.prefs.services["litellm"].auth_env = "STUDIO_LLM_KEY"
    assert bpy.ops.movie_director.export_settings(filepath=str(tmp_path / "settings")) == {"FINISHED"}
    addon.pump(lambda: (tmp_path / "settings.json").exists(), 10, "the export")
    document = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))
    assert document["services"]["litellm"]["auth"] == {"env": "STUDIO_LLM_KEY"} and document["version"] == 1
    addon.use()
    assert bpy.ops.movie_director.import_settings(filepath=str(tmp_path / "settings.json")) == {"FINISHED"}
    addon.pump(lambda: addon.prefs.services["comfyui"].url == "http://127.0.0.1:8189", 10, "the import applied")
    assert addon.prefs.services["litellm"].auth_env == "STUDIO_LLM_KEY" and addon.prefs.services["litellm"].enabled
    (tmp_path / "secret.json").write_text(json.dumps({"services": {"litellm": {"api_key": "sk-do-not-store-me"}}}), encoding="utf-8")
    bpy.ops.movie_director.import_settings(filepath=str(tmp_path / "secret.json"))
    addon.pump(lambda: any(item.severity == "ERROR" for item in addon.status.notifications), 10, "the import refused")
    assert "sk-do-not-store-me" not in addon.controller.notifications.recent()[0].details_text()


def test_reset_add_and_remove_services(addon: Any, bpy: Any) -> None:
    addon.use(comfyui="http://127.0.0.1:8189")
    addon.running()
    assert bpy.ops.movie_director.add_service(kind="gradio", url="http://127.0.0.1:7861") == {"FINISHED"}
    assert addon.prefs.services["gradio"].url == "http://127.0.0.1:7861"
    assert bpy.ops.movie_director.remove_service(service="wan2gp") == {"FINISHED"}
    addon.pump(lambda: "wan2gp" not in addon.controller.config.services or not addon.controller.config.services["wan2gp"].enabled, 10, "wan2gp switched off")
    assert bpy.ops.movie_director.reset_settings() == {"FINISHED"}
    assert {service.name: service.url for service in addon.prefs.services} == {"comfyui": "http://127.0.0.1:8188", "litellm": "http://127.0.0.1:4000", "wan2gp": "http://127.0.0.1:7860"}
    assert addon.prefs.active_profile == "Local"
    addon.use()


def test_values_from_the_environment_or_a_config_file_are_shown_read_only(addon: Any, bpy: Any, recorder: Any, blender_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_URL", "http://127.0.0.1:8190")
    Path(blender_env["config"]).write_text(json.dumps({"services": {"litellm": {"timeout": 77}}}), encoding="utf-8")
    try:
        addon.use(comfyui="http://127.0.0.1:9", litellm="http://127.0.0.1:9")
        for service in addon.prefs.services:
            service.show_expanded = True
        addon.running()
        layout = draw_preferences(addon, bpy, recorder)
        locked = {call.text: call.icon for call in layout.calls() if call.icon == "LOCKED"}
        assert locked == {"URL: http://127.0.0.1:8190": "LOCKED", "Timeout: 77.0": "LOCKED"}
        texts = layout.labels()
        assert "overridden by env MOVIE_DIRECTOR_COMFYUI_URL" in texts
        assert f"overridden by file {blender_env['config']}" in texts
        url_props = [call for call in layout.props() if call.target == "url"]
        assert len(url_props) == len(addon.prefs.services) - 1  # the overridden one is not editable
    finally:
        Path(blender_env["config"]).write_text("{}\n", encoding="utf-8")


def test_a_pasted_key_lives_in_memory_only(addon: Any, bpy: Any) -> None:
    secret = "sk-md-pasted-secret-0123456789"
    addon.use(litellm="http://127.0.0.1:9")
    rna = bpy.ops.movie_director.set_api_key.get_rna_type().properties["key"]
    assert rna.subtype == "PASSWORD" and rna.is_skip_save
    try:
        assert bpy.ops.movie_director.set_api_key(service="litellm", key=secret) == {"FINISHED"}
        assert os.environ["MOVIE_DIRECTOR_LITELLM_API_KEY"] == secret
        assert bpy.ops.wm.save_userpref() == {"FINISHED"}
        userpref = Path(bpy.utils.user_resource("CONFIG")) / "userpref.blend"
        data = userpref.read_bytes()
        assert b"MOVIE_DIRECTOR_LITELLM_API_KEY" in data  # the variable's name is kept …
        assert secret.encode() not in data  # … never the key
    finally:
        os.environ.pop("MOVIE_DIRECTOR_LITELLM_API_KEY", None)


def test_a_service_with_several_instances_shows_each_with_its_state(addon: Any, bpy: Any, recorder: Any, backend_servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = backend_servers.start("comfyui"), backend_servers.start("comfyui")
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_URL", f"{first.url},{second.url}")
    addon.use(comfyui="http://127.0.0.1:9")
    addon.pump(lambda: {row.name: row.state for row in addon.status.services} == {"comfyui#1": "connected", "comfyui#2": "connected"}, 30, "both servers connected")
    second.kill()
    addon.pump(lambda: addon.row("comfyui#2").state != "connected", 10, "the second server lost")
    labels = draw_preferences(addon, bpy, recorder).labels()
    assert "2 instances — work goes to the least loaded:" in labels
    assert f"{first.url} (weight 1) — Connected" in labels
    assert any(label.startswith(f"{second.url} (weight 1) — ") and not label.endswith("Connected") for label in labels), labels
