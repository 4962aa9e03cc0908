"""The generic `gradio` backend and its transport against a real Gradio 6 app."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from movie_director.check import adhoc_service
from movie_director.cli import main
from movie_director.errors import InvalidSetting, JobCancelled, JobFailed, NotFound, OperationTimeout
from movie_director.progress import Phase, Progress
from movie_director_plugins.gradio.backend import GradioBackend, GradioConnection
from movie_director_testing.processes import ServerProcess, wait_until

SAMPLE_VIDEO = Path(__file__).parents[2] / "testing" / "movie_director_testing" / "apps" / "tiny.mp4"
#: An 8x8 PNG of one dark blue-grey colour.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGPgEpHDihiGlgQA2BMPAcCS07QAAAAASUVORK5CYII=")


@pytest.fixture
def connection(gradio_server: ServerProcess) -> Iterator[GradioConnection]:
    connection = GradioBackend().connect(adhoc_service(gradio_server.url, "gradio"))
    yield connection
    connection.close()


def test_probe_reports_gradio_version(gradio_server: ServerProcess) -> None:
    found = GradioBackend().probe(gradio_server.url, 5)
    assert found is not None
    assert (found.kind, found.version.split(".")[0], found.details["api_prefix"]) == ("gradio", "6", "/gradio_api")


def test_endpoints_are_capabilities(connection: GradioConnection) -> None:
    capabilities = {c.id: c for c in GradioBackend().capabilities(connection)}
    assert set(capabilities) == {"generate", "echo", "caption", "invert"}
    parameters = {p["name"]: p for p in capabilities["generate"].details["parameters"]}
    assert parameters["prompt"]["required"] and parameters["seed"]["default"] == 42
    assert capabilities["invert"].details["parameters"][0]["file"] == "file"
    assert GradioBackend().health(connection).ok


def test_call_by_name_copies_result_files(connection: GradioConnection, tmp_path: Path) -> None:
    events: list[Progress] = []
    result = connection.call("generate", {"prompt": "a cat", "seed": 7, "steps": 3}, out_dir=tmp_path, on_progress=events.append, timeout=30)
    (video,) = result.files
    assert video.parent == tmp_path and video.read_bytes() == SAMPLE_VIDEO.read_bytes()
    assert result.data == (str(video), {"prompt": "a cat", "seed": 7, "steps": 3})
    steps = [e.step for e in events if e.phase is Phase.RUNNING and e.step is not None]
    assert steps and steps == sorted(steps)
    assert all(e.total == 3 and e.unit == "steps" for e in events if e.step is not None and e.phase is Phase.RUNNING)
    assert events[-1].phase is Phase.DONE


def test_file_parameters_are_uploaded(connection: GradioConnection, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(PNG)
    result = connection.call("invert", {"image": source}, out_dir=tmp_path / "out", timeout=30)
    (inverted,) = result.files
    assert inverted.suffix == ".png" and inverted.stat().st_size > 0 and inverted.read_bytes() != source.read_bytes()


def test_app_errors_keep_the_apps_message(connection: GradioConnection) -> None:
    with pytest.raises(JobFailed) as caught:
        connection.call("generate", {"prompt": "boom"}, timeout=30)
    assert "boom: bad prompt" in caught.value.message


def test_unknown_endpoint_and_missing_argument(connection: GradioConnection) -> None:
    with pytest.raises(NotFound) as caught:
        connection.call("generat", {"prompt": "x"}, timeout=30)
    assert "generate" in caught.value.details["close_matches"]
    with pytest.raises(InvalidSetting, match="prompt"):
        connection.call("generate", {"seed": 1}, timeout=30)
    with pytest.raises(InvalidSetting, match="steps"):
        connection.call("generate", {"prompt": "x", "stpes": 1}, timeout=30)


def test_cancel_hits_only_its_own_job(connection: GradioConnection, tmp_path: Path) -> None:
    """Gradio's cancel scope is (session, event): with one session per job it cannot reach a neighbour."""
    transport = connection.transport
    app = transport.app()
    generate = app.endpoint("generate")
    with transport.open_session([generate]) as first, transport.open_session([generate]) as second:
        running = first.submit(generate, {"prompt": "keeps going", "steps": 20})
        queued = second.submit(generate, {"prompt": "cancelled", "steps": 20})
        wait_until(lambda: second.wait_idle(0) is False and queued.status().code.value in ("IN_QUEUE", "PROCESSING", "PROGRESS"), 10)
        second.cancel()
        with pytest.raises(JobCancelled):
            second.wait(queued, generate, time.monotonic() + 10)
        outputs = first.wait(running, generate, time.monotonic() + 30)
    assert outputs[1]["prompt"] == "keeps going"


def test_timeout_cancels_and_leaves_no_thread(connection: GradioConnection) -> None:
    before = set(threading.enumerate())  # other tests' threads are not this call's to clean up
    started = time.monotonic()
    with pytest.raises(OperationTimeout):
        connection.call("generate", {"prompt": "slow", "steps": 200}, timeout=0.5)
    assert time.monotonic() - started < 5
    wait_until(lambda: not [t for t in threading.enumerate() if not t.daemon and t not in before], 10, message="threads gone")


def test_a_job_that_never_resolves_does_not_block_exit(gradio_server: ServerProcess) -> None:
    script = textwrap.dedent(
        f"""
        from movie_director.check import adhoc_service
        from movie_director.errors import OperationTimeout
        from movie_director_plugins.gradio.backend import GradioBackend
        connection = GradioBackend().connect(adhoc_service({gradio_server.url!r}, "gradio"))
        try:
            connection.call("generate", {{"prompt": "endless", "steps": 100000}}, timeout=1)
        except OperationTimeout:
            print("timed out")
        """
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "timed out" in done.stdout
    assert time.monotonic() - started < 20


def test_cli_endpoints_and_call(gradio_server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradio", "endpoints", gradio_server.url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in listed["endpoints"]} == {"generate", "echo", "caption", "invert"}
    assert main(["gradio", "call", gradio_server.url, "generate", "prompt=a dog", "steps=2", "seed=5", "--out", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    called = json.loads(captured.out)
    assert called["data"][1] == {"prompt": "a dog", "seed": 5, "steps": 2}
    assert Path(called["files"][0]).is_file()
    assert "running" in captured.err
    assert main(["gradio", "call", gradio_server.url, "echo", "text=42"]) == 0
    assert capsys.readouterr().out.strip() == '"42"'


def test_a_number_typed_as_a_whole_number_reaches_the_app_as_an_int(gradio_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    """`words` is a gr.Number the app slices with: it must get 2, as gradio_client would send it, not 2.0."""
    gradio_client = pytest.importorskip("gradio_client")
    expected = gradio_client.Client(gradio_server.url, verbose=False).predict("hello big wide world", 2, api_name="/caption")
    assert expected == "HELLO BIG"
    assert main(["gradio", "call", gradio_server.url, "caption", "text=hello big wide world", "words=2"]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    assert main(["gradio", "call", gradio_server.url, "caption", "text=hello big wide world", "words=abc"]) != 0
    refused = capsys.readouterr().err
    assert "'words' on /caption takes a number" in refused and "Traceback" not in refused
    assert main(["gradio", "call", gradio_server.url, "generate", "prompt=a cat", "steps=2.5"]) != 0  # steps: precision=0, an int
    assert "'steps' on /generate takes a whole number" in capsys.readouterr().err


def test_an_app_added_in_the_config_file_by_name(
    gradio_server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"services": {"voices": {"kind": "gradio", "url": gradio_server.url}}}), encoding="utf-8")
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(config))
    assert main(["gradio", "endpoints", "voices"]) == 0
    listing = capsys.readouterr().out
    assert "/generate  prompt: str, seed: int = 42, steps: int = 6" in listing and "/invert    image: file" in listing
    assert main(["gradio", "call", "voices", "generate", "prompt=a bird", "steps=1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert Path(printed[0]).parent == tmp_path and '"prompt": "a bird"' in "\n".join(printed)


def test_cli_check_reports_gradio(gradio_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", gradio_server.url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "gradio" and report["version"].startswith("6.")
    assert {c["id"] for c in report["capabilities"]} == {"generate", "echo", "caption", "invert"}


def test_concurrent_calls_share_one_transport(connection: GradioConnection) -> None:
    results: list[str] = []
    threads = [threading.Thread(target=lambda n=n: results.append(connection.call("echo", {"text": f"t{n}"}, timeout=30).data)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["t0", "t1", "t2", "t3"]
