"""``movie-director demo`` end to end: the README's first command, then the same acts in-process.

The first test runs the command exactly as ``tox -e demo`` does (a subprocess in a fresh
folder), with the artist's config and data dir pointed at places the demo must never
touch. The others run the acts in this process (so coverage sees them) on the session's
servers: embedded mode with a private ComfyUI it may kill, and ``--real`` mode through
the CLI with a config file naming the same servers.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from movie_director.cli import demo, main
from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY
from movie_director_testing.processes import free_port, interruptible, port_accepts

pytestmark = pytest.mark.integration

DEMO_TIMEOUT = 150.0
PNG = b"\x89PNG\r\n\x1a\n"


def run_demo_command(cwd: Path, env: dict[str, str]) -> tuple[int, str, str, float]:
    """``movie-director demo`` in ``cwd``; past the deadline it gets Ctrl-C (so it still cleans up), then the test fails."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "movie_director.cli", "demo"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
    )
    try:
        out, err = process.communicate(timeout=DEMO_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        pytest.fail(f"the demo did not finish within {DEMO_TIMEOUT:g} s:\n{out}\n{err[-3000:]}")
    return process.returncode, out, err, time.monotonic() - started


def assert_outputs(out_dir: Path, pngs: int) -> None:
    images = sorted((out_dir / "comfyui").glob("*.png"))
    assert len(images) >= pngs, images
    assert all(path.read_bytes().startswith(PNG) for path in images)
    videos = sorted((out_dir / "wan2gp").glob("*.mp4"))
    assert len(videos) == 1, videos
    assert videos[0].read_bytes()[4:8] == b"ftyp"


def test_the_readme_command_plays_every_act_and_leaves_nothing_running(tmp_path):
    artist_data = tmp_path / "artist-data"
    broken_config = tmp_path / "artist-config.yaml"
    broken_config.write_text("services: [this is not a mapping\n", encoding="utf-8")
    env = {
        **os.environ,
        "MOVIE_DIRECTOR_CONFIG": str(broken_config),  # reading it would fail the run
        "MOVIE_DIRECTOR_DATA_DIR": str(artist_data),  # writing there would create it
        "MOVIE_DIRECTOR_COMFYUI_URL": f"http://127.0.0.1:{free_port()}",  # nobody answers: using it would fail act 4
    }
    workdir = tmp_path / "fresh-clone"
    workdir.mkdir()

    code, out, err, elapsed = run_demo_command(workdir, env)
    print(out)
    print(f"demo took {elapsed:.1f} s")

    assert code == 0, f"exit {code}\n{out}\n{err[-3000:]}"
    for number, title in enumerate(demo.ACTS, 1):
        assert f"Act {number}/{len(demo.ACTS)} · {title}" in out
    assert re.search(r"the 3 queued jobs ran exactly once, in order .*\[0, 1, 2\]", out)
    assert "Demo finished" in out and "Traceback" not in err
    assert_outputs(workdir / "demo-output", pngs=2 + 3)
    ports = [int(port) for port in re.findall(r"ready at http://127\.0\.0\.1:(\d+)", out)]
    assert len(ports) == 3
    assert not [port for port in ports if port_accepts("127.0.0.1", port)], "a server the demo started is still running"
    assert not artist_data.exists()


@pytest.fixture
def clean_environment(monkeypatch):
    """No MOVIE_DIRECTOR_* variable of the developer's shell may change what these tests see."""
    for name in [name for name in os.environ if name.startswith("MOVIE_DIRECTOR_") and name != "MOVIE_DIRECTOR_ENVS"]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_embedded_acts_in_process_on_running_servers(backend_servers, wan2gp_webui_server, litellm_server, tmp_path, clean_environment):
    comfyui = backend_servers.start("comfyui", node_delay=0.02)
    backends = demo.LocalBackends({"comfyui": comfyui, "wan2gp": wan2gp_webui_server, "litellm": litellm_server}, DEFAULT_MASTER_KEY)
    story = io.StringIO()

    report = demo.run(demo.DemoOptions(out_dir=tmp_path / "out"), story, backends)

    text = story.getvalue()
    print(text)
    assert sorted(row["kind"] for row in report.discovered) == sorted(demo.KINDS)
    assert set(report.jobs) == set(demo.KINDS) and not report.skipped
    assert report.jobs["litellm"]["model"] == demo.LLM_MODEL and "scene one is done" in report.jobs["litellm"]["text"]
    assert report.outage is not None and report.outage["queued"] == report.outage["completed"] == 3
    assert report.health["comfyui"]["success_rate"] < 1.0 and report.health["wan2gp"]["success_rate"] == 1.0
    assert "killed the ComfyUI stand-in" in text and "connected → disconnected" in text and "reconnecting → connected" in text
    assert_outputs(tmp_path / "out", pngs=2 + 3)
    assert comfyui.running and wan2gp_webui_server.running and litellm_server.running, "servers the demo did not start are left running"
    assert demo.KEY_ENV not in os.environ, "the proxy key is not left in the environment"


def _artist_config(path: Path, urls: dict[str, str]) -> Path:
    services = {name: {"url": url} for name, url in urls.items()}
    services["litellm"]["auth"] = {"env": "ARTIST_PROXY_KEY"}
    path.write_text(json.dumps({"version": 1, "services": services}), encoding="utf-8")
    return path


def test_real_mode_runs_jobs_on_the_configured_services_and_kills_nothing(
    comfyui_server, wan2gp_webui_server, litellm_server, tmp_path, clean_environment, capsys
):
    urls = {"comfyui": comfyui_server.url, "wan2gp": wan2gp_webui_server.url, "litellm": litellm_server.url}
    clean_environment.setenv("MOVIE_DIRECTOR_CONFIG", str(_artist_config(tmp_path / "config.json", urls)))
    clean_environment.setenv("MOVIE_DIRECTOR_DATA_DIR", str(tmp_path / "data"))
    clean_environment.setenv("ARTIST_PROXY_KEY", DEFAULT_MASTER_KEY)

    code = main(["demo", "--real", "--json", "--out", str(tmp_path / "out")])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["ok"] is True and report["mode"] == "real" and report["outage"] is None
    assert set(report["jobs"]) == set(demo.KINDS)
    assert report["jobs"]["litellm"]["model"] == "mock-gpt"  # the proxy's first chat model
    assert "skipped with --real" in captured.err and "Act 6/6" in captured.err
    assert_outputs(tmp_path / "out", pngs=1)  # no sampler chain on a real ComfyUI: it would load a model
    assert comfyui_server.running and wan2gp_webui_server.running and litellm_server.running
    assert (tmp_path / "data").is_dir(), "--real uses the artist's data dir"


def test_real_mode_with_nothing_answering_fails_with_a_clear_message(tmp_path, clean_environment, capsys):
    urls = {kind: f"http://127.0.0.1:{free_port()}" for kind in demo.KINDS}
    clean_environment.setenv("MOVIE_DIRECTOR_CONFIG", str(_artist_config(tmp_path / "config.json", urls)))
    clean_environment.setenv("MOVIE_DIRECTOR_DATA_DIR", str(tmp_path / "data"))

    code = main(["demo", "--real", "--json"])

    captured = capsys.readouterr()
    assert code == 1
    assert "None of your configured ComfyUI, Wan2GP or LiteLLM services answers." in captured.err
    assert "✗ Act 3 (Connect and watch) failed." in captured.err
    assert json.loads(captured.out)["ok"] is False
