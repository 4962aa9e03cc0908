"""The wan2gp backend's web-UI transport against the Wan2GP stand-in (a real Gradio 5.29 app).

The stand-in's test-only `/_test_last_settings` tells what the session's queued task
carried, so every setting is proven to reach the server, not only built.
"""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
import threading
import time
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from movie_director.check import adhoc_service
from movie_director.cli import main
from movie_director.errors import ConnectionLost, InvalidSetting, JobCancelled, JobFailed, UnsupportedVersion
from movie_director.progress import Phase, Progress
from movie_director_plugins.gradio.backend import GradioBackend
from movie_director_plugins.wan2gp.backend import Wan2GPBackend
from movie_director_plugins.wan2gp.settings import Wan2GPSettings
from movie_director_plugins.wan2gp.webui import WebUITransport, connect
from movie_director_testing.gradio_apps import launch_wan2gp_webui
from movie_director_testing.processes import ServerProcess, interruptible, wait_until

SAMPLE_VIDEO = Path(__file__).parents[2] / "testing" / "movie_director_testing" / "apps" / "tiny.mp4"
PHASE_ORDER = list(Phase)


def png(path: Path, rgb: tuple[int, int, int] = (200, 30, 60), size: int = 8) -> Path:
    """A real PNG without PIL (Gradio checks that uploaded images open)."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(b"\x00\x01" * 800)
    return path


def session_call(url: str, session_hash: str, endpoint: str, *args: Any) -> Any:
    """Call a stand-in endpoint inside the session our generate used (its gr.State lives there).

    The session's old heartbeat closes up to 15 s after our generate returned, and Gradio
    then drops whatever that session has in flight: a call caught by it is made again.
    """
    from gradio_client import Client

    def attempt() -> list[Any]:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        try:
            client.session_hash = session_hash
            return [client.predict(*args, api_name=endpoint)]
        finally:
            client.close()

    return wait_until(attempt, 40, interval=0.5, message=f"{endpoint} answered in session {session_hash}")[0]


def control(url: str, **changes: Any) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False, analytics_enabled=False)
    try:
        client.predict(json.dumps(changes), api_name="/_test_control")
    finally:
        client.close()


@pytest.fixture
def webui(wan2gp_webui_server: ServerProcess) -> Iterator[WebUITransport]:
    transport = connect(adhoc_service(wan2gp_webui_server.url, "wan2gp"))
    yield transport
    transport.close()


@pytest.fixture
def slow_or_failing(wan2gp_webui_server: ServerProcess) -> Iterator[Any]:
    """Change the shared stand-in's simulation for one test, and put it back."""
    yield lambda **changes: control(wan2gp_webui_server.url, **changes)
    control(wan2gp_webui_server.url, step_seconds=0.08, fail_at_step=None)


def non_daemon_threads(besides: frozenset[threading.Thread] | set[threading.Thread] = frozenset()) -> list[threading.Thread]:
    """Threads that would hold up interpreter exit, other than ``besides`` (those other tests left running)."""
    return [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread() and t not in besides]


def test_probe_tells_wan2gp_from_other_gradio_apps(wan2gp_webui_server: ServerProcess, gradio_server: ServerProcess) -> None:
    found = Wan2GPBackend().probe(wan2gp_webui_server.url, 5)
    assert found is not None and (found.kind, found.transport, found.version) == ("wan2gp", "webui", "12.60")
    assert found.details["gradio_version"].startswith("5.29")
    assert Wan2GPBackend().probe(gradio_server.url, 5) is None
    generic = GradioBackend().probe(gradio_server.url, 5)
    assert generic is not None and generic.kind == "gradio"


def test_every_setting_reaches_the_server(webui: WebUITransport, wan2gp_webui_server: ServerProcess, tmp_path: Path) -> None:
    media = {
        "image_start": png(tmp_path / "start.png"),
        "image_end": png(tmp_path / "end.png", (0, 0, 255)),
        "image_refs": [png(tmp_path / "ref1.png"), png(tmp_path / "ref2.png")],
        "video_guide": SAMPLE_VIDEO,
        "audio_guide": wav(tmp_path / "voice.wav"),
    }
    settings = Wan2GPSettings(
        prompt="a red fox in the snow",
        negative_prompt="blurry, text",
        resolution="480x832",
        video_length=33,
        seed=1234,
        num_inference_steps=12,
        guidance_scale=7.5,
        model="t2v_fusionix",
        extra={"flow_shift": 3.0, "sample_solver": "euler"},
        **media,
    )
    result = webui.generate(settings, tmp_path / "out", timeout=60)

    assert len(result.files) == 1 and result.files[0].parent == tmp_path / "out"
    assert result.files[0].read_bytes() == SAMPLE_VIDEO.read_bytes()
    last = session_call(wan2gp_webui_server.url, result.details["session_hash"], "/_test_last_settings")
    assert last["model_type"] == "t2v_fusionix"
    sent = last["settings"]
    expected = {
        "prompt": "a red fox in the snow",
        "negative_prompt": "blurry, text",
        "resolution": "480x832",
        "video_length": 33,
        "seed": 1234,
        "num_inference_steps": 12,
        "guidance_scale": 7.5,
        "flow_shift": 3.0,
        "sample_solver": "euler",
        "image_prompt_type": "SE",
        "video_prompt_type": "VI",
        "audio_prompt_type": "A",
    }
    assert {name: sent[name] for name in expected} == expected
    uploaded = json.dumps({name: sent[name] for name in media})
    for name in ("start.png", "end.png", "ref1.png", "ref2.png", "tiny.mp4", "voice.wav"):
        assert name in uploaded, f"{name} did not reach the server: {uploaded}"
    assert len(sent["image_refs"]) == 2
    # everything we did not set stayed at the server's default
    assert (sent["sliding_window_size"], sent["speakers_locations"], sent["top_k"]) == (129, "0:45 55:100", 50)


def test_progress_comes_in_order(webui: WebUITransport, tmp_path: Path) -> None:
    events: list[Progress] = []
    webui.generate(Wan2GPSettings(prompt="a boat", num_inference_steps=6), tmp_path, on_progress=events.append, timeout=60)
    phases = [PHASE_ORDER.index(event.phase) for event in events]
    assert phases == sorted(phases), [e.describe() for e in events]
    assert {Phase.CONNECTING, Phase.RUNNING, Phase.DOWNLOADING, Phase.DONE} <= {e.phase for e in events}
    steps = [e.step for e in events if e.phase is Phase.RUNNING and e.step is not None]
    assert steps and steps == sorted(steps) and all(e.total == 6 for e in events if e.step is not None and e.phase is Phase.RUNNING)
    assert any("Loading model" in e.message for e in events)


def test_abort_mid_job_stops_it_on_the_server(
    webui: WebUITransport, wan2gp_webui_server: ServerProcess, slow_or_failing: Any, tmp_path: Path
) -> None:
    slow_or_failing(step_seconds=0.5)
    running = threading.Event()
    outcome: dict[str, BaseException] = {}

    def on_progress(event: Progress) -> None:
        if event.phase is Phase.RUNNING and event.step:
            running.set()

    def work() -> None:
        try:
            webui.generate(Wan2GPSettings(prompt="a long one", num_inference_steps=30), tmp_path, on_progress=on_progress, timeout=60)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert running.wait(20), "the generation never started"
    started = time.monotonic()
    webui.abort()
    thread.join(20)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), JobCancelled), outcome
    assert time.monotonic() - started < 10
    assert not list(tmp_path.glob("*.mp4"))
    status = session_call(wan2gp_webui_server.url, outcome["error"].details["session_hash"], "/finalize_generation")
    assert "Aborted" in status[4]


def test_clear_queue_leaves_the_running_task(webui: WebUITransport, slow_or_failing: Any, tmp_path: Path) -> None:
    slow_or_failing(step_seconds=0.2)
    running = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = webui.generate(Wan2GPSettings(prompt="kept", num_inference_steps=6), tmp_path, on_progress=lambda e: e.step and running.set(), timeout=60)
        except BaseException as error:  # noqa: BLE001
            outcome["error"] = error

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert running.wait(20)
    webui.clear_queue()
    thread.join(30)
    assert "error" not in outcome, outcome
    assert outcome["result"].files


def test_gr_error_is_surfaced_with_the_apps_message(webui: WebUITransport, slow_or_failing: Any, tmp_path: Path) -> None:
    slow_or_failing(fail_at_step=2)
    with pytest.raises(JobFailed) as caught:
        webui.generate(Wan2GPSettings(prompt="doomed", num_inference_steps=6), tmp_path, timeout=60)
    assert "An error happened while denoising step" in caught.value.message
    assert caught.value.details["app_message"].startswith("An error happened")


def test_invalid_settings_are_refused_before_sending(webui: WebUITransport, tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting) as caught:
        webui.generate(Wan2GPSettings(prompt="x", resolution="1280x720"), tmp_path, timeout=30)
    assert caught.value.details["field"] == "resolution" and "832x480" in caught.value.details["allowed"]
    with pytest.raises(InvalidSetting, match="not a model"):
        webui.generate(Wan2GPSettings(prompt="x", model="nope"), tmp_path, timeout=30)
    with pytest.raises(InvalidSetting, match="flow_shift"):
        webui.generate(Wan2GPSettings(prompt="x", extra={"flow_shfit": 2}), tmp_path, timeout=30)


def test_cli_check_reports_wan2gp_webui(wan2gp_webui_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", wan2gp_webui_server.url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["kind"], report["transport"], report["version"]) == ("wan2gp", "webui", "12.60")
    assert report["probe"]["details"]["gradio_version"].startswith("5.29")
    assert {c["id"] for c in report["capabilities"]} == {"t2v", "moviigen", "t2v_fusionix", "t2v_sf"}


def test_cli_generate(wan2gp_webui_server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["wan2gp", "generate", "--prompt", "a cli cat", "--url", wan2gp_webui_server.url, "--steps", "4", "--frames", "17", "--seed", "3", "--out", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert Path(result["files"][0]).is_file()
    assert (result["sent"]["num_inference_steps"], result["sent"]["video_length"], result["sent"]["seed"]) == (4, 17, 3)
    assert "running" in captured.err


def test_cli_models_and_plain_output(wan2gp_webui_server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wan2gp", "models", "--url", wan2gp_webui_server.url]) == 0
    assert capsys.readouterr().out.split() == ["t2v", "moviigen", "t2v_fusionix", "t2v_sf"]
    assert main(["wan2gp", "generate", "--prompt", "plain", "--url", wan2gp_webui_server.url, "--steps", "2", "--out", str(tmp_path), "--transport", "webui"]) == 0
    assert Path(capsys.readouterr().out.strip()).parent == tmp_path
    assert main(["wan2gp", "generate", "--prompt", "x", "--url", wan2gp_webui_server.url, "--set", "flow_shfit=2"]) == 2
    assert "flow_shift" in capsys.readouterr().err


def test_cli_ctrl_c_aborts_on_the_server(wan2gp_webui_server: ServerProcess, slow_or_failing: Any, tmp_path: Path) -> None:
    slow_or_failing(step_seconds=0.5)  # 30 steps would take 3 s more than the abort
    argv = [sys.executable, "-m", "movie_director.cli", "wan2gp", "generate", "--prompt", "stop me", "--steps", "30", "--url", wan2gp_webui_server.url, "--out", str(tmp_path)]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=interruptible)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        wait_until(lambda: any("steps" in line for line in lines), 40, message="generation running")
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 130
    finally:
        process.kill()
    reader.join(5)
    assert any("Aborted: Wan2GP was told to stop" in line for line in lines), lines
    assert not list(tmp_path.glob("*.mp4"))


def test_unsupported_version_is_refused_clearly(backend_servers: Any, tmp_path: Path) -> None:
    server = backend_servers.start("wan2gp_webui", no_save_inputs=True)
    assert Wan2GPBackend().probe(server.url, 5) is not None  # still Wan2GP, only older
    transport = connect(adhoc_service(server.url, "wan2gp"))
    try:
        with pytest.raises(UnsupportedVersion) as caught:
            transport.generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    finally:
        transport.close()
    error = caught.value
    assert "save_inputs" in error.message
    assert any("headless" in hint for hint in error.hints) and error.fix is not None and error.fix.value == "mcp"


@pytest.fixture(scope="module")
def shifted_server() -> Iterator[ServerProcess]:
    """A private stand-in whose `_N` suffixes are all moved (and that we may kill)."""
    server = launch_wan2gp_webui(suffix_shift=3, step_seconds=0.25)
    try:
        yield server
    finally:
        server.stop()


def test_generate_runs_through_the_hidden_textboxs_change_event(webui: WebUITransport) -> None:
    """As on the real 12.60: click → init_generate (5 inputs) → hidden textbox → change → the
    .then() chain; the parallel add-to-queue chain (no process_tasks) is not the one taken."""
    app = webui.gradio.app()
    chain = webui.chain()
    assert chain.steps[0].api_name == "init_generate" and chain.save_inputs.api_name == "save_inputs_16"
    assert chain.add_tasks.api_name == "process_prompt_and_add_tasks_1"  # the one without suffix only queues
    assert [step.base_name for step in chain.steps[-3:]] == ["finalize_generation", "lambda", "unload_model_if_needed"]
    init = app.dependency(chain.steps[0].fn_index)
    assert len(init["inputs"]) == 5 and init["outputs"]
    assert [chain.steps[1].fn_index] == [d["id"] for d in app.config["dependencies"] if [init["outputs"][0], "change"] in d["targets"]]
    assert app.by_base_name("update_status") and all(step.base_name != "update_status" for step in chain.steps)


def test_chain_is_found_whatever_the_suffixes(shifted_server: ServerProcess, tmp_path: Path) -> None:
    transport = connect(adhoc_service(shifted_server.url, "wan2gp"))
    try:
        chain = transport.chain()
        assert chain.save_inputs.api_name == "save_inputs_19"
        assert chain.process.api_name == "process_tasks_3"
        assert chain.steps[0].api_name == "init_generate_3"  # the Generate button's, not a legacy or post-processing click
        assert chain.add_tasks.api_name == "process_prompt_and_add_tasks_4"  # _3 is "Add New Prompt To Queue"
        result = transport.generate(Wan2GPSettings(prompt="shifted", num_inference_steps=2), tmp_path, timeout=60)
        assert result.files
    finally:
        transport.close()


def test_server_killed_mid_job_then_restarted(shifted_server: ServerProcess, tmp_path: Path) -> None:
    earlier = set(non_daemon_threads())
    transport = connect(adhoc_service(shifted_server.url, "wan2gp"))
    running = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        started = time.monotonic()
        try:
            transport.generate(
                Wan2GPSettings(prompt="killed", num_inference_steps=30),
                tmp_path,
                on_progress=lambda e: e.step and running.set(),
                timeout=30,
            )
        except BaseException as error:  # noqa: BLE001
            outcome["error"] = error
        outcome["elapsed"] = time.monotonic() - started

    try:
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        assert running.wait(30)
        shifted_server.kill()
        thread.join(15)
        assert not thread.is_alive(), "generate hung after the server died"
        assert isinstance(outcome.get("error"), ConnectionLost), outcome
        assert "went away" in outcome["error"].message
        assert outcome["elapsed"] < 30
        wait_until(lambda: not non_daemon_threads(earlier), 10, message="gradio_client threads gone")

        shifted_server.start()
        result = transport.generate(Wan2GPSettings(prompt="after restart", num_inference_steps=2), tmp_path, timeout=60)
        assert result.files and result.files[0].stat().st_size > 0
    finally:
        transport.close()
