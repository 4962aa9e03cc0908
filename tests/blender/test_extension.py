"""The installable extension: ``addon/extension/build.py`` builds the .zip with its wheels,
and a fresh Blender installs it the way Edit › Preferences › Get Extensions › Install from
Disk does (``bpy.ops.extensions.package_install_files``), then runs it from the wheels alone."""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

import movie_director
from movie_director.cli.demo import demo_workflow
from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY, STORY

pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "bl_ext.user_default.movie_director"

# Both run in fresh processes without the working tree's editable install: everything
# must come from the .zip. The first installs (as Install from Disk does) and saves the
# preferences; the second is Blender started again with the extension installed.
FORGET_EDITABLE = """
import sys
sys.meta_path = [finder for finder in sys.meta_path if "__editable__" not in getattr(finder, "__module__", "") and "__editable__" not in getattr(finder, "__name__", "")]
"""

INSTALL = FORGET_EDITABLE + r"""
import json, threading
import bpy

zip_path = sys.argv[1]
result = {"install": sorted(bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True))}
result["modules"] = sorted(name for name in sys.modules if name.startswith("bl_ext.user_default"))
result["panels"] = [name for name in ("MOVIE_DIRECTOR_PT_connection_status", "MOVIE_DIRECTOR_PT_health_dashboard_sequencer") if hasattr(bpy.types, name)]
result["preferences"] = type(bpy.context.preferences.addons["bl_ext.user_default.movie_director"].preferences).__name__
bpy.ops.preferences.addon_disable(module="bl_ext.user_default.movie_director")
result["panels_after_disable"] = hasattr(bpy.types, "MOVIE_DIRECTOR_PT_connection_status")
bpy.ops.wm.save_userpref()
print("RESULT " + json.dumps(result))
"""

RESTART_AND_RUN = FORGET_EDITABLE + r"""
import json, os, threading, time
import bpy

comfyui_url, litellm_url, workflow = sys.argv[1:4]
os.environ["MOVIE_DIRECTOR_LITELLM_API_KEY"] = sys.argv[4]
result = {"enable": sorted(bpy.ops.preferences.addon_enable(module="bl_ext.user_default.movie_director"))}
import movie_director, movie_director_plugins.comfyui
from importlib import metadata
from movie_director.blender import runtime
from movie_director.blender.settings import ServiceSettings, UISettings
from movie_director.plugins import get_plugin_manager

result.update(
    core=movie_director.__file__,
    plugin=movie_director_plugins.comfyui.__file__,
    dependencies=[__import__(name).__file__ for name in ("pluggy", "jsonschema", "websocket", "yaml", "gradio_client")],
    backends=sorted(get_plugin_manager().backends),
)
first = {}  # the copy the plugin manager loads: the first on sys.path, as movie_director.plugins does
for point in metadata.entry_points(group="movie_director.backends"):
    first.setdefault(point.name, str(point.dist._path))
result["entry_points"] = first
prefs = bpy.context.preferences.addons["bl_ext.user_default.movie_director"].preferences
prefs.set_from(UISettings((ServiceSettings("comfyui", "comfyui", url=comfyui_url), ServiceSettings("wan2gp", "wan2gp", enabled=False, url="http://127.0.0.1:9"), ServiceSettings("litellm", "litellm", url=litellm_url))))
prefs.initialized = True
deadline = time.monotonic() + 30
while time.monotonic() < deadline and sum(row.state == "connected" for row in runtime.get().controller.rows) < 2:
    runtime.tick()
    time.sleep(0.05)
runtime.tick()
result["rows"] = {item.name: item.state for item in bpy.context.window_manager.movie_director_status.services}

# a first generation: both operators return at once, the timer brings the results in
bpy.context.scene.frame_current = 7
texts = set(bpy.data.texts.keys())
started = time.perf_counter()
result["run_workflow"] = sorted(bpy.ops.movie_director.run_workflow(filepath=workflow))
result["run_workflow_s"] = time.perf_counter() - started
started = time.perf_counter()
result["ask_llm"] = sorted(bpy.ops.movie_director.ask_llm(prompt="Tell me the story", model="mock-story"))
result["ask_llm_s"] = time.perf_counter() - started
status = bpy.context.window_manager.movie_director_status
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not (len(status.jobs) == 2 and all(job.state != "running" for job in status.jobs)):
    runtime.tick()
    time.sleep(0.05)
result["jobs"] = {job.title: [job.state, job.status] for job in status.jobs}
editor = bpy.context.scene.sequence_editor
result["strips"] = [[strip.type, strip.frame_final_start, os.path.join(bpy.path.abspath(strip.directory), strip.elements[0].filename)] for strip in (editor.strips_all if editor else ())]
result["answers"] = [text.as_string() for name, text in bpy.data.texts.items() if name not in texts]
bpy.ops.preferences.addon_disable(module="bl_ext.user_default.movie_director")
result["after_disable"] = {
    "panels": hasattr(bpy.types, "MOVIE_DIRECTOR_PT_connection_status"),
    "timer": bpy.app.timers.is_registered(runtime.tick),
    "threads": [thread.name for thread in threading.enumerate() if thread.name.startswith("md-")],
}
print("RESULT " + json.dumps(result))
"""


def run_blender(script: str, *args: str, user: Path, data: Path) -> dict[str, Any]:
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user), "MOVIE_DIRECTOR_DATA_DIR": str(data)}
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, cwd=data.parent, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def host_platform() -> str:
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        return "linux-x64"
    if sys.platform == "win32":
        return "windows-x64"
    return "macos-arm64" if machine in ("arm64", "aarch64") else "macos-x64"


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension built as ``tox -e extension`` builds it, for this machine's platform only."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, str(ROOT / "addon" / "extension" / "build.py"), "--platform", host_platform(), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return out / f"movie_director-{movie_director.__version__}.zip"


def test_the_zip_holds_a_valid_manifest_and_exactly_its_wheels(extension_zip: Path) -> None:
    with zipfile.ZipFile(extension_zip) as archive:
        names = set(archive.namelist())
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode("utf-8"))
        own = next(name for name in names if name.startswith("wheels/movie_director_connect-"))
        with zipfile.ZipFile(io.BytesIO(archive.read(own))) as wheel:
            entry_points = next(wheel.read(name).decode() for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt"))
            packaged = wheel.namelist()
    assert "__init__.py" in names and "blender_manifest.toml" in names
    assert (manifest["schema_version"], manifest["id"], manifest["type"]) == ("1.0.0", "movie_director", "add-on")
    assert manifest["version"] == movie_director.__version__ and manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"] and manifest["platforms"] == [host_platform()]
    for reason in (manifest["permissions"]["network"], manifest["permissions"]["files"], manifest["tagline"]):
        assert len(reason) <= 64 and not reason.endswith(".")
    assert sorted("./" + name for name in names if name.startswith("wheels/")) == manifest["wheels"]
    wheels = " ".join(manifest["wheels"]).lower()
    for dependency in ("requests", "urllib3", "websocket_client", "gradio_client", "pluggy", "jsonschema", "pyyaml", "rpds_py"):
        assert f"/{dependency}-" in wheels, dependency
    assert "[movie_director.backends]" in entry_points and "comfyui = movie_director_plugins.comfyui" in entry_points
    assert "pytest11" not in entry_points  # our fixtures never join an artist's (or a pack author's) pytest session uninvited
    shipped = [name for name in (*names, *packaged) if "testing" in name or name.endswith((".mp4", ".txt")) and "dist-info" not in name]
    assert shipped == [], "the extension carries test support"


def test_a_fresh_blender_installs_the_zip_and_runs_it_from_its_wheels(extension_zip: Path, comfyui_server: Any, litellm_server: Any, tmp_path: Path) -> None:
    user = tmp_path / "user"
    installed = run_blender(INSTALL, str(extension_zip), user=user, data=tmp_path / "data")
    assert installed["install"] == ["FINISHED"] and PACKAGE in installed["modules"]
    assert installed["panels"] == ["MOVIE_DIRECTOR_PT_connection_status", "MOVIE_DIRECTOR_PT_health_dashboard_sequencer"]
    assert installed["preferences"] == "MovieDirectorPreferences" and installed["panels_after_disable"] is False

    workflow = tmp_path / "first_api.json"
    workflow.write_text(json.dumps(demo_workflow("md-extension", seed=5)), encoding="utf-8")
    result = run_blender(RESTART_AND_RUN, comfyui_server.url, litellm_server.url, str(workflow), DEFAULT_MASTER_KEY, user=user, data=tmp_path / "data")
    site = str(user / "extensions" / ".local" / "lib")
    assert result["enable"] == ["FINISHED"]
    assert result["core"].startswith(site) and result["plugin"].startswith(site)
    assert all(path.startswith(site) for path in result["dependencies"]), result["dependencies"]
    assert {"comfyui", "wan2gp", "gradio", "litellm"} <= set(result["entry_points"])
    assert all(path.startswith(site) for path in result["entry_points"].values()), result["entry_points"]  # found through the wheel's .dist-info
    assert {"comfyui", "wan2gp", "gradio", "litellm"} <= set(result["backends"])
    assert result["rows"] == {"comfyui": "connected", "litellm": "connected"}
    # the Generate operators, from the installed extension
    print(f"installed extension: run_workflow returned in {result['run_workflow_s'] * 1000:.1f} ms, ask_llm in {result['ask_llm_s'] * 1000:.1f} ms")
    assert result["run_workflow"] == result["ask_llm"] == ["FINISHED"]
    assert result["run_workflow_s"] < 0.1 and result["ask_llm_s"] < 0.1
    assert all(state == "done" for state, _ in result["jobs"].values()), result["jobs"]
    [[kind, frame, path]] = result["strips"]
    assert (kind, frame) == ("IMAGE", 7) and Path(path).is_file()
    produced = requests.get(f"{comfyui_server.url}/view", params={"filename": Path(path).name, "type": "output"}, timeout=5).content
    assert produced.startswith(b"\x89PNG") and Path(path).read_bytes() == produced
    assert result["answers"] == [STORY]
    assert result["after_disable"] == {"panels": False, "timer": False, "threads": []}
