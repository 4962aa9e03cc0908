"""The demo's pure parts: its workflow, its throw-away configuration, how an act reports a failure."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from movie_director import cli
from movie_director.cli import demo, main
from movie_director.discovery import DiscoveryResult
from movie_director.errors import JobFailed, MovieDirectorError, ServiceError, SettingsError
from movie_director_testing import envs
from movie_director_testing.processes import free_port

SAMPLER_NODES = ("CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode")


def object_info(checkpoints: list[str], nodes: tuple[str, ...] = SAMPLER_NODES) -> dict:
    info = {name: {"input": {"required": {}}} for name in nodes}
    if "CheckpointLoaderSimple" in info:
        info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = [checkpoints, {}]
    return info


def test_the_workflow_is_the_image_chain_plus_a_sampler_chain_only_with_a_checkpoint():
    plain = demo.demo_workflow("p", seed=1)
    assert [plain[key]["class_type"] for key in sorted(plain)] == ["EmptyImage", "ImageInvert", "SaveImage"]
    assert plain["2"]["inputs"]["image"] == ["1", 0] and plain["3"]["inputs"]["images"] == ["2", 0]

    sampled = demo.demo_workflow("p", seed=1, checkpoint="model.safetensors")
    assert {node["class_type"] for node in sampled.values()} >= {"KSampler", "VAEDecode", "CheckpointLoaderSimple"}
    assert sampled["8"]["inputs"]["steps"] == demo.SAMPLER_STEPS and sampled["4"]["inputs"]["ckpt_name"] == "model.safetensors"
    prefixes = {node["inputs"]["filename_prefix"] for node in sampled.values() if node["class_type"] == "SaveImage"}
    assert prefixes == {"p-inverted", "p-sampled"}


def test_two_seeds_never_share_a_cached_result():
    first, second = demo.demo_workflow("a", seed=101), demo.demo_workflow("a", seed=102)
    assert first["1"]["inputs"]["color"] != second["1"]["inputs"]["color"]
    assert all(0 <= workflow["1"]["inputs"]["color"] <= 0xFFFFFF for workflow in (first, second))


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (object_info(["sd15.safetensors", "other.safetensors"]), "sd15.safetensors"),
        (object_info([]), None),
        (object_info(["sd15.safetensors"], nodes=("CheckpointLoaderSimple", "KSampler")), None),  # no VAEDecode etc.
    ],
)
def test_first_checkpoint(info, expected):
    assert demo.first_checkpoint(info) == expected


def found(kind: str, port: int, transport: str) -> DiscoveryResult:
    return DiscoveryResult(kind=kind, url=f"http://127.0.0.1:{port}", transport=transport)


def test_the_demo_config_holds_only_what_was_found_and_never_reads_the_artists(tmp_path, monkeypatch):
    broken = tmp_path / "artist.yaml"
    broken.write_text("services: [not a mapping\n", encoding="utf-8")
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(broken))
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("MOVIE_DIRECTOR_DATA_DIR", str(tmp_path / "artist-data"))
    results = {"comfyui": found("comfyui", 5001, "http+websocket"), "wan2gp": found("wan2gp", 5002, "webui"), "litellm": found("litellm", 5003, "http")}

    config = demo.demo_config(tmp_path, results, "sk-demo-secret")

    assert sorted(config.services) == sorted(demo.KINDS)
    assert {name: service.url for name, service in config.services.items()} == {name: result.url for name, result in results.items()}
    assert config.data_dir == tmp_path / "data" and config.file == tmp_path / "demo-config.json"
    assert config.service("wan2gp").transport == "webui"
    assert config.service("litellm").auth is not None and config.service("litellm").auth.env == demo.KEY_ENV
    assert all(service.health_interval == 1 and service.retries == 0 for service in config.services.values())
    assert "sk-demo-secret" not in (tmp_path / "demo-config.json").read_text(encoding="utf-8")


def test_exported_restores_the_previous_value(monkeypatch):
    monkeypatch.setenv("MD_TEST_EXPORTED", "before")
    with demo.exported("MD_TEST_EXPORTED", "during"):
        assert os.environ["MD_TEST_EXPORTED"] == "during"
    assert os.environ["MD_TEST_EXPORTED"] == "before"
    monkeypatch.delenv("MD_TEST_EXPORTED")
    with demo.exported("MD_TEST_EXPORTED", "during"):
        pass
    assert "MD_TEST_EXPORTED" not in os.environ


def test_an_act_names_itself_when_it_fails_and_raises_a_typed_error():
    stream = io.StringIO()
    console = demo.Console(stream)
    with pytest.raises(MovieDirectorError) as raised, console.act(2):
        raise ValueError("boom")
    assert isinstance(raised.value, ServiceError) and "boom" in raised.value.message
    with pytest.raises(JobFailed), console.act(4):
        raise JobFailed("The job failed.")
    text = stream.getvalue()
    assert "Act 2/6 · Discover them" in text and "✗ Act 2 (Discover them) failed." in text
    assert "✗ Act 4 (One job on each backend) failed." in text


def test_the_report_is_json_ready():
    report = demo.DemoReport(mode="embedded", jobs={"comfyui": {"files": ["a.png"]}}, timings_s={"total": 1.0})
    assert report.to_dict()["ok"] is True and report.to_dict()["jobs"]["comfyui"]["files"] == ["a.png"]


def test_missing_server_environments_stop_the_demo_before_anything_starts(monkeypatch):
    monkeypatch.setattr(envs, "is_built", lambda name: name != "litellm")
    with pytest.raises(SettingsError) as raised:
        demo.check_server_envs()
    assert "(litellm)" in raised.value.message
    assert raised.value.fix is not None and raised.value.fix.command == "python -m movie_director_testing.envs build litellm"
    monkeypatch.setattr(envs, "is_built", lambda name: True)
    demo.check_server_envs()


def test_without_the_test_support_installed_the_demo_says_how_to_install_it(monkeypatch, capsys):
    """The package artists install has no stand-ins: ``movie-director demo`` names the distribution that does."""
    monkeypatch.delitem(sys.modules, "movie_director.cli.demo")
    monkeypatch.delattr(cli, "demo")  # imported afresh, as in an install without the test support
    for name in [name for name in sys.modules if name.partition(".")[0] == "movie_director_testing"]:
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["demo", "--out", "unused"]) == 1
    err = capsys.readouterr().err
    assert "needs the test support (movie-director-testing)" in err and "pip install -e ./testing" in err


class FakeServer:
    """What the demo uses of a ServerProcess, without a process."""

    def __init__(self, kind: str, log_dir: Path) -> None:
        self.name, self.host, self.port = kind, "127.0.0.1", free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = str(log_dir / f"{kind}.log")
        Path(self.log_path).write_text("log", encoding="utf-8")
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def fake_launches(tmp_path, monkeypatch):
    """Launchers that return FakeServers; the LiteLLM one waits for ``gate`` (or raises ``failures[kind]``)."""
    servers: dict[str, FakeServer] = {}
    failures: dict[str, Exception] = {}
    gate = threading.Event()

    def launch(kind: str, workdir: Path, key: str) -> FakeServer:
        if kind == "litellm":
            assert gate.wait(10)
        if kind in failures:
            raise failures[kind]
        servers[kind] = FakeServer(kind, tmp_path)
        return servers[kind]

    monkeypatch.setattr(demo, "_launch", launch)
    monkeypatch.setattr(demo, "check_server_envs", lambda: None)
    monkeypatch.setattr(demo, "START_NOTICE_EVERY", 0.05)
    return servers, failures, gate


def test_backends_start_in_parallel_and_are_all_stopped_with_their_logs(fake_launches, tmp_path):
    servers, _, gate = fake_launches
    stream = io.StringIO()
    console = demo.Console(stream)
    with ExitStack() as stack:
        threading.Timer(0.3, gate.set).start()
        backends = demo.start_local_backends(console, stack, tmp_path)
        assert sorted(backends.servers) == sorted(demo.KINDS) and backends.litellm_key.startswith("sk-demo-")
        assert not any(server.stopped for server in servers.values())
    assert all(server.stopped and not Path(server.log_path).exists() for server in servers.values())
    text = stream.getvalue()
    assert "… still starting: LiteLLM proxy (mock answers)" in text
    assert f"✓ ComfyUI stand-in ready at {servers['comfyui'].url}" in text and "✓ stopped everything the demo started" in text


def test_a_backend_that_fails_to_start_is_reported_with_its_log_and_the_others_are_stopped(fake_launches, tmp_path):
    servers, failures, gate = fake_launches
    failures["wan2gp"] = RuntimeError("wan2gp-webui did not start on port 1 (exited with code 1):\nImportError: gradio\nlast line")
    gate.set()
    stream = io.StringIO()
    with pytest.raises(ServiceError) as raised, ExitStack() as stack:
        demo.start_local_backends(demo.Console(stream), stack, tmp_path)
    assert raised.value.message == "The Wan2GP web UI (Gradio 5.29) did not start: wan2gp-webui did not start on port 1 (exited with code 1):"
    assert "  | ImportError: gradio\n  | last line" in stream.getvalue()
    assert sorted(servers) == ["comfyui", "litellm"] and all(server.stopped for server in servers.values())


def test_ctrl_c_and_sigterm_end_the_command_with_130(monkeypatch, capsys):
    def interrupted(options, stream):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "run", interrupted)
    assert main(["demo"]) == 130
    assert "Interrupted: everything the demo started has been stopped." in capsys.readouterr().err

    def terminated(options, stream):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this at once
        raise AssertionError("SIGTERM did not interrupt the demo")

    monkeypatch.setattr(demo, "run", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["demo"]) == 130
    assert signal.getsignal(signal.SIGTERM) is before
