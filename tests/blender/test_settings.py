"""Service settings as plain values: URL validation, the config's UI layer, presets, JSON,
profiles and the .blend layout migrations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from movie_director.blender.profiles import ProfileStore, profile_name_problem
from movie_director.blender.settings import (
    CONFIG_VERSION,
    NewerLayout,
    ServiceSettings,
    UISettings,
    apply_preset,
    document_text,
    key_variable,
    migrate,
    settings_from_document,
    settings_from_profile,
    url_problem,
)
from movie_director.config import load_config
from movie_director.configdata import LAYER_ENV, LAYER_FILE, LAYER_UI
from movie_director.errors import InvalidConfigError
from movie_director.plugins import get_plugin_manager


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8188", "https://gpu-box.studio:8443/comfy", "ws://[::1]:8188", "wss://host", "http://localhost:1", "http://h:65535"],
)
def test_usable_urls(url: str) -> None:
    assert url_problem(url) == ""


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "Enter a URL"),
        ("127.0.0.1:8188", "Add the scheme"),
        ("ftp://127.0.0.1:21", "http, https, ws or wss"),
        ("http://:8188", "no host"),
        ("http://127.0.0.1:0", "1 to 65535"),
        ("http://127.0.0.1:65536", "1 to 65535"),
        ("http://127.0.0.1:port", "1 to 65535"),
        ("http://127.0.0.1:", "port is empty"),
    ],
)
def test_unusable_urls_say_why(url: str, words: str) -> None:
    assert words in url_problem(url)


def test_the_ui_layer_leaves_out_bad_urls_and_switches_off_removed_defaults() -> None:
    settings = UISettings(
        (
            ServiceSettings("comfyui", "comfyui", url="http://127.0.0.1:8189/", timeout=500, retries=-1, auth_env="COMFY_TOKEN"),
            ServiceSettings("litellm", "litellm", url="not a url"),
        ),
        active_profile="Studio",
        removed=("wan2gp",),
    )
    layer = settings.config_layer()
    assert layer["services"]["comfyui"] == {"kind": "comfyui", "url": "http://127.0.0.1:8189", "enabled": True, "timeout": 300.0, "retries": 0, "auth": {"env": "COMFY_TOKEN"}}
    assert "litellm" not in layer["services"]
    assert layer["services"]["wan2gp"] == {"enabled": False}
    assert layer["active_profile"] == "Studio" and layer["profiles"] == {"Studio": {}}
    config = load_config(ui=layer, environ={}, file=None, kinds=get_plugin_manager().backends)
    assert config.services["comfyui"].url == "http://127.0.0.1:8189"
    assert config.services["comfyui"].source_of("url").layer == LAYER_UI
    assert not config.services["wan2gp"].enabled


def test_the_file_and_the_environment_win_over_the_ui_layer(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps({"services": {"litellm": {"url": "http://127.0.0.1:4001"}}}), encoding="utf-8")
    layer = UISettings((ServiceSettings("comfyui", "comfyui", url="http://127.0.0.1:8189"), ServiceSettings("litellm", "litellm", url="http://127.0.0.1:4000"))).config_layer()
    config = load_config(ui=layer, environ={"MOVIE_DIRECTOR_COMFYUI_URL": "http://127.0.0.1:8190"}, file=file, kinds=get_plugin_manager().backends)
    assert (config.services["comfyui"].url, config.services["comfyui"].source_of("url").location) == ("http://127.0.0.1:8190", "MOVIE_DIRECTOR_COMFYUI_URL")
    assert config.services["comfyui"].source_of("url").layer == LAYER_ENV
    assert config.services["litellm"].source_of("url").layer == LAYER_FILE


def test_export_is_a_valid_config_file_and_imports_back(tmp_path: Path) -> None:
    settings = UISettings((ServiceSettings("comfyui", "comfyui", url="http://127.0.0.1:8188", auth_env="COMFY_TOKEN"), ServiceSettings("gradio-7861", "gradio", enabled=False, url="http://127.0.0.1:7861")), "Remote")
    path = tmp_path / "settings.json"
    path.write_text(document_text(settings), encoding="utf-8")
    assert load_config(environ={}, file=path, kinds=get_plugin_manager().backends).services["gradio-7861"].kind == "gradio"
    back = settings_from_document(json.loads(path.read_text(encoding="utf-8")), str(path))
    assert back == settings


def test_import_refuses_literal_secrets_and_bad_urls() -> None:
    with pytest.raises(InvalidConfigError) as refused:
        settings_from_document({"services": {"litellm": {"url": "http://127.0.0.1:4000", "api_key": "sk-live-123456"}}}, "x.json")
    assert "secret" in str(refused.value) and "sk-live-123456" not in str(refused.value)
    with pytest.raises(InvalidConfigError, match="unusable URLs"):
        settings_from_document({"services": {"comfyui": {"url": "http://127.0.0.1:0"}}}, "x.json")
    with pytest.raises(InvalidConfigError):
        settings_from_document(["not", "a", "mapping"], "x.json")


def test_presets_change_timeouts_and_retries_not_urls() -> None:
    services = [ServiceSettings("comfyui", "comfyui", url="http://10.0.0.5:8188")]
    remote = apply_preset(services, "Remote")[0]
    assert (remote.url, remote.timeout, remote.retries) == ("http://10.0.0.5:8188", 120.0, 5)
    assert (apply_preset(services, "Development")[0].timeout, apply_preset(services, "Production")[0].retries) == (10.0, 10)
    local = apply_preset([remote], "Local")[0]
    assert (local.timeout, local.retries) == (30.0, 3)


def test_key_variable_names_follow_the_config_environment_layer() -> None:
    assert key_variable("litellm") == "MOVIE_DIRECTOR_LITELLM_API_KEY"
    assert key_variable("comfyui-8189") == "MOVIE_DIRECTOR_COMFYUI_8189_API_KEY"


def test_migration_lifts_version_1_host_port_and_milliseconds() -> None:
    old = {"config_version": 1, "services": [{"name": "comfyui", "host": "127.0.0.1", "port": 8189, "use_ssl": False, "timeout_ms": 45000}, {"name": "box", "kind": "comfyui", "host": "::1", "use_ssl": True}]}
    new = migrate(old)
    assert new["config_version"] == CONFIG_VERSION
    assert new["services"][0] == {"name": "comfyui", "url": "http://127.0.0.1:8189", "timeout": 45.0, "kind": "comfyui"}
    assert new["services"][1]["url"] == "https://[::1]"
    assert migrate({"services": []})["config_version"] == CONFIG_VERSION
    with pytest.raises(NewerLayout):
        migrate({"config_version": CONFIG_VERSION + 1})


def test_profiles_are_json_files_in_their_folder(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles")
    assert store.names() == []
    settings = UISettings((ServiceSettings("comfyui", "comfyui", url="http://127.0.0.1:8189"),), "Studio")
    path = store.save("Studio", settings.to_profile("GPU box"))
    assert path.name == "Studio.json" and store.names() == ["Studio"]
    loaded = settings_from_profile("Studio", store.load("Studio"), str(path))
    assert loaded.services == settings.services and loaded.active_profile == "Studio"
    store.delete("Studio")
    assert store.names() == []
    with pytest.raises(InvalidConfigError, match="no profile"):
        store.load("Studio")
    (tmp_path / "profiles" / "Broken.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(InvalidConfigError, match="does not hold"):
        store.load("Broken")


def test_profile_names_are_file_safe_and_not_presets() -> None:
    assert profile_name_problem("Studio GPU-box_2") == ""
    assert "built-in" in profile_name_problem("Remote")
    for bad in ("", "../etc", "a/b", " padded", "x" * 65):
        assert profile_name_problem(bad)
    with pytest.raises(InvalidConfigError):
        ProfileStore("/tmp").path_of("../escape")
