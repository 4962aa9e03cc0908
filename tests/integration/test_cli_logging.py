"""A real CLI process: library loggers never reach the console; the log file holds them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from movie_director.logs import last_lines

pytestmark = pytest.mark.integration


def test_a_cli_command_against_a_dead_port_prints_no_library_line(tmp_path):
    workflow = tmp_path / "wf.json"
    workflow.write_text('{"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}')
    env = {"MOVIE_DIRECTOR_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "movie_director.cli", "comfyui", "run", str(workflow), "--url", "http://127.0.0.1:1"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert done.returncode == 3  # unreachable (docs/cli.md)
    assert "urllib3" not in done.stderr + done.stdout and "Retrying" not in done.stderr + done.stdout
    assert "connection_refused" in done.stderr + done.stdout
    assert any("Retrying" in line for line in last_lines(tmp_path / "data"))
