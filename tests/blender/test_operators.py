"""The operators against the real test backends (ComfyUI stand-in, Gradio apps, LiteLLM
proxy), driven through Blender's ``bpy.ops`` with the timer called by hand."""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY
from movie_director_testing.processes import free_port


def outcome_of(addon: Any, name: str, timeout: float = 15.0) -> Any:
    """The Test button's result for ``name``, once it is there."""
    return addon.pump(lambda: (item := addon.status.tests.get(name)) is not None and item.state in ("ok", "failed") and item, timeout, f"the test result of {name}")


def test_the_test_button_answers_within_2_s_for_a_loopback_comfyui(addon: Any, bpy: Any, comfyui_server: Any) -> None:
    addon.use(comfyui=comfyui_server.url)
    started = time.perf_counter()
    assert bpy.ops.movie_director.test_connection(service="comfyui") == {"FINISHED"}
    addon.tick()
    assert addon.status.tests["comfyui"].state == "running"
    outcome = outcome_of(addon, "comfyui", timeout=2.0)
    elapsed = time.perf_counter() - started
    assert outcome.state == "ok", outcome.message
    assert outcome.message.startswith(f"comfyui 0.3.64 answers at {comfyui_server.url}") and "capabilities" in outcome.message
    assert elapsed < 2.0


def test_the_test_button_explains_a_failure_with_hints(addon: Any, bpy: Any) -> None:
    addon.use(comfyui=f"http://127.0.0.1:{free_port()}")
    bpy.ops.movie_director.test_connection(service="comfyui")
    outcome = outcome_of(addon, "comfyui")
    assert outcome.state == "failed" and "not running" in outcome.message
    assert "Start ComfyUI" in outcome.hints
    addon.prefs.services["comfyui"].url = "http://127.0.0.1:99999"
    assert addon.prefs.services["comfyui"].url_error  # validated inline, and the Test button refuses it
    with pytest.raises(RuntimeError, match="1 to 65535"):  # bpy.ops raises what the operator reports as an error
        bpy.ops.movie_director.test_connection(service="comfyui")
    addon.tick()
    assert addon.status.tests["comfyui"].message == addon.prefs.services["comfyui"].url_error


def test_a_gradio_app_and_the_wan2gp_web_ui(addon: Any, bpy: Any, gradio_server: Any, wan2gp_webui_server: Any) -> None:
    addon.use(wan2gp=wan2gp_webui_server.url, **{"gradio-app": gradio_server.url})
    addon.prefs.services["gradio-app"].kind = "gradio"
    bpy.ops.movie_director.test_connection(service="gradio-app")
    assert outcome_of(addon, "gradio-app").state == "ok"
    addon.pump(lambda: {item.name: item.state for item in addon.status.services} == {"wan2gp": "connected", "gradio-app": "connected"}, 30, "both connected")
    assert addon.row("wan2gp").label == "Wan2GP" and addon.row("wan2gp").version not in ("", "–")


def test_litellm_without_a_key_says_which_variable_to_set_then_works_with_one(addon: Any, bpy: Any, litellm_server: Any) -> None:
    variable = "MOVIE_DIRECTOR_LITELLM_API_KEY"
    addon.use(litellm=litellm_server.url)
    try:
        addon.pump(lambda: addon.status.services and addon.row("litellm").state == "error", 30, "LiteLLM refusing")
        assert addon.status.llm_text == f"LLM — LiteLLM: set {variable} to its API key" and addon.status.llm_icon == "ERROR"
        bpy.ops.movie_director.test_connection(service="litellm")
        refused = outcome_of(addon, "litellm")
        assert refused.state == "failed" and "refused the API key" in refused.message and "environment variable" in refused.hints
        assert bpy.ops.movie_director.set_api_key(service="litellm", key=DEFAULT_MASTER_KEY) == {"FINISHED"}
        assert os.environ[variable] == DEFAULT_MASTER_KEY and addon.prefs.services["litellm"].auth_env == variable
        addon.pump(lambda: addon.status.services and addon.row("litellm").state == "connected", 30, "LiteLLM connected")
        addon.pump(lambda: "models available" in addon.status.llm_text, 10, "models listed")
        assert addon.status.llm_icon == "CHECKMARK"
        bpy.ops.movie_director.test_connection(service="litellm")
        assert outcome_of(addon, "litellm").state == "ok"
    finally:
        os.environ.pop(variable, None)


def test_a_status_change_shows_within_100_ms_of_reaching_the_timer_and_reconnect_brings_it_back(addon: Any, bpy: Any, backend_servers: Any) -> None:
    comfyui = backend_servers.start("comfyui")
    addon.use(comfyui=comfyui.url)
    addon.pump(lambda: addon.status.services and addon.row("comfyui").state == "connected", 20, "connected")
    checked = addon.controller.rows[0].last_check
    assert bpy.ops.movie_director.refresh_connections() == {"FINISHED"}
    addon.pump(lambda: addon.controller.rows[0].last_check > checked, 10, "a fresh check after Refresh")

    lost = threading.Event()
    addon.controller.manager.subscribe(lambda event: event.kind == "state" and event.new == "disconnected" and lost.set())
    comfyui.kill()
    assert bpy.ops.movie_director.manual_reconnect(service="comfyui") == {"FINISHED"}  # a check right away
    assert lost.wait(20), "the manager never saw the disconnect"
    started = time.perf_counter()  # the event waits for the timer: the next tick must show it
    interval = addon.tick()
    # "disconnected", or "connecting" when the tick lands inside a reconnect attempt (the port
    # poll starts one at once): either way the panel no longer says connected.
    shown = time.perf_counter() - started if addon.row("comfyui").state in ("disconnected", "connecting") else None
    assert shown is not None, f"the disconnect never reached the panel (row: {addon.row('comfyui').state})"
    assert shown < 0.1 and interval <= 0.1
    # The socket's end says "went away" at once; the confirming check's verdict (port closed) follows.
    addon.pump(lambda: addon.row("comfyui").state == "disconnected" and "not running" in addon.row("comfyui").error, 10, "the check's verdict")
    row = addon.row("comfyui")
    assert row.icon == "X" and "not running" in row.error and row.reconnect_text.startswith("waiting for ComfyUI — ")
    # The monitor socket's end tells first ("went away"); the confirming check then finds the port closed ("not running").
    assert addon.status.notifications[0].summary.startswith(("comfyui: ComfyUI went away", "comfyui: ComfyUI is not running"))

    comfyui.restart()
    assert bpy.ops.movie_director.manual_reconnect(service="") == {"FINISHED"}
    addon.pump(lambda: addon.row("comfyui").state == "connected", 20, "reconnected")
    addon.pump(lambda: any("connected again" in item.summary for item in addon.status.notifications), 5)


def test_discover_fills_in_the_services_it_finds(addon: Any, bpy: Any, comfyui_server: Any) -> None:
    addon.use()
    addon.prefs.discovery_ports = str(comfyui_server.port)
    assert bpy.ops.movie_director.discover_services(ports=addon.prefs.discovery_ports) == {"FINISHED"}
    addon.tick()
    assert addon.status.discovery.state == "running"
    addon.pump(lambda: addon.status.discovery.state == "ok", 30, "discovery done")
    assert f"comfyui 0.3.64 at {comfyui_server.url}" in addon.status.discovery.message
    comfyuis = {item.url: item for item in addon.prefs.services if item.kind == "comfyui"}
    assert comfyuis[comfyui_server.url].enabled
    with pytest.raises(RuntimeError, match="not a port"):
        bpy.ops.movie_director.discover_services(ports="nope")


def test_export_metrics_writes_csv_and_json(addon: Any, bpy: Any, comfyui_server: Any, tmp_path: Path) -> None:
    addon.use(comfyui=comfyui_server.url)
    addon.pump(lambda: addon.status.services and addon.row("comfyui").state == "connected", 20)
    assert bpy.ops.movie_director.export_metrics(filepath=str(tmp_path / "metrics"), format="CSV") == {"FINISHED"}
    addon.pump(lambda: (tmp_path / "metrics.csv").exists(), 10, "the CSV")
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open(encoding="utf-8")))
    assert rows[0]["service"] == "comfyui" and "vram_total" in rows[0]
    assert bpy.ops.movie_director.export_metrics(filepath=str(tmp_path / "metrics.json"), format="JSON") == {"FINISHED"}
    addon.pump(lambda: (tmp_path / "metrics.json").exists(), 10, "the JSON")
    assert json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))["services"][0]["summary"]["samples"] >= 1
    with pytest.raises(RuntimeError, match="Choose a file"):
        bpy.ops.movie_director.export_metrics(filepath="", format="CSV")


def test_remote_services_are_not_contacted_without_online_access(addon: Any, bpy: Any) -> None:
    assert bpy.app.online_access is False
    addon.use(comfyui="http://192.0.2.10:8188")
    addon.pump(lambda: addon.status.services and addon.row("comfyui").state == "error", 20)
    assert "online access is turned off" in addon.row("comfyui").error
    assert addon.status.offline_note == "Online access is off: services on other machines are not checked."
    bpy.ops.movie_director.test_connection(service="comfyui")
    outcome = outcome_of(addon, "comfyui")
    assert outcome.state == "failed" and "online access" in outcome.message


def test_diagnostics_run_in_the_background(addon: Any, bpy: Any) -> None:
    addon.use()
    assert bpy.ops.movie_director.run_diagnostics() == {"FINISHED"}
    # the operator only starts the job: the result can only arrive through a later tick
    assert addon.controller.doctor_state == "running"
    addon.pump(lambda: addon.status.doctor.state in ("ok", "problems", "failed"), 30, "diagnostics done")
    names = [finding.name for finding in addon.status.findings]
    assert "online access" in names and any("plugin" in name for name in names)
