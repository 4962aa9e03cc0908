"""The add-on works with the HTTP stack Blender bundles, when Blender's copies are the ones imported.

Blender ships its own requests, urllib3, certifi, idna and charset_normalizer; a module
imported first (by Blender, another add-on, the Python console) stays in
``sys.modules`` whatever our wheels bring. ``tox -e blender`` installs the sets of
Blender 4.2 LTS (urllib3 1.26.8, requests 2.27.1) and 4.5 (urllib3 2.4.0, requests 2.32.3)
into folders of their own and names them in ``BLENDER_BUNDLED_PACKAGES`` (see tox.ini);
for each, a fresh process puts it first on ``sys.path``, imports it, then enables the
add-on in bpy, checks the ComfyUI stand-in and runs a workflow on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WITH_BUNDLED_STACK = r"""
import json, sys
bundled, url, workflow, out = sys.argv[1:5]
sys.path.insert(0, bundled)
import requests, urllib3, certifi, idna, charset_normalizer  # as Blender would have them loaded
import bpy  # noqa: F401 - Blender first: it puts addon_utils on the path
import addon_utils
addon_utils.enable("movie_director_dev", default_set=True)
from movie_director.check import check_service
from movie_director.cli import main
report = check_service(url, "comfyui", timeout=10)
run = main(["comfyui", "run", workflow, "--url", url, "--out", out, "--json", "--timeout", "60"])
modules = {m.__name__: {"version": getattr(m, "__version__", ""), "file": m.__file__} for m in (requests, urllib3, certifi, idna, charset_normalizer)}
print("RESULT " + json.dumps({"modules": modules, "check": report.to_dict(), "run_exit": run}))
addon_utils.disable("movie_director_dev", default_set=True)
"""


def test_check_and_a_workflow_run_work_with_blenders_bundled_requests_and_urllib3(bundled_stack: str, bpy: Any, comfyui_server: Any, tmp_path: Path) -> None:
    if not bundled_stack:
        pytest.skip("BLENDER_BUNDLED_PACKAGES is not set: run through `tox -e blender`, which installs Blender's bundled sets")
    bundled = bundled_stack
    workflow = tmp_path / "tiny.json"
    workflow.write_text(json.dumps({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bundled"}},
    }))
    env = {**os.environ, "MOVIE_DIRECTOR_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", WITH_BUNDLED_STACK, bundled, comfyui_server.url, str(workflow), str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=180,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    for name, module in result["modules"].items():
        assert module["file"].startswith(bundled), f"{name} {module['version']} came from {module['file']}, not Blender's set"
    assert result["check"]["ok"], result["check"]["error"]
    assert result["run_exit"] == 0 and list((tmp_path / "out").glob("bundled_*.png")), done.stdout[-2000:]
