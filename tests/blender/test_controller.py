"""The main-thread dispatcher without Blender: jobs that always answer, the manager's life
cycle on workers, events turned into notifications, buttons, and clean shutdown."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from movie_director.blender.controller import (
    FAILED,
    RUNNING,
    STOPPED,
    Built,
    Controller,
    Jobs,
    merge_discovered,
)
from movie_director.blender.notifications import Severity
from movie_director.blender.profiles import ProfileStore
from movie_director.blender.settings import ServiceSettings, UISettings
from movie_director.clock import FakeClock
from movie_director.discovery import DiscoveryResult
from movie_director.errors import InvalidConfigError
from movie_director.manager import ServiceManager
from movie_director_testing.fake_backend import FakeBackend, fake_config, fake_plugins
from movie_director_testing.processes import free_port, wait_until


def fake_builder(data_dir: Path, backend: FakeBackend, url: str) -> Callable[[Any, bool], Built]:
    """Builds a manager of one fake service at ``url`` (whatever the settings say)."""

    def build(layer: Any, online_access: bool) -> Built:
        config = fake_config(data_dir, {"fake": url})
        manager = ServiceManager(config, fake_plugins(backend), allow_remote=online_access)
        manager.start()
        return Built(config, manager, UISettings((ServiceSettings("fake", "fake", url=url),)), (("fake", "Fake", url),))

    return build


def md_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.startswith("md-")}


@pytest.fixture
def fake(tmp_path: Path, listening: Any) -> SimpleNamespace:
    """One fake service on a loopback port that accepts connections."""
    url = listening()
    backend = FakeBackend()
    return SimpleNamespace(url=url, backend=backend, server=backend.service_at(url), settings=UISettings((ServiceSettings("fake", "fake", url=url),)), builder=fake_builder(tmp_path / "data", backend, url))


@pytest.fixture
def make_controller(tmp_path: Path, fake: SimpleNamespace) -> Any:
    made: list[Controller] = []

    def make(builder: Any = None, **options: Any) -> Controller:
        controller = Controller(ProfileStore(tmp_path / "profiles"), builder=builder or fake.builder, **options)
        made.append(controller)
        return controller

    yield make
    for controller in made:
        controller.close()


def until(controller: Controller, predicate: Callable[[], Any], timeout: float = 10.0, message: str = "condition") -> Any:
    def step() -> Any:
        controller.poll()
        return predicate()

    return wait_until(step, timeout, interval=0.01, message=message)


def test_a_job_that_raises_answers_with_a_typed_error() -> None:
    jobs = Jobs(workers=1)
    try:
        jobs.start("x", "comfyui", "Boom", lambda: 1 / 0)
        results = wait_until(jobs.drain, 5, message="a result")
        assert results[0].error is not None and results[0].value is None
        assert results[0].error.to_dict()["message"]
        assert not jobs.active
    finally:
        jobs.close()


def test_a_job_past_its_deadline_is_failed_and_its_late_result_discarded() -> None:
    clock = FakeClock()
    release = threading.Event()
    discarded: list[Any] = []
    jobs = Jobs(workers=1, monotonic=clock.monotonic)
    try:
        jobs.start("build", "", "Starting the connection manager", lambda: release.wait(10) and "late", timeout=30, discard=discarded.append)
        assert jobs.drain() == []
        clock.advance(31)
        [failed] = jobs.drain()
        assert failed.error is not None and failed.error.code == "operation_timeout"
        assert "did not finish in time" in failed.error.message
        release.set()
        wait_until(lambda: not jobs.drain() and discarded, 5, message="the late result discarded")
        assert discarded == ["late"]
    finally:
        release.set()
        jobs.close()


def test_the_manager_is_built_on_a_worker_and_its_rows_refresh(make_controller: Any, fake: SimpleNamespace) -> None:
    controller = make_controller()
    assert controller.configure(fake.settings, online_access=False)
    assert controller.state == "starting" and controller.traffic_light[1] == "Starting…"
    until(controller, lambda: controller.state == RUNNING, message="running")
    until(controller, lambda: controller.rows and controller.rows[0].state == "connected", message="connected")
    assert controller.rows[0].label == "Fake" and controller.traffic_light[0] == "COLORSET_03_VEC"
    assert controller.defaults.services[0].name == "fake" and controller.kinds[0][0] == "fake"
    assert not controller.configure(fake.settings, online_access=False)  # unchanged: no rebuild


def test_changed_settings_rebuild_and_the_old_manager_is_closed(make_controller: Any, tmp_path: Path, fake: SimpleNamespace) -> None:
    built: list[ServiceManager] = []
    inner = fake.builder

    def builder(layer: Any, online: bool) -> Built:
        result = inner(layer, online)
        built.append(result.manager)
        return result

    controller = make_controller(builder)
    controller.configure(fake.settings, online_access=False)
    until(controller, lambda: controller.state == RUNNING)
    controller.configure(UISettings(fake.settings.services, "Remote"), online_access=False)
    until(controller, lambda: controller.state == RUNNING and len(built) == 2)
    assert controller.manager is built[1]
    wait_until(lambda: built[0]._closed, 10, message="the old manager closed")


def test_a_failed_build_is_reported_not_left_starting(make_controller: Any, fake: SimpleNamespace) -> None:
    def broken(layer: Any, online: bool) -> Built:
        raise InvalidConfigError("The config file is broken.", hints=["Fix it."])

    controller = make_controller(broken)
    controller.configure(fake.settings, online_access=False)
    until(controller, lambda: controller.state == FAILED)
    assert controller.state_message == "The config file is broken."
    assert controller.traffic_light == ("COLORSET_01_VEC", "The config file is broken.")
    [notification] = controller.notifications.recent()
    assert notification.severity is Severity.ERROR and notification.title == "Cannot start the connections"
    assert not controller.configure(fake.settings, online_access=False)  # no retry loop; Refresh retries
    controller.refresh(fake.settings, online_access=False)
    assert controller.state == "starting"


def test_a_build_that_hangs_is_failed_at_its_deadline(make_controller: Any, fake: SimpleNamespace) -> None:
    clock = FakeClock()
    release = threading.Event()
    controller = make_controller(lambda layer, online: release.wait(10) and None, monotonic=clock.monotonic)
    try:
        controller.configure(fake.settings, online_access=False)
        controller.poll()
        assert controller.state == "starting"
        clock.advance(31)
        controller.poll()
        assert controller.state == FAILED and "did not finish in time" in controller.state_message
    finally:
        release.set()


def test_a_lost_service_becomes_a_notification_and_its_return_another(make_controller: Any, tmp_path: Path, fake: SimpleNamespace) -> None:
    controller = make_controller()
    controller.configure(fake.settings, online_access=False)
    until(controller, lambda: controller.rows and controller.rows[0].state == "connected")
    fake.server.up = False
    controller.manager.check_now("fake")
    until(controller, lambda: controller.rows[0].state == "disconnected", message="disconnected")
    lost = controller.notifications.recent()[0]
    assert (lost.severity, lost.type, lost.service) == (Severity.WARNING, "connection_refused", "fake")
    assert controller.rows[0].error and controller.rows[0].next_reconnect_in is not None
    fake.server.up = True
    assert controller.reconnect(["fake"]) == 1
    until(controller, lambda: controller.rows[0].state == "connected", message="back")
    assert controller.notifications.recent()[0].message == "Fake is connected again."


def test_close_joins_every_thread_it_started(tmp_path: Path, fake: SimpleNamespace) -> None:
    before = md_threads()
    controller = Controller(ProfileStore(tmp_path / "profiles"), builder=fake.builder)
    controller.configure(fake.settings, online_access=False)
    until(controller, lambda: controller.state == RUNNING)
    controller.configure(UISettings(fake.settings.services, "Remote"), online_access=False)  # one manager retiring
    controller.close()
    assert md_threads() <= before
    assert controller.state == STOPPED and not controller.configure(fake.settings, online_access=False)


def test_auto_connect_off_stops_until_refresh(make_controller: Any, fake: SimpleNamespace) -> None:
    controller = make_controller()
    assert controller.configure(fake.settings, online_access=False, connect=False)  # says why it is not connecting
    assert not controller.configure(fake.settings, online_access=False, connect=False)  # once
    assert controller.state == STOPPED and "Auto-connect is off" in controller.state_message
    controller.refresh(fake.settings, online_access=False)
    until(controller, lambda: controller.state == RUNNING)
    assert controller.configure(fake.settings, online_access=False, connect=False)
    assert controller.state == STOPPED and "Auto-connect is off" in controller.state_message and controller.rows == []
    controller.refresh(fake.settings, online_access=False)
    until(controller, lambda: controller.state == RUNNING)


def test_the_test_button_reports_a_refused_port_with_hints(make_controller: Any) -> None:
    controller = make_controller()
    closed = f"http://127.0.0.1:{free_port()}"
    controller.test_connection(ServiceSettings("comfyui", "comfyui", url=closed, timeout=5), online_access=False)
    assert controller.tests["comfyui"].state == "running"
    until(controller, lambda: controller.tests["comfyui"].state != "running", message="the test result")
    outcome = controller.tests["comfyui"]
    assert outcome.state == "failed" and "not running" in outcome.message and outcome.hints
    assert controller.notifications.recent()[0].severity is Severity.WARNING


def test_a_remote_service_is_not_contacted_without_online_access(make_controller: Any) -> None:
    controller = make_controller()
    controller.test_connection(ServiceSettings("comfyui", "comfyui", url="http://192.0.2.10:8188", timeout=5), online_access=False)
    until(controller, lambda: controller.tests["comfyui"].state != "running")
    assert controller.tests["comfyui"].state == "failed"
    assert "online access" in controller.tests["comfyui"].message.lower() or "another machine" in controller.tests["comfyui"].message


def test_export_metrics_writes_csv_and_json(make_controller: Any, tmp_path: Path, fake: SimpleNamespace) -> None:
    controller = make_controller()
    assert not controller.export_metrics(tmp_path / "none.csv", "CSV")  # not connected yet: said so
    controller.configure(fake.settings, online_access=False)
    until(controller, lambda: controller.rows and controller.rows[0].state == "connected")
    assert controller.export_metrics(tmp_path / "out" / "metrics.csv", "CSV")
    until(controller, lambda: (tmp_path / "out" / "metrics.csv").exists())
    rows = list(csv.DictReader((tmp_path / "out" / "metrics.csv").open(encoding="utf-8")))
    assert rows and rows[0]["service"] == "fake" and rows[0]["status"] == "online"
    controller.set_dashboard_range("1H")
    controller.export_metrics(tmp_path / "metrics.json", "JSON")
    until(controller, lambda: (tmp_path / "metrics.json").exists())
    document = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert document["range"] == "1H" and document["services"][0]["service"] == "fake"
    until(controller, lambda: any("Exported" in item.message for item in controller.notifications.recent()))


def test_dashboard_rows_follow_the_range(make_controller: Any, fake: SimpleNamespace) -> None:
    controller = make_controller()
    controller.configure(fake.settings, online_access=False)
    until(controller, lambda: controller.dashboard and controller.dashboard[0].stats.checks >= 1, message="dashboard")
    row = controller.dashboard[0]
    assert row.stats.success_pct == 100.0 and row.stats.avg_ms == 5.0
    assert row.lines[0] == "Queue: 0 on the server, 0 waiting here"
    controller.set_dashboard_range("24H")
    until(controller, lambda: controller.dashboard[0].stats.checks >= 1)


def test_profiles_save_list_load_and_delete_on_workers(make_controller: Any) -> None:
    controller = make_controller()
    until(controller, lambda: controller.profile_names == [] and not controller.jobs.active)
    settings = UISettings((ServiceSettings("comfyui", "comfyui", url="http://127.0.0.1:8189", timeout=42),), "Studio")
    controller.save_profile("Studio", settings)
    until(controller, lambda: controller.profile_names == ["Studio"], message="saved")
    assert controller.load_profile("Studio", UISettings()) is None
    updates = wait_until(lambda: controller.poll().updates, 10, message="loaded")
    assert updates[0].settings.services == settings.services and updates[0].settings.active_profile == "Studio"
    preset = controller.load_profile("Remote", settings)
    assert preset is not None and preset.settings.services[0].timeout == 120.0 and preset.settings.active_profile == "Remote"
    controller.delete_profile("Studio")
    until(controller, lambda: controller.profile_names == [], message="deleted")


def test_import_and_export_settings_on_workers(make_controller: Any, tmp_path: Path) -> None:
    controller = make_controller()
    settings = UISettings((ServiceSettings("comfyui", "comfyui", url="http://127.0.0.1:8189"),), "Development")
    controller.export_settings(tmp_path / "settings.json", settings)
    until(controller, lambda: (tmp_path / "settings.json").exists())
    controller.import_settings(tmp_path / "settings.json")
    updates = wait_until(lambda: controller.poll().updates, 10, message="imported")
    assert updates[0].settings == settings
    (tmp_path / "bad.json").write_text("{nope", encoding="utf-8")
    controller.import_settings(tmp_path / "bad.json")
    until(controller, lambda: any(item.type == "config_invalid" for item in controller.notifications.recent()), message="import error")


def found(kind: str, url: str) -> DiscoveryResult:
    return DiscoveryResult(kind, url, version="1")


def test_discovered_services_fill_in_urls_or_are_added() -> None:
    current = UISettings((ServiceSettings("comfyui", "comfyui", url="http://127.0.0.1:8188"), ServiceSettings("litellm", "litellm", url="http://127.0.0.1:4000", enabled=False)))
    results = [found("comfyui", "http://127.0.0.1:8189"), found("litellm", "http://127.0.0.1:4000/"), found("gradio", "http://127.0.0.1:7861"), DiscoveryResult("unknown", "http://127.0.0.1:9999")]
    merged, notes = merge_discovered(current, results, connected=set())
    assert merged.service("comfyui").url == "http://127.0.0.1:8189"
    assert not merged.service("litellm").enabled  # already set up at that URL: left alone
    assert merged.service("gradio").url == "http://127.0.0.1:7861"
    assert notes == ["comfyui → http://127.0.0.1:8189", "added gradio (http://127.0.0.1:7861)"]
    kept, notes = merge_discovered(current, [found("comfyui", "http://127.0.0.1:8189")], connected={"comfyui"})
    assert kept.service("comfyui").url == "http://127.0.0.1:8188" and kept.service("comfyui-8189") is not None


# A process where ``import bpy`` fails: every job the controller runs must still work.
WITHOUT_BPY = r"""
import sys
sys.modules["bpy"] = None  # any import of bpy now raises ImportError
import time
from pathlib import Path
from movie_director.blender.controller import Controller
from movie_director.blender.profiles import ProfileStore
from movie_director.blender.settings import ServiceSettings, UISettings

folder = Path(sys.argv[1])
closed_port_url = sys.argv[2]
off = tuple(ServiceSettings(name, name, enabled=False, url="http://127.0.0.1:9") for name in ("comfyui", "wan2gp", "litellm"))
controller = Controller(ProfileStore(folder / "profiles"))
controller.configure(UISettings(off), online_access=False)
controller.test_connection(ServiceSettings("comfyui", "comfyui", url=closed_port_url, timeout=5), online_access=False)
controller.run_doctor(online_access=False)
controller.save_profile("Studio", UISettings(off))
deadline = time.monotonic() + 60
while time.monotonic() < deadline and (controller.jobs.active or controller.state == "starting"):
    controller.poll()
    time.sleep(0.02)
print("RESULT", controller.state, controller.tests["comfyui"].state, controller.doctor_state, controller.profile_names)
controller.close()
print("NOTES", [item.message for item in controller.notifications.recent() if "bpy" in item.message or "ImportError" in item.message])
"""


def test_worker_jobs_never_need_bpy(tmp_path: Path) -> None:
    run_three_jobs_at_once_without_bpy(tmp_path, {})


def test_jobs_started_together_do_not_deadlock_on_the_http_stack_blender_bundles(bundled_stack: str, tmp_path: Path) -> None:
    """Blender 4.2's urllib3 1.26 hooks imports (six): first imports racing on workers hung there."""
    if not bundled_stack:
        pytest.skip("BLENDER_BUNDLED_PACKAGES is not set: run through `tox -e blender`")
    run_three_jobs_at_once_without_bpy(tmp_path, {"PYTHONPATH": bundled_stack})


def run_three_jobs_at_once_without_bpy(tmp_path: Path, extra_env: dict[str, str]) -> None:
    """Build, Test connection and the diagnostics, started together in a process where ``import bpy`` fails."""
    env = {**os.environ, "MOVIE_DIRECTOR_DATA_DIR": str(tmp_path / "data"), "MOVIE_DIRECTOR_CONFIG": str(tmp_path / "config.json"), **extra_env}
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", WITHOUT_BPY, str(tmp_path), f"http://127.0.0.1:{free_port()}"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    _, state, test, doctor, profiles = next(line for line in done.stdout.splitlines() if line.startswith("RESULT")).split(" ", 4)
    assert (state, test, profiles) == ("running", "failed", "['Studio']") and doctor in ("ok", "problems")
    assert "NOTES []" in done.stdout
