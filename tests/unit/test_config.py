"""Config layering, precedence, sources and schema errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from movie_director.backend import Backend
from movie_director.config import load_config, validate_file
from movie_director.configdata import LAYER_DEFAULT, LAYER_ENV, LAYER_FILE, LAYER_UI, compose_url
from movie_director.errors import InvalidConfigError


class _Comfy(Backend):
    kind = "comfyui"
    default_url = "http://127.0.0.1:8188"
    health_interval = 30.0


class _LLM(Backend):
    kind = "litellm"
    default_url = "http://127.0.0.1:4000"


KINDS = {"comfyui": _Comfy(), "litellm": _LLM()}


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_backends() -> None:
    config = load_config(environ={}, kinds=KINDS)
    comfy = config.service("comfyui")
    assert comfy.url == "http://127.0.0.1:8188"
    assert comfy.health_interval == 30.0
    assert comfy.timeout == 30.0 and comfy.retries == 3
    assert comfy.source_of("url").layer == LAYER_DEFAULT
    assert config.active_profile == "Local"


def test_precedence_env_over_file_over_ui_over_default(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  comfyui:\n    url: http://127.0.0.1:8001\n    timeout: 40\n")
    ui = {"services": {"comfyui": {"url": "http://127.0.0.1:7001", "timeout": 50, "retries": 7}}}
    env = {"MOVIE_DIRECTOR_CONFIG": str(path), "MOVIE_DIRECTOR_COMFYUI_URL": "http://127.0.0.1:9999"}
    comfy = load_config(ui=ui, environ=env, kinds=KINDS).service("comfyui")
    assert comfy.url == "http://127.0.0.1:9999"
    assert comfy.source_of("url").layer == LAYER_ENV
    assert comfy.source_of("url").location == "MOVIE_DIRECTOR_COMFYUI_URL"
    assert comfy.timeout == 40 and comfy.source_of("timeout").layer == LAYER_FILE
    assert comfy.source_of("timeout").location == str(path)
    assert comfy.retries == 7 and comfy.source_of("retries").layer == LAYER_UI
    assert comfy.backoff == 0.5 and comfy.source_of("backoff").layer == LAYER_DEFAULT


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("yes", True), ("0", False), ("no", False)])
def test_env_enabled_values(raw: str, expected: bool) -> None:
    config = load_config(environ={"MOVIE_DIRECTOR_LITELLM_ENABLED": raw}, kinds=KINDS)
    assert config.service("litellm").enabled is expected


def test_env_api_key_becomes_a_reference_not_a_value() -> None:
    config = load_config(environ={"MOVIE_DIRECTOR_LITELLM_API_KEY": "sk-very-secret-123"}, kinds=KINDS)
    service = config.service("litellm")
    assert service.auth is not None and service.auth.env == "MOVIE_DIRECTOR_LITELLM_API_KEY"
    assert "sk-very-secret-123" not in json.dumps(config.to_dict(with_sources=True))


def test_bad_env_values_are_reported_with_their_variable() -> None:
    with pytest.raises(InvalidConfigError) as caught:
        load_config(environ={"MOVIE_DIRECTOR_COMFYUI_TIMEOUT": "soon", "MOVIE_DIRECTOR_COMFYUI_ENABLED": "maybe"}, kinds=KINDS)
    pointers = {(p.pointer, p.source) for p in caught.value.problems}
    assert ("/services/comfyui/timeout", "MOVIE_DIRECTOR_COMFYUI_TIMEOUT") in pointers
    assert ("/services/comfyui/enabled", "MOVIE_DIRECTOR_COMFYUI_ENABLED") in pointers


def test_every_problem_is_reported_together_and_nothing_applied(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "services:\n  comfyui:\n    port: '8188'\n    colour: blue\n    api_key: sk-live-abcdef123456\n    timeout: 999\n",
    )
    with pytest.raises(InvalidConfigError) as caught:
        load_config(environ={"MOVIE_DIRECTOR_CONFIG": str(path)}, kinds=KINDS)
    error = caught.value
    pointers = {problem.pointer for problem in error.problems}
    assert pointers == {"/services/comfyui/port", "/services/comfyui/colour", "/services/comfyui/api_key", "/services/comfyui/timeout"}
    assert all(problem.layer == LAYER_FILE and problem.source == str(path) for problem in error.problems)
    timeout = next(p for p in error.problems if p.pointer.endswith("timeout"))
    assert "1–300" in timeout.allowed and timeout.value == 999
    assert "sk-live-abcdef123456" not in str(error) and "sk-live-abcdef123456" not in json.dumps(error.to_dict())
    assert "environment variable" in next(p for p in error.problems if p.pointer.endswith("api_key")).allowed


def test_json_and_yaml_files_validate_the_same(tmp_path: Path) -> None:
    body = {"services": {"comfyui": {"url": "http://127.0.0.1:8188", "retries": 11}}}
    yaml_problems = validate_file(write(tmp_path, json.dumps(body), "a.yaml"))
    json_problems = validate_file(write(tmp_path, json.dumps(body), "a.json"))
    assert [p.pointer for p in yaml_problems] == [p.pointer for p in json_problems] == ["/services/comfyui/retries"]


def test_profiles_layer_over_base_services(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "active_profile: Studio\nservices:\n  comfyui: {timeout: 20}\nprofiles:\n  Studio:\n    services:\n      comfyui: {url: 'https://gpu-box.example:8443', auth: {env: STUDIO_TOKEN}}\n",
    )
    config = load_config(environ={"MOVIE_DIRECTOR_CONFIG": str(path)}, kinds=KINDS)
    comfy = config.service("comfyui")
    assert config.active_profile == "Studio" and "Studio" in config.profiles and "Production" in config.profiles
    assert comfy.url == "https://gpu-box.example:8443" and comfy.timeout == 20
    assert "profile Studio" in comfy.source_of("url").location
    assert comfy.auth is not None and comfy.auth.env == "STUDIO_TOKEN"
    assert not comfy.is_loopback and comfy.backoff_cap == 60.0


def test_builtin_preset_changes_defaults() -> None:
    config = load_config(environ={"MOVIE_DIRECTOR_PROFILE": "Development"}, kinds=KINDS)
    assert config.service("comfyui").timeout == 10.0
    assert config.profile_source.layer == LAYER_ENV


def test_unknown_profile_is_an_error() -> None:
    with pytest.raises(InvalidConfigError, match="unknown profile"):
        load_config(environ={"MOVIE_DIRECTOR_PROFILE": "Nope"}, kinds=KINDS)


def test_host_and_port_override_url_parts(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  comfyui: {host: '::1', port: 8189}\n")
    comfy = load_config(environ={"MOVIE_DIRECTOR_CONFIG": str(path)}, kinds=KINDS).service("comfyui")
    assert comfy.url == "http://[::1]:8189" and comfy.is_loopback and comfy.port == 8189


def test_new_service_needs_a_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "services:\n  gpu2: {url: 'http://127.0.0.1:8190'}\n")
    with pytest.raises(InvalidConfigError, match="/services/gpu2/kind"):
        load_config(environ={"MOVIE_DIRECTOR_CONFIG": str(path)}, kinds=KINDS)


def test_missing_explicit_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match="does not exist"):
        load_config(environ={"MOVIE_DIRECTOR_CONFIG": str(tmp_path / "nope.yaml")}, kinds=KINDS)


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "services: [unclosed\n")
    with pytest.raises(InvalidConfigError, match="not valid YAML"):
        load_config(environ={"MOVIE_DIRECTOR_CONFIG": str(path)}, kinds=KINDS)


@pytest.mark.parametrize(
    ("url", "parts", "expected"),
    [
        ("http://127.0.0.1:8188/", {}, "http://127.0.0.1:8188"),
        ("http://localhost", {"port": 9000}, "http://localhost:9000"),
        ("https://box:1/mcp", {"scheme": "http"}, "http://box:1/mcp"),
    ],
)
def test_compose_url(url: str, parts: dict, expected: str) -> None:
    assert compose_url(url, **parts) == expected


@pytest.mark.parametrize("url", ["http://127.0.0.1:70000", "ftp://host", "http://"])
def test_compose_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        compose_url(url)


def test_loading_is_fast(tmp_path: Path) -> None:
    """Not a timing assert on the machine's speed: a gross regression guard (10× the 100 ms spec)."""
    path = write(tmp_path, "services:\n  comfyui: {timeout: 20}\n")
    load_config(environ={"MOVIE_DIRECTOR_CONFIG": str(path)}, kinds=KINDS)
    started = time.perf_counter()
    for _ in range(10):
        load_config(environ={"MOVIE_DIRECTOR_CONFIG": str(path)}, kinds=KINDS)
    assert (time.perf_counter() - started) / 10 < 1.0
