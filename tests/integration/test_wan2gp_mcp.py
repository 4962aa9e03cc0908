"""The wan2gp backend's headless transport against real processes.

The Wan2GP MCP stand-in (FastMCP from mcp 1.10.1, the wire of `wgp.py --mcp`), the real
LiteLLM proxy on a neighbouring port, a stateful FastMCP server for the `initialize`
path, and our own client killed mid-job in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from movie_director.check import adhoc_service, check_service
from movie_director.cli import main
from movie_director.configdata import AuthRef, ServiceConfig
from movie_director.discovery import DiscoveryRun
from movie_director.errors import ConnectionRefused, JobCancelled, JobFailed, JobLost, RequestRejected
from movie_director.progress import Phase, Progress
from movie_director_plugins.wan2gp import mcp
from movie_director_plugins.wan2gp.backend import Wan2GPBackend
from movie_director_plugins.wan2gp.mcp import MCPTransport
from movie_director_plugins.wan2gp.mcp_client import MCPClient, endpoint_of
from movie_director_plugins.wan2gp.settings import Wan2GPSettings
from movie_director_testing import envs
from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY
from movie_director_testing.processes import LOOPBACK, ServerProcess, http_ready, wait_until

TIMEOUT = 60.0
PNG = b"\x89PNG\r\n\x1a\n" + b"movie-director-start-frame" + bytes(16)


def transport_for(server: ServerProcess, **options: Any) -> MCPTransport:
    return MCPTransport(adhoc_service(server.url + "/mcp", "wan2gp", transport="mcp", retries=0), **options)


@pytest.fixture
def wan(wan2gp_mcp_server: ServerProcess) -> Iterator[MCPTransport]:
    transport = transport_for(wan2gp_mcp_server)
    yield transport
    transport.close()


class Recorder:
    """Progress events as they arrive, with a hook to act at a given denoising step."""

    def __init__(self, at_step: int | None = None, action: Any = None) -> None:
        self.events: list[Progress] = []
        self.reached = threading.Event()
        self._at_step, self._action = at_step, action

    def __call__(self, event: Progress) -> None:
        self.events.append(event)
        if self._at_step is not None and (event.step or 0) >= self._at_step and not self.reached.is_set():
            self.reached.set()
            if self._action is not None:
                self._action()

    @property
    def steps(self) -> list[int]:
        return [event.step for event in self.events if event.phase is Phase.RUNNING and event.step]


def gallery_item(transport: MCPTransport, gallery_id: str) -> dict[str, Any]:
    return transport.client.call_tool("wangp_get_gallery_item", {"gallery_id": gallery_id})


def test_generate_end_to_end_with_progress_and_the_output_downloaded(wan2gp_mcp_server: ServerProcess, tmp_path: Path) -> None:
    backend = Wan2GPBackend()
    transport = backend.connect(adhoc_service(wan2gp_mcp_server.url + "/mcp", "wan2gp"))  # transport auto → the probe says mcp
    assert isinstance(transport, MCPTransport)
    progress = Recorder()
    submitted: list[str] = []
    settings = Wan2GPSettings(
        prompt="a lighthouse at dusk", negative_prompt="blur", model="t2v_1.3B", resolution="480x832",
        video_length=17, seed=42, num_inference_steps=8, guidance_scale=6.5, extra={"flow_shift": 3.0, "sample_solver": "euler"},
    )
    try:
        result = transport.generate(settings, tmp_path / "out", progress, timeout=TIMEOUT, on_submitted=submitted.append)
        item = gallery_item(transport, result.details["gallery_ids"][0])
    finally:
        transport.close()

    assert submitted == [result.details["job_id"]]
    [video] = result.files
    assert video.parent == tmp_path / "out" and video.suffix == ".mp4"
    assert video.read_bytes()[4:8] == b"ftyp" and video.stat().st_size > 0
    assert progress.steps == list(range(1, 9))
    phases = [event.phase for event in progress.events]
    assert phases[0] is Phase.CONNECTING and phases[-1] is Phase.DONE
    assert phases.index(Phase.QUEUED) < phases.index(Phase.RUNNING) < phases.index(Phase.DOWNLOADING)
    assert progress.events[-2].phase is Phase.DOWNLOADING
    assert any(event.message.startswith("Loading model Wan2.1 Text2video 1.3B") for event in progress.events)
    fractions = [event.fraction for event in progress.events if event.step]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # every setting reached the server as sent
    for name, value in result.sent.items():
        assert item["settings"][name] == value, name
    assert item["settings"]["model_type"] == "t2v_1.3B" and item["settings"]["flow_shift"] == 3.0


def test_the_input_image_is_uploaded_and_used_by_the_server(wan: MCPTransport, tmp_path: Path) -> None:
    image = tmp_path / "start frame.png"
    image.write_bytes(PNG)
    result = wan.generate(Wan2GPSettings(prompt="the frame comes alive", model="i2v", image_start=image, num_inference_steps=3, video_length=9), tmp_path / "out", timeout=TIMEOUT)

    [upload_id] = result.details["uploads"]["image_start"]
    uploaded = gallery_item(wan, upload_id)
    assert uploaded["filename"] == "start frame.png" and uploaded["size"] == len(PNG)
    generated = gallery_item(wan, result.details["gallery_ids"][0])
    assert generated["settings"]["image_start"] == [uploaded["path"]]  # the job read our upload
    assert generated["settings"]["image_prompt_type"] == "S"
    # and the bytes on the server are ours
    back = wan.download(upload_id, tmp_path / "back")
    assert back.read_bytes() == PNG


def test_cancel_mid_job(wan: MCPTransport, tmp_path: Path) -> None:
    progress = Recorder(at_step=5, action=wan.abort)
    with pytest.raises(JobCancelled) as caught:
        wan.generate(Wan2GPSettings(prompt="a long take", num_inference_steps=100, video_length=9), tmp_path, progress, timeout=TIMEOUT)
    assert 5 <= max(progress.steps) < 100
    job = wan.client.call_tool("wangp_get_job", {"job_id": caught.value.details["job_id"], "event_limit": 0})
    assert job["done"] and job["cancel_requested"] and job["result"]["cancelled"]
    assert list(tmp_path.iterdir()) == []
    # the server is free again
    assert wan.generate(Wan2GPSettings(prompt="after the cancel", num_inference_steps=2, video_length=9), tmp_path, timeout=TIMEOUT).files


def test_a_tool_error_surfaces_with_the_servers_message(wan: MCPTransport, tmp_path: Path) -> None:
    with pytest.raises(RequestRejected) as caught:
        wan.generate(Wan2GPSettings(prompt="x", extra={"video_source": "/etc/hosts"}), tmp_path, timeout=TIMEOUT)
    assert caught.value.message.startswith("Wan2GP refused wangp_generate: Direct filesystem paths are disabled for this MCP server.")
    with pytest.raises(RequestRejected, match="Unknown model_type: nope"):
        wan.client.call_tool("wangp_get_default_settings", {"model_type": "nope"})


def test_a_failed_generation_is_a_job_failure_with_the_servers_reason(wan: MCPTransport, tmp_path: Path) -> None:
    with pytest.raises(JobFailed) as caught:
        wan.generate(Wan2GPSettings(prompt="this one will [fail]", num_inference_steps=6, video_length=9), tmp_path, timeout=TIMEOUT)
    assert caught.value.message == "Wan2GP could not finish the generation: Simulated failure at denoising step 3/6"
    assert caught.value.details["errors"][0]["stage"] == "generation"


def test_a_second_generation_waits_while_the_server_is_busy(wan2gp_mcp_server: ServerProcess, tmp_path: Path) -> None:
    first, second = transport_for(wan2gp_mcp_server), transport_for(wan2gp_mcp_server)
    running = Recorder(at_step=1)
    results: dict[str, Any] = {}

    def run_first() -> None:
        results["first"] = first.generate(Wan2GPSettings(prompt="first", num_inference_steps=30, video_length=9), tmp_path / "a", running, timeout=TIMEOUT)

    worker = threading.Thread(target=run_first)
    worker.start()
    try:
        assert running.reached.wait(TIMEOUT)
        waiting = Recorder()
        results["second"] = second.generate(Wan2GPSettings(prompt="second", num_inference_steps=2, video_length=9), tmp_path / "b", waiting, timeout=TIMEOUT)
    finally:
        worker.join(TIMEOUT)
        first.close()
        second.close()
    assert results["first"].files and results["second"].files
    assert any(event.phase is Phase.QUEUED and "busy" in event.message for event in waiting.events)


def test_server_killed_and_restarted_gives_a_typed_error_then_the_next_job_works(backend_servers: Any, tmp_path: Path) -> None:
    server = backend_servers.start("wan2gp_mcp", step_seconds=0.05)
    transport = transport_for(server, reconnect_grace=TIMEOUT)
    progress = Recorder(at_step=3)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            transport.generate(Wan2GPSettings(prompt="interrupted", num_inference_steps=100, video_length=9), tmp_path, progress, timeout=TIMEOUT)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        wait_until(lambda: progress.reached.is_set() or outcome, TIMEOUT, message="job at step 3")
        assert not outcome, outcome
        server.kill()
        wait_until(lambda: any("lost the connection" in event.message for event in progress.events), TIMEOUT, message="connection loss noticed")
        server.start()
        worker.join(TIMEOUT)
    finally:
        server.start()
        worker.join(TIMEOUT)
    assert not worker.is_alive()
    assert isinstance(outcome[0], JobLost), outcome
    assert "restarted" in outcome[0].message
    assert "reconnected to Wan2GP" not in [event.message for event in progress.events]  # the job was gone, not picked up
    # the next job works on the same transport
    result = transport.generate(Wan2GPSettings(prompt="after the restart", num_inference_steps=2, video_length=9), tmp_path, timeout=TIMEOUT)
    assert result.files[0].is_file()
    # a server that stays down: the typed connection error keeps the job id
    progress = Recorder(at_step=2, action=server.kill)
    short = transport_for(server, reconnect_grace=0.5)
    with pytest.raises(ConnectionRefused) as caught:
        short.generate(Wan2GPSettings(prompt="down for good", num_inference_steps=100, video_length=9), tmp_path, progress, timeout=TIMEOUT)
    assert caught.value.details["job_id"]
    transport.close()
    short.close()


CLIENT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from movie_director.check import adhoc_service
    from movie_director_plugins.wan2gp import mcp
    from movie_director_plugins.wan2gp.settings import Wan2GPSettings

    url, mode, argument, out = sys.argv[1:5]
    transport = mcp.connect(adhoc_service(url, "wan2gp", transport="mcp"))

    def say(**data):
        print(json.dumps(data), flush=True)

    def progress(event):
        if event.step:
            say(step=event.step)

    if mode == "generate":
        settings = Wan2GPSettings(prompt=argument, num_inference_steps=60, video_length=9)
        result = transport.generate(settings, Path(out), progress, timeout=120, on_submitted=lambda job_id: say(job_id=job_id))
    else:
        result = transport.resume(argument, Path(out), progress, timeout=120)
    say(result=result.to_dict())
    """
)


def test_our_process_restarted_mid_job_finds_the_job_again_by_id(wan2gp_mcp_server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "client.py"
    script.write_text(CLIENT, encoding="utf-8")
    url = wan2gp_mcp_server.url + "/mcp"
    prompt = f"resumed take {tmp_path.name}"
    first = subprocess.Popen([sys.executable, str(script), url, "generate", prompt, str(tmp_path / "first")], stdout=subprocess.PIPE, text=True)
    lines: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: lines.extend(json.loads(line) for line in first.stdout or ()), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any(line.get("step", 0) >= 3 for line in lines), TIMEOUT, message="first client at step 3")
    finally:
        first.kill()  # SIGKILL: no cleanup, no cancel
        first.wait(TIMEOUT)
    reader.join(TIMEOUT)
    job_id = next(line["job_id"] for line in lines if "job_id" in line)
    assert not (tmp_path / "first").exists() or not any((tmp_path / "first").iterdir())
    with transport_for(wan2gp_mcp_server).client as client:
        assert client.call_tool("wangp_get_job", {"job_id": job_id, "event_limit": 0})["done"] is False  # killed mid-job

    second = subprocess.run([sys.executable, str(script), url, "resume", job_id, str(tmp_path / "second")], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert second.returncode == 0, second.stderr
    output = [json.loads(line) for line in second.stdout.splitlines()]
    assert any("step" in line for line in output)  # the resumed job's progress is reported
    result = output[-1]["result"]
    assert result["details"]["job_id"] == job_id and result["details"]["resumed"] is True
    [video] = [Path(path) for path in result["files"]]
    assert video.parent == tmp_path / "second" and video.read_bytes()[4:8] == b"ftyp"
    # picked up again, not submitted again: the server made this video once
    with transport_for(wan2gp_mcp_server).client as client:
        videos = client.call_tool("wangp_list_gallery", {"media_type": "video", "limit": 500})
    assert sum(1 for item in videos if item["description"] == prompt) == 1


def test_discovery_labels_the_mcp_server_wan2gp_and_the_litellm_proxy_litellm(wan2gp_mcp_server: ServerProcess, litellm_server: ServerProcess) -> None:
    ports = [wan2gp_mcp_server.port, litellm_server.port]
    rows = DiscoveryRun(ports=ports, include_default_ports=False, with_capabilities=True, timeout=5.0).run()
    by_port = {int(row.url.rsplit(":", 1)[-1].split("/", 1)[0]): row for row in rows if row.recognized and row.url.startswith("http://127.0.0.1")}
    assert by_port[wan2gp_mcp_server.port].kind == "wan2gp" and by_port[wan2gp_mcp_server.port].transport == "mcp"
    assert by_port[wan2gp_mcp_server.port].url == wan2gp_mcp_server.url + "/mcp"
    assert {c.id for c in by_port[wan2gp_mcp_server.port].capabilities or ()} == {"t2v", "t2v_1.3B", "i2v", "t2v_fusionix", "flux"}
    assert by_port[litellm_server.port].kind == "litellm"
    # the probe itself says no to the proxy, on both spellings of the URL
    assert mcp.probe(litellm_server.url, 5.0) is None
    assert mcp.probe(litellm_server.url + "/mcp", 5.0) is None
    assert Wan2GPBackend().probe(litellm_server.url, 5.0) is None
    report = check_service(wan2gp_mcp_server.url, timeout=5.0)
    assert (report.ok, report.kind, report.probe.transport if report.probe else "") == (True, "wan2gp", "mcp")
    assert check_service(litellm_server.url, timeout=5.0).kind == "litellm"


def test_the_litellm_mcp_gateway_answers_in_sse_with_no_wangp_tools(litellm_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MD_TEST_LITELLM_MCP_KEY", DEFAULT_MASTER_KEY)
    service = ServiceConfig(name="gateway", kind="wan2gp", url=litellm_server.url, auth=AuthRef(env="MD_TEST_LITELLM_MCP_KEY"), retries=0)
    with MCPClient.for_service(service, endpoint_of(litellm_server.url), "LiteLLM") as client:
        assert client.list_tools() == []  # an SSE answer, read to the JSON-RPC result


def test_cli_generate_and_models_work_on_the_mcp_url(wan2gp_mcp_server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = wan2gp_mcp_server.url + "/mcp"
    code = main(["wan2gp", "generate", "--prompt", "a cli cat", "--url", url, "--steps", "4", "--frames", "17", "--seed", "3", "--out", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["transport"] == "mcp" and Path(result["files"][0]).is_file()
    assert (result["sent"]["num_inference_steps"], result["sent"]["video_length"], result["sent"]["seed"]) == (4, 17, 3)
    assert "running" in captured.err
    assert main(["wan2gp", "models", "--url", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"transport": "mcp", "models": ["t2v", "t2v_1.3B", "i2v", "t2v_fusionix", "flux"]}


STATEFUL_APP = textwrap.dedent(
    """
    import sys
    from mcp.server.fastmcp import FastMCP

    app = FastMCP("WanGP", host="127.0.0.1", port=int(sys.argv[1]), json_response=True, stateless_http=False)

    @app.tool()
    def wangp_echo(text: str) -> dict:
        return {"echo": text}

    app.run(transport="streamable-http")
    """
)


def test_a_stateful_mcp_server_gets_initialize_first(tmp_path: Path) -> None:
    script = tmp_path / "stateful_app.py"
    script.write_text(STATEFUL_APP, encoding="utf-8")
    server = ServerProcess("stateful-mcp", [str(envs.ensure("mcp")), str(script), "{port}"], host=LOOPBACK, cwd=str(tmp_path), ready=http_ready("/mcp/", statuses=(400, 406)))
    with server:
        with MCPClient.for_service(adhoc_service(server.url, "wan2gp", retries=0), endpoint_of(server.url), "Wan2GP") as client:
            assert client.call_tool("wangp_echo", {"text": "hi"}) == {"echo": "hi"}
            assert client.server_info["name"] == "WanGP" and client.protocol_version
        assert mcp.probe(server.url, 5.0) is not None  # a wangp_* tool behind a session is still Wan2GP's
