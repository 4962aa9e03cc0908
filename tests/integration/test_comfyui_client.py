"""The ComfyUI plugin against the stand-in server process: jobs, faults, outputs, CLI, check."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from movie_director.check import adhoc_service
from movie_director.configdata import AuthRef
from movie_director.errors import AuthenticationFailed, JobCancelled, JobFailed, JobLost, MalformedResponse, TLSFailed, WorkflowInvalid
from movie_director_plugins.comfyui.client import ComfyUIClient
from movie_director_plugins.comfyui.jobs import Job, JobState
from movie_director_plugins.comfyui.outputs import OutputFile
from movie_director_plugins.comfyui.session import SocketState
from movie_director_testing.comfyui_standin.workflows import txt2img
from movie_director_testing.processes import ENDED_BY_CTRL_C, ServerProcess, interruptible, wait_until

pytestmark = pytest.mark.timeout(120)

DEFAULTS = {"node_delay": 0.05, "steps": None, "fail_nodes": [], "refuse_websockets": False}


def simple(prefix: str = "probe", color: int = 0) -> dict[str, Any]:
    """EmptyImage → ImageInvert → SaveImage, as in PROTOCOLS.md."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def control(server: ServerProcess, **settings: Any) -> dict[str, Any]:
    response = requests.post(f"{server.url}/_standin/control", json=settings, timeout=5)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def comfy(comfyui_server: ServerProcess) -> Iterator[ServerProcess]:
    """The shared stand-in, with its knobs reset after each test."""
    yield comfyui_server
    control(comfyui_server, **DEFAULTS)


@pytest.fixture
def client(comfy: ServerProcess) -> Iterator[ComfyUIClient]:
    with ComfyUIClient(adhoc_service(comfy.url, "comfyui")) as comfy_client:
        yield comfy_client


def running(job: Job, timeout: float = 10) -> None:
    wait_until(lambda: job.status is JobState.RUNNING and job.progress.node is not None, timeout, 0.01, message=f"{job} running")


def test_submit_shows_progress_and_downloads_outputs(client: ComfyUIClient, comfy: ServerProcess, tmp_path: Path) -> None:
    control(comfy, node_delay=0.02)
    job = client.submit(txt2img(steps=15, seed=1))
    seen = []
    version = -1
    for _ in range(2000):
        if job.done:
            break
        version = job.wait_for_change(version, 0.02)
        seen.append(job.progress)
    job.wait(30)
    sampling = [p for p in seen if p.node == "3" and p.max == 15 and p.value > 0]
    assert sampling, "per-node steps of the KSampler were reported"
    assert all(p.node_type == "KSampler" for p in sampling)
    assert 0 < sampling[-1].fraction < 1 and sampling[-1].nodes_total == 7
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions), "overall progress never goes back"
    assert client.socket_state is SocketState.OPEN and client.events_mode == "websocket"

    files = job.outputs()
    assert [(f.node_id, f.type) for f in files] == [("9", "output")]
    paths = client.download(files, tmp_path)
    assert paths == [tmp_path.resolve() / files[0].filename]
    data = paths[0].read_bytes()
    assert data.startswith(b"\x89PNG")
    assert data == requests.get(f"{comfy.url}/view", params={"filename": files[0].filename}, timeout=5).content


def test_previews_arrive_as_binary_frames_with_their_prompt(client: ComfyUIClient) -> None:
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 3, "color": 0xFF0000}},
        "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}},
    }
    job = client.submit(graph).wait(30)
    assert job.preview is not None
    image_type, image = job.preview
    assert image_type == "image/png" and image.startswith(b"\x89PNG")
    assert job._preview.prompt_id == job.prompt_id  # noqa: SLF001 - type 4 frames carry the prompt id (feature flags sent)


def test_an_identical_resubmit_is_served_from_cache(client: ComfyUIClient) -> None:
    graph = simple("cached", color=0x123456)
    first = client.submit(graph).wait(30)
    started = time.monotonic()
    second = client.submit(graph).wait(30)
    assert second.prompt_id != first.prompt_id
    assert second.outputs() == first.outputs()
    assert second.progress.nodes_done == 3 and second.progress.fraction == 1.0
    assert time.monotonic() - started < 5


def test_a_repeated_prompt_id_never_runs_twice(client: ComfyUIClient, comfy: ServerProcess) -> None:
    prompt_id = f"replay-{time.time_ns()}"
    job = client.submit(simple("replay"), prompt_id=prompt_id).wait(30)
    with ComfyUIClient(adhoc_service(comfy.url, "comfyui")) as other:  # a new connection, e.g. after Blender restarted
        replayed = other.submit(simple("replay"), prompt_id=prompt_id)
        assert replayed.status is JobState.SUCCEEDED and replayed.outputs() == job.outputs()
    history = requests.get(f"{comfy.url}/history", timeout=5).json()
    assert list(history).count(prompt_id) == 1


def test_a_400_names_the_nodes_and_inputs(client: ComfyUIClient) -> None:
    graph = simple("invalid")
    del graph["1"]["inputs"]["width"]
    graph["1"]["inputs"]["height"] = 0
    with pytest.raises(WorkflowInvalid) as caught:
        client.submit(graph, validate=False)
    error = caught.value
    assert error.details["status"] == 400
    kinds = {problem["type"] for problem in error.node_errors["1"]["errors"]}
    assert {"required_input_missing", "value_smaller_than_min"} <= kinds
    assert "width" in error.message


def test_an_unknown_node_is_refused_before_sending(client: ComfyUIClient) -> None:
    graph = simple("unknown")
    graph["4"] = {"class_type": "NoSuchNode", "inputs": {}}
    with pytest.raises(WorkflowInvalid, match="NoSuchNode is not installed"):
        client.submit(graph)


def test_a_runtime_failure_names_the_node_and_the_exception(client: ComfyUIClient, comfy: ServerProcess) -> None:
    control(comfy, fail_nodes=["ImageInvert"])
    with pytest.raises(JobFailed) as caught:
        client.submit(simple("fails", color=7)).wait(30)
    error = caught.value
    assert error.details["node_id"] == "2" and error.details["node_type"] == "ImageInvert"
    assert error.details["exception_message"] and error.details["exception_message"].strip() in error.message


def test_saving_outside_the_output_folder_fails_on_the_server(client: ComfyUIClient) -> None:
    with pytest.raises(JobFailed, match="outside the output folder"):
        client.submit(simple("../../escape", color=9)).wait(30)


def test_a_traversing_file_name_is_refused_before_download(client: ComfyUIClient, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for file in (OutputFile("3", "../../escape.png"), OutputFile("3", "x.png", subfolder="../../etc"), OutputFile("3", "/etc/passwd")):
        with pytest.raises(MalformedResponse, match="outside the output folder"):
            client.download([file], out)
    assert not any(tmp_path.rglob("*.png")) and not (tmp_path / "escape.png").exists()


def test_cancel_interrupts_a_running_job_and_deletes_a_pending_one(client: ComfyUIClient, comfy: ServerProcess) -> None:
    control(comfy, node_delay=0.1)
    busy = client.submit(txt2img(steps=100, seed=2))
    waiting = client.submit(txt2img(steps=5, seed=3))
    running(busy)
    assert waiting.status is JobState.QUEUED
    waiting.cancel()
    with pytest.raises(JobCancelled):
        waiting.wait(5)
    assert busy.status is JobState.RUNNING
    busy.cancel()
    with pytest.raises(JobCancelled, match="interrupted at node"):
        busy.wait(10)
    assert requests.get(f"{comfy.url}/history/{waiting.prompt_id}", timeout=5).json() == {}, "a deleted prompt never runs"
    assert requests.get(f"{comfy.url}/queue", timeout=5).json() == {"queue_running": [], "queue_pending": []}


def test_a_dropped_socket_does_not_lose_the_job(client: ComfyUIClient, comfy: ServerProcess) -> None:
    control(comfy, node_delay=0.03)
    job = client.submit(txt2img(steps=40, seed=4))
    running(job)
    control(comfy, drop_websockets=True)
    job.wait(30)
    assert job.status is JobState.SUCCEEDED and job.outputs()
    wait_until(lambda: client.socket_state is SocketState.OPEN, 10, message="socket reopened")
    assert client._socket is not None and client._socket.reconnects >= 1  # noqa: SLF001 - the reconnect is the point
    assert client.submit(simple("after-drop")).wait(30).outputs(), "the reopened socket still delivers events"


def test_garbage_on_the_socket_is_tolerated(client: ComfyUIClient, comfy: ServerProcess) -> None:
    control(comfy, node_delay=0.03)
    job = client.submit(txt2img(steps=20, seed=5))
    running(job)
    control(comfy, send_garbage=True)
    assert job.wait(30).status is JobState.SUCCEEDED


def test_without_websockets_the_client_polls(comfy: ServerProcess, tmp_path: Path) -> None:
    control(comfy, refuse_websockets=True)
    with ComfyUIClient(adhoc_service(comfy.url, "comfyui")) as client:
        job = client.submit(txt2img(steps=5, seed=6))
        assert client.events_mode == "polling"
        assert client.socket_error is not None and client.socket_error.details["handshake_status"] == 403
        job.wait(30)
        assert client.download(job.outputs(), tmp_path)[0].read_bytes().startswith(b"\x89PNG")


def test_the_api_prefixed_routes_work_too(comfy: ServerProcess) -> None:
    with ComfyUIClient(adhoc_service(f"{comfy.url}/api", "comfyui")) as client:
        assert client.submit(simple("api-prefix", color=11)).wait(30).outputs()
        assert client.socket_state is SocketState.OPEN


def test_uploaded_images_can_be_loaded_and_bad_ones_fail_at_run_time(client: ComfyUIClient, tmp_path: Path) -> None:
    source = client.download(client.submit(simple("to-upload", color=13)).wait(30).outputs(), tmp_path)[0]
    uploaded = client.upload(source, f"shot-{time.time_ns()}.png", subfolder="movie-director")
    load = {
        "1": {"class_type": "LoadImage", "inputs": {"image": uploaded.reference}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loaded"}},
    }
    assert client.submit(load).wait(30).outputs()
    corrupt = client.upload(b"this is not an image", f"corrupt-{time.time_ns()}.png")
    load["1"]["inputs"]["image"] = corrupt.reference
    with pytest.raises(JobFailed, match="cannot identify image file") as caught:
        client.submit(load).wait(30)
    assert caught.value.details["node_type"] == "LoadImage"


def test_a_restart_mid_job_ends_it_as_lost_never_hanging(backend_servers: Any) -> None:
    server = backend_servers.start("comfyui", node_delay=0.1)
    with ComfyUIClient(adhoc_service(server.url, "comfyui")) as client:
        job = client.submit(txt2img(steps=200, seed=7))
        running(job)
        server.kill()
        server.start()
        started = time.monotonic()
        with pytest.raises(JobLost, match="no longer knows"):
            job.wait(30)
        assert time.monotonic() - started < 15
        wait_until(lambda: client.socket_state is SocketState.OPEN, 15, message="socket back after the restart")
        assert client.submit(simple("after-restart")).wait(30).outputs(), "the same client works after the restart"


def test_a_job_finished_while_disconnected_is_recovered_from_history(backend_servers: Any) -> None:
    server = backend_servers.start("comfyui", node_delay=0.02)
    with ComfyUIClient(adhoc_service(server.url, "comfyui")) as client:
        job = client.submit(txt2img(steps=25, seed=8))
        running(job)
        client._socket.recycle()  # noqa: SLF001 - cut our side: events of the gap are lost
        assert job.wait(30).status is JobState.SUCCEEDED
        assert job.outputs()


# -- remote ComfyUI behind a TLS reverse proxy that wants a bearer token ---------------------


class TlsAuthProxy:
    """A tiny reverse proxy on loopback: TLS outside, a bearer token checked on each connection's first request, plain TCP to ComfyUI."""

    def __init__(self, upstream_port: int, certfile: Path, keyfile: Path, token: str) -> None:
        self.upstream_port = upstream_port
        self.token = token
        self.refused = 0
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certfile, keyfile)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self._spawn(self._serve, raw)

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
        except (OSError, ssl.SSLError):
            raw.close()
            return
        if f"authorization: bearer {self.token}".encode() not in head.lower():
            self.refused += 1
            client.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        upstream.settimeout(None)
        upstream.sendall(head)
        self._spawn(self._pipe, upstream, client)
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, used as the custom CA bundle."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "proxy.pem", tmp_path / "proxy.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_behind_a_tls_reverse_proxy_with_a_bearer_token(comfy: ServerProcess, certificate: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate
    monkeypatch.setenv("MD_TEST_PROXY_TOKEN", "proxy-s3cret-token")
    proxy = TlsAuthProxy(comfy.port, cert, key, "proxy-s3cret-token")
    try:
        service = adhoc_service(proxy.url, "comfyui", auth=AuthRef("MD_TEST_PROXY_TOKEN"), ca_bundle=str(cert), retries=0)
        with ComfyUIClient(service) as client:
            job = client.submit(txt2img(steps=3, seed=12, prefix="tls"))
            assert client.events_mode == "websocket" and client.socket_state is SocketState.OPEN, "wss handshake carried the token"
            assert client.download(job.wait(30).outputs(), tmp_path)[0].read_bytes().startswith(b"\x89PNG")
        assert proxy.refused == 0
        with ComfyUIClient(adhoc_service(proxy.url, "comfyui", ca_bundle=str(cert), retries=0)) as anonymous, pytest.raises(AuthenticationFailed):
            anonymous.system_stats()
        with ComfyUIClient(adhoc_service(proxy.url, "comfyui", auth=AuthRef("MD_TEST_PROXY_TOKEN"), retries=0)) as untrusting, pytest.raises(TLSFailed):
            untrusting.system_stats()
    finally:
        proxy.close()


# -- command line ---------------------------------------------------------------------------


def cli(*args: str, timeout: float = 60, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "movie_director.cli", *args], capture_output=True, text=True, timeout=timeout, check=False, **popen)


def test_cli_run_writes_outputs_and_prints_json(comfy: ServerProcess, tmp_path: Path) -> None:
    workflow = tmp_path / "wf_api.json"
    workflow.write_text(json.dumps(txt2img(steps=4, seed=9, prefix="cli")), encoding="utf-8")
    result = cli("comfyui", "run", str(workflow), "--url", comfy.url, "--out", str(tmp_path / "out"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["status"] == "succeeded"
    path = Path(report["outputs"][0]["path"])
    assert path.parent == (tmp_path / "out").resolve() and path.read_bytes().startswith(b"\x89PNG")
    assert "node" in result.stderr and "KSampler" in result.stderr, "per-node progress goes to stderr"

    plain = cli("comfyui", "run", str(workflow), "--url", comfy.url, "--out", str(tmp_path / "plain"))
    assert plain.returncode == 0 and Path(plain.stdout.strip()).is_file()


def test_cli_reports_a_failed_job_as_json(comfy: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from movie_director.cli import main

    control(comfy, fail_nodes=["ImageInvert"])
    workflow = tmp_path / "wf_api.json"
    workflow.write_text(json.dumps(simple("cli-fails", color=17)), encoding="utf-8")
    assert main(["comfyui", "run", str(workflow), "--url", comfy.url, "--json", "--timeout", "30"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and report["error"]["code"] == "job_failed" and report["error"]["details"]["node_type"] == "ImageInvert"


def test_cli_refuses_a_ui_workflow_with_the_export_hint(comfy: ServerProcess, tmp_path: Path) -> None:
    workflow = tmp_path / "workflow.json"
    workflow.write_text(json.dumps({"last_node_id": 1, "nodes": [], "links": []}), encoding="utf-8")
    result = cli("comfyui", "run", str(workflow), "--url", comfy.url)
    assert result.returncode == 2  # bad input (docs/cli.md), refused before anything is sent
    assert "UI workflow" in result.stderr and "Export (API)" in result.stderr and "workflow_invalid" in result.stderr


def test_cli_ctrl_c_interrupts_the_job_on_the_server(comfy: ServerProcess, tmp_path: Path) -> None:
    control(comfy, node_delay=0.1)
    workflow = tmp_path / "long_api.json"
    workflow.write_text(json.dumps(txt2img(steps=300, seed=10)), encoding="utf-8")
    prompt_id = f"ctrl-c-{time.time_ns()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "movie_director.cli", "comfyui", "run", str(workflow), "--url", comfy.url, "--prompt-id", prompt_id, "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        wait_until(lambda: requests.get(f"{comfy.url}/_standin/state", timeout=5).json()["running"] == [prompt_id], 30, message="job running")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
    assert process.returncode == ENDED_BY_CTRL_C, stderr
    assert "Interrupting job" in stderr
    entry = requests.get(f"{comfy.url}/history/{prompt_id}", timeout=5).json()[prompt_id]
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


def test_check_reports_comfyui_with_its_version(comfy: ServerProcess) -> None:
    result = cli("check", comfy.url, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "comfyui" and report["version"] == "0.3.64"
    assert report["health"]["metrics"]["vram_total"] > 0
    assert {"image.generate", "comfyui.node"} <= {capability["name"] for capability in report["capabilities"]}


def test_check_says_a_gradio_app_is_not_comfyui(gradio_server: ServerProcess) -> None:
    result = cli("check", gradio_server.url, "--kind", "comfyui", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and not report["ok"]  # something answers: the check failed, the port is not unreachable (docs/cli.md)
    assert report["error"]["code"] == "wrong_service" and "not ComfyUI" in report["error"]["message"]
    anything = json.loads(cli("check", gradio_server.url, "--json").stdout)
    assert anything["kind"] != "comfyui"
