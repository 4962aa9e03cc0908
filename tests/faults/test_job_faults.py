"""Faults in the middle of a running answer or job, for the backends without a WebSocket.

- LiteLLM streams its answers over HTTP: the link is cut (RST) or goes silent (half-open)
  after the first words; the stream must end with a typed error that keeps the text
  received so far. The proxy's bandwidth limit makes the mock answer last long enough.
- The generic Gradio app and the Wan2GP web UI run jobs through ``gradio_client``: their
  server is crashed mid-job and started again. The job must end with a typed error soon
  after the crash (not after the restart, not never), and the same call must work on the
  restarted server with the same client.

ComfyUI's mid-job faults are in ``test_websocket_faults.py``; real LiteLLM restarts with
work in flight are in the soak.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from movie_director.progress import Phase
from movie_director_testing.faultproxy import FaultProxy
from movie_director_testing.processes import ServerProcess, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def litellm_stream(kit, litellm_server: ServerProcess, litellm_key: str) -> Iterator[tuple[FaultProxy, Any]]:
    """A throttled link to the proxy and the first words of a long streamed answer."""
    from movie_director_plugins.litellm.client import LiteLLMClient

    with FaultProxy(litellm_server.port) as proxy, LiteLLMClient(kit.service(proxy.url, "litellm", timeout=1.0)) as client:
        proxy.set(bandwidth=1500)
        stream = client.stream_chat("Tell me the story.", "mock-story")
        try:
            yield proxy, stream
        finally:
            stream.close()


@pytest.mark.parametrize(("fault", "code"), [("cut", "connection_lost"), ("half_open", "timeout")])
def test_a_stream_broken_after_its_first_words_keeps_them(kit, litellm_stream: tuple[FaultProxy, Any], fault: str, code: str) -> None:
    proxy, stream = litellm_stream
    first = next(stream)
    if fault == "cut":
        assert proxy.cut() == 1
    else:
        proxy.set(half_open_after=0)  # nothing more either way, and no FIN
    outcome = kit.run(lambda: first + "".join(stream), unstick=proxy.close, bound=1.0 + 2.0)
    outcome.expect(code, bound=1.0 + 2.0)
    assert outcome.error.details["partial_text"].startswith(first) and outcome.error.details["model"] == "mock-story"


def crash_mid_job(kit, server: ServerProcess, call: Callable[[Callable[[Any], None]], Any]) -> tuple[Any, float]:
    """Run ``call(on_progress)`` and SIGKILL ``server`` once the job runs; (outcome, seconds from the kill to the end)."""
    running = threading.Event()
    outcome: list[Any] = []

    def on_progress(progress: Any) -> None:
        if progress.phase is Phase.RUNNING:
            running.set()

    worker = threading.Thread(target=lambda: outcome.append(kit.run(lambda: call(on_progress), unstick=server.kill, bound=60)), name="job")
    worker.start()
    try:
        assert running.wait(30), "the job never ran"
        server.kill()
        killed = time.monotonic()
    finally:
        worker.join(90)
    return outcome[0], time.monotonic() - killed


def test_gradio_app_crashed_mid_job_then_restarted(kit, tmp_path: Path) -> None:
    from movie_director_plugins.gradio.backend import GradioBackend
    from movie_director_testing.gradio_apps import launch_gradio_generic

    backend = GradioBackend()
    with launch_gradio_generic(step_seconds=0.2) as server:
        connection = backend.connect(kit.service(server.url, "gradio", timeout=5.0))
        try:
            def generate(on_progress: Callable[[Any], None]) -> Any:
                return connection.call("generate", {"prompt": "a ship", "seed": 1, "steps": 50}, out_dir=tmp_path, on_progress=on_progress, timeout=60)

            outcome, after_kill = crash_mid_job(kit, server, generate)
            outcome.expect("connection_lost", bound=60)
            assert after_kill <= kit.bound, f"the crash was reported {after_kill:.1f} s after it happened"
            server.start()
            result = connection.call("generate", {"prompt": "a ship", "seed": 2, "steps": 1}, out_dir=tmp_path, timeout=60)
            assert result.files and all(path.is_file() for path in result.files)
        finally:
            connection.close()


def test_wan2gp_web_ui_crashed_mid_generation_then_restarted(kit, tmp_path: Path) -> None:
    from movie_director_plugins.wan2gp.backend import Wan2GPBackend
    from movie_director_plugins.wan2gp.settings import Wan2GPSettings
    from movie_director_testing.gradio_apps import launch_wan2gp_webui

    backend = Wan2GPBackend()
    with launch_wan2gp_webui(step_seconds=0.5) as server:
        connection = backend.connect(kit.service(server.url, "wan2gp", timeout=5.0))
        try:
            def generate(on_progress: Callable[[Any], None]) -> Any:
                return backend.generate(connection, Wan2GPSettings(prompt="a ship at dawn", video_length=5), tmp_path, on_progress=on_progress, timeout=60)

            outcome, after_kill = crash_mid_job(kit, server, generate)
            outcome.expect("connection_lost", bound=60)
            assert after_kill <= kit.bound, f"the crash was reported {after_kill:.1f} s after it happened"
            server.start()
            wait_until(lambda: backend.health(connection).ok, 30, message="Wan2GP answers again")
            result = backend.generate(connection, Wan2GPSettings(prompt="a ship at dusk", video_length=5, num_inference_steps=1), tmp_path, timeout=60)
            assert len(result.files) == 1 and result.files[0].is_file()
        finally:
            connection.close()
