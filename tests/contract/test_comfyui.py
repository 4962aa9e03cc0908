"""ComfyUI scenarios: the same for our stand-in and a real ComfyUI (``MOVIE_DIRECTOR_REAL_COMFYUI``).

Graphs use only nodes every ComfyUI has and need no model: EmptyImage, ImageBlur,
ImageInvert, SaveImage. The slow graph is a chain of blurs on a large image, so an
interrupt lands while a node runs (ComfyUI's interrupt is cooperative: the running node
finishes, the next one stops).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from movie_director.check import adhoc_service
from movie_director.configdata import Config
from movie_director.errors import JobCancelled, WorkflowInvalid
from movie_director.manager import ServiceManager
from movie_director.plugins import get_plugin_manager
from movie_director_plugins.comfyui.backend import ComfyUIBackend
from movie_director_plugins.comfyui.client import ComfyUIClient
from movie_director_plugins.comfyui.jobs import Job, JobState
from movie_director_testing.processes import wait_until

pytestmark = pytest.mark.timeout(300)


def unique(prefix: str) -> str:
    """A file prefix no earlier run used."""
    return f"contract/{prefix}-{uuid.uuid4().hex[:8]}"


def fresh_color() -> int:
    """A colour no earlier run used: ComfyUI caches nodes whose inputs it has seen, and would not run them."""
    return uuid.uuid4().int % 0x1000000


def invert(prefix: str, size: int = 64) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1, "color": fresh_color()}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": unique(prefix)}},
    }


def blur_chain(prefix: str, blurs: int, size: int) -> dict[str, Any]:
    """EmptyImage → ``blurs`` × ImageBlur → SaveImage: slow on a real CPU, one node at a time."""
    graph: dict[str, Any] = {"1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1, "color": fresh_color()}}}
    for n in range(blurs):
        graph[str(n + 10)] = {"class_type": "ImageBlur", "inputs": {"image": [str(n + 9) if n else "1", 0], "blur_radius": 15, "sigma": 4.0}}
    graph["2"] = {"class_type": "SaveImage", "inputs": {"images": [str(blurs + 9), 0], "filename_prefix": unique(prefix)}}
    return graph


@pytest.fixture
def client(comfyui_target) -> Iterator[ComfyUIClient]:
    with ComfyUIClient(adhoc_service(comfyui_target.url, "comfyui")) as comfy:
        yield comfy


def test_probe_version_capabilities(comfyui_target, client: ComfyUIClient, record_property) -> None:
    probe = comfyui_target.probe
    assert probe.kind == "comfyui" and probe.version, probe
    capabilities = ComfyUIBackend().capabilities(client)
    nodes = {capability.id for capability in capabilities if capability.name == "comfyui.node"}
    assert {"EmptyImage", "ImageBlur", "ImageInvert", "SaveImage"} <= nodes
    assert ComfyUIBackend().health(client).ok
    record_property("note", f"{len(nodes)} node classes")


def test_job_end_to_end(client: ComfyUIClient, tmp_path: Path) -> None:
    job = client.submit(invert("e2e")).wait(120)
    assert job.status is JobState.SUCCEEDED
    (output,) = job.outputs()
    (path,) = client.download([output], tmp_path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_progress_events(client: ComfyUIClient) -> None:
    job = client.submit(blur_chain("progress", blurs=3, size=256))
    seen = watch(job, 120)
    nodes = [p.node for p in seen if p.node]
    assert {"10", "11", "12"} <= set(nodes), nodes
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions), "overall progress never goes back"
    assert job.status is JobState.SUCCEEDED and job.progress.fraction == 1.0


def test_interrupt_mid_job(client: ComfyUIClient, comfyui_target, record_property) -> None:
    job = client.submit(blur_chain("interrupt", blurs=12, size=1024))
    wait_until(lambda: job.progress.node in {"10", "11"} or job.done, 120, 0.01, message="the first blur running")
    assert not job.done, "the slow graph ended before it could be interrupted"
    running = job.progress.node
    job.cancel()
    with pytest.raises(JobCancelled):
        job.wait(120)
    entry = wait_until(  # ComfyUI writes the history entry just after it sends the event
        lambda: requests.get(f"{comfyui_target.url}/history/{job.prompt_id}", timeout=10).json().get(job.prompt_id), 30, 0.05, message="the history entry"
    )
    event, data = entry["status"]["messages"][-1]
    assert (entry["status"]["status_str"], event) == ("error", "execution_interrupted"), entry["status"]
    # cooperative: the node running at the interrupt finished; the next one was stopped at its start
    assert running in data["executed"] and data["node_id"] not in data["executed"], data
    record_property("note", f"node {running} finished, stopped at node {data['node_id']}")


def test_validation_errors_named(client: ComfyUIClient) -> None:
    """ComfyUI's 400 ``node_errors`` come back per node, with the input each problem is about."""
    graph = invert("invalid")
    graph["1"]["inputs"]["width"] = 0
    graph["4"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": unique("invalid")}}  # a second output, its images missing
    with pytest.raises(WorkflowInvalid) as caught:
        client.submit(graph, validate=False)
    error = caught.value
    named = {node: {(problem["type"], problem["extra_info"].get("input_name")) for problem in entry["errors"]} for node, entry in error.node_errors.items()}
    assert error.details["status"] == 400 and ("value_smaller_than_min", "width") in named.get("1", set()), named
    assert ("required_input_missing", "images") in named.get("4", set()), named
    assert "width" in error.message and "images" in error.message


def test_restart_mid_queue_replays_exactly_once(comfyui_target, tmp_path: Path, record_property) -> None:
    """Submitted while ComfyUI is down, replayed once each, in order, when it is back (default settings)."""
    restart = comfyui_target.restarter()
    service = adhoc_service(comfyui_target.url, "comfyui")
    config = Config({"comfyui": service}, "Local", ("Local",), None, tmp_path)
    with ServiceManager(config, get_plugin_manager()) as manager:
        wait_until(lambda: manager.snapshot().service("comfyui").state == "connected", 60, message="connected")
        restart.down()
        run = uuid.uuid4().hex[:8]
        keys = [f"contract-{run}-{n}" for n in range(5)]
        handles = [manager.submit("comfyui", "comfyui.submit", {"workflow": invert(f"replay-{n}", 8)}, idempotency_key=key) for n, key in enumerate(keys)]
        wait_until(lambda: all(handle.state.value == "queued" for handle in handles), 60, 0.02, message="the operations waiting in our queue")
        restart.up()
        back = time.monotonic()
        assert [handle.wait(180)["prompt_id"] for handle in handles] == keys
        replayed_after = time.monotonic() - back
        attempts = [handle.operation().attempts for handle in handles]

    def ours_in_history() -> dict[str, float] | None:  # the prompts run after their POST was answered
        history = requests.get(f"{comfyui_target.url}/history", timeout=10).json()
        ours = {prompt_id: entry["prompt"][0] for prompt_id, entry in history.items() if prompt_id in keys}
        return ours if len(ours) == len(keys) else None

    numbers = wait_until(ours_in_history, 120, 0.1, message="the replayed prompts in the history")
    first = numbers[keys[0]]
    # the restarted server counts every POST /prompt from 0: consecutive numbers mean no duplicate was sent between
    assert [numbers[key] for key in keys] == [first + n for n in range(len(keys))], "sent once each, in submission order"
    record_property("note", f"{len(keys)} submitted while down, replayed {replayed_after:.1f} s after it answered (attempts {attempts})")


def watch(job: Job, timeout: float) -> list[Any]:
    """Every progress snapshot of ``job`` until it ends."""
    seen = []
    version = -1
    deadline = time.monotonic() + timeout
    while not job.done and time.monotonic() < deadline:
        version = job.wait_for_change(version, 0.05)
        seen.append(job.progress)
    job.wait(1)
    seen.append(job.progress)
    return seen
