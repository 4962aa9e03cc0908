"""``wan2gp generate`` with several Wan2GP instances: a down one is skipped, the least loaded live one makes the video.

Which live one is least loaded is unit-tested (tests/unit/test_wan2gp_cli_routing.py): the
headless server's health reports only the calling client's jobs, not its whole queue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def generate(tmp_path: Path, urls: list[str], *extra: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MOVIE_DIRECTOR_")}
    env.update(HOME=str(tmp_path), MOVIE_DIRECTOR_DATA_DIR=str(tmp_path / "data"), MOVIE_DIRECTOR_WAN2GP_URL=",".join(urls))
    argv = [sys.executable, "-m", "movie_director.cli", "wan2gp", "generate", "--prompt", "a cat", "--frames", "17", "--out", str(tmp_path / "out"), "--json", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_down_instance_is_skipped_and_the_video_made_on_a_live_one(backend_servers: Any, tmp_path: Path) -> None:
    live = backend_servers.start("wan2gp_mcp", step_seconds=0.02).url + "/mcp"
    routed = generate(tmp_path, ["http://127.0.0.1:9/mcp", live], "--steps", "2")
    stdout, stderr = routed.communicate(timeout=60)
    assert routed.returncode == 0, stderr
    assert f"Generating on {live}, the least loaded of 2 instances" in stderr and "Skipping http://127.0.0.1:9/mcp" in stderr
    assert Path(json.loads(stdout)["files"][0]).is_file()


def test_no_live_instance_exits_3(tmp_path: Path) -> None:
    routed = generate(tmp_path, ["http://127.0.0.1:9/mcp", "http://127.0.0.1:7/mcp"], "--steps", "2", "--transport", "mcp")
    stdout, _ = routed.communicate(timeout=60)
    assert routed.returncode == 3 and json.loads(stdout)["error"]["category"] == "Connection"
