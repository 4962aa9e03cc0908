"""Wan2GP scenarios, one set for both ways in: the web UI (Gradio) and the headless MCP server.

A real Wan2GP without model weights cannot make a video: the job fails at model loading
with Wan2GP's own reason. Where a scenario needs the job to run, that failure (with a
reason from the server) is the expected outcome on such a server; our stand-ins make a
video. The web UI saves a failed queue, every setting by name, as ``error_queue.zip`` in
its working directory (``MOVIE_DIRECTOR_REAL_WAN2GP_UI_DIR``); the stand-in tells what its
session's task carried through a test-only endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from movie_director.check import adhoc_service
from movie_director.errors import InvalidSetting, JobCancelled, JobFailed
from movie_director.progress import Phase, Progress
from movie_director_plugins.wan2gp.backend import Wan2GPBackend
from movie_director_plugins.wan2gp.settings import Wan2GPSettings, Wan2GPTransport
from movie_director_testing.contract import WAN2GP_UI_DIR_ENV, Target
from movie_director_testing.processes import wait_until

pytestmark = pytest.mark.timeout(300)

TIMEOUT = 240.0
PHASES = list(Phase)


@pytest.fixture(params=["webui", "mcp"], scope="module")
def wan2gp_target(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue({"webui": "wan2gp_ui_target", "mcp": "wan2gp_mcp_target"}[request.param])


@pytest.fixture
def transport(wan2gp_target: Target) -> Iterator[Wan2GPTransport]:
    connection = Wan2GPBackend().connect(adhoc_service(wan2gp_target.url, "wan2gp", transport=wan2gp_target.probe.transport))
    yield connection
    connection.close()


def generate(transport: Wan2GPTransport, settings: Wan2GPSettings, out: Path, events: list[Progress], **options: Any) -> Any:
    """The video, or the failure a weightless Wan2GP gives (which must carry the server's reason)."""
    try:
        return transport.generate(settings, out, on_progress=events.append, timeout=TIMEOUT, **options)
    except JobFailed as failure:
        assert failure.message.strip() and failure.code == "job_failed", failure
        return failure


def test_probe_version_capabilities(wan2gp_target: Target, transport: Wan2GPTransport, record_property) -> None:
    probe = wan2gp_target.probe
    assert (probe.kind, probe.transport) == ("wan2gp", transport.name)
    capabilities = Wan2GPBackend().capabilities(transport)
    models = transport.models()
    assert models and {c.name for c in capabilities} & {"video.generate", "image.generate"}, capabilities
    assert Wan2GPBackend().health(transport).ok
    record_property("note", f"{len(models)} models, {len(capabilities)} capabilities")


def test_job_end_to_end(wan2gp_target: Target, tmp_path: Path, record_property) -> None:
    """``movie-director wan2gp generate`` as an artist runs it: a video, or Wan2GP's own reason, never a traceback."""
    prompt = f"contract run {uuid.uuid4().hex[:8]}: a paper boat on a pond"
    done = subprocess.run(
        [sys.executable, "-m", "movie_director.cli", "wan2gp", "generate", "--url", wan2gp_target.url, "--transport", wan2gp_target.probe.transport,
         "--prompt", prompt, "--resolution", "832x480", "--frames", "5", "--seed", "42", "--steps", "2", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=TIMEOUT + 30, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode == 0:
        result = json.loads(done.stdout)
        assert result["files"] and all(Path(path).stat().st_size > 0 for path in result["files"])
        sent = server_side_settings(wan2gp_target, prompt, result["details"])
        record_property("note", "video made")
    else:
        reason = next((line.removeprefix("✗ ") for line in done.stderr.splitlines() if line.startswith("✗ ")), done.stderr)
        assert reason.endswith("[job_failed]"), f"not a failed job but: {reason}"
        sent = server_side_settings(wan2gp_target, prompt, {})
        record_property("note", f"failed as expected without weights: {reason[:120]}")
    if sent is not None:  # the web UI says what reached it, by name
        expected = {"prompt": prompt, "seed": 42, "num_inference_steps": 2, "video_length": 5, "resolution": "832x480"}
        assert {name: sent.get(name) for name in expected} == expected


def test_progress_events(transport: Wan2GPTransport, tmp_path: Path) -> None:
    events: list[Progress] = []
    generate(transport, Wan2GPSettings(prompt="a kite in the wind", num_inference_steps=4, video_length=5), tmp_path, events)
    phases = [PHASES.index(event.phase) for event in events]
    assert phases == sorted(phases), [event.describe() for event in events]
    assert events[0].phase is Phase.CONNECTING
    assert any(event.phase is Phase.RUNNING and event.message for event in events), "the server's own status text reached us"


def test_abort_mid_job(transport: Wan2GPTransport, tmp_path: Path, record_property) -> None:
    running = threading.Event()
    settings = Wan2GPSettings(prompt="a long take", num_inference_steps=40, video_length=5)
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(transport.generate, settings, tmp_path, on_progress=lambda e: e.phase is Phase.RUNNING and running.set(), timeout=TIMEOUT)
        wait_until(lambda: running.is_set() or job.done(), TIMEOUT, message="the generation running")
        asked = time.monotonic()
        if not job.done():
            transport.abort()
        error = job.exception(TIMEOUT)
    if isinstance(error, JobFailed):
        pytest.skip(f"the job failed before the abort could stop it (no weights?): {error.message[:150]}")
    assert running.is_set(), f"the generation ended before it ran: {error or job.result()}"
    assert isinstance(error, JobCancelled), job
    assert not list(tmp_path.glob("*.mp4"))
    record_property("note", f"stopped {time.monotonic() - asked:.1f} s after the abort")


def test_validation_errors_named(transport: Wan2GPTransport, tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting, match="no_such_model") as caught:
        transport.generate(Wan2GPSettings(prompt="x", model="no_such_model"), tmp_path, timeout=60)
    assert caught.value.details.get("field") == "model", caught.value.details
    with pytest.raises(InvalidSetting) as caught:
        transport.generate(Wan2GPSettings(prompt="x", num_inference_steps=0), tmp_path, timeout=60)
    assert caught.value.details["field"] == "num_inference_steps"


def server_side_settings(target: Target, prompt: str, details: Mapping[str, Any]) -> dict[str, Any] | None:
    """The settings the web UI received for ``prompt``, by name; ``None`` for MCP (it does not say)."""
    if target.probe.transport != "webui":
        return None
    if not target.real:
        return stand_in_settings(target.url, str(details["session_hash"]))
    folder = os.environ.get(WAN2GP_UI_DIR_ENV)
    if not folder:
        pytest.skip(f"set {WAN2GP_UI_DIR_ENV} to the web UI's working directory to check the settings it received (error_queue.zip)")
    return error_queue_settings(Path(folder) / "error_queue.zip", prompt)


def stand_in_settings(url: str, session_hash: str) -> dict[str, Any]:
    from gradio_client import Client

    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        client.session_hash = session_hash  # the stand-in keeps the last task per session
        return dict(client.predict(api_name="/_test_last_settings")["settings"])
    finally:
        client.close()


def error_queue_settings(path: Path, prompt: str) -> dict[str, Any]:
    """The task for ``prompt`` in Wan2GP's saved queue (written a few seconds after the failure)."""
    deadline = time.monotonic() + 30
    while True:
        found = _task_in_zip(path, prompt) if path.exists() else None
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"no task with the prompt {prompt!r} in {path}"
        time.sleep(0.5)


def _task_in_zip(path: Path, prompt: str) -> dict[str, Any] | None:
    try:
        with zipfile.ZipFile(path) as archive:
            documents = [json.loads(archive.read(name)) for name in archive.namelist() if name.endswith(".json")]
    except (zipfile.BadZipFile, OSError, ValueError):  # still being written
        return None
    return next((found for document in documents if (found := _with_prompt(document, prompt)) is not None), None)


def _with_prompt(value: Any, prompt: str) -> dict[str, Any] | None:
    if isinstance(value, dict):
        if value.get("prompt") == prompt:
            return value
        value = list(value.values())
    if isinstance(value, list):
        return next((found for item in value if (found := _with_prompt(item, prompt)) is not None), None)
    return None
