"""The ComfyUI client and backend over HTTP (``responses``): probe, routes, error mapping, idempotent submit."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http.client import RemoteDisconnected
from typing import Any

import pytest
import requests
import responses
from urllib3.exceptions import ProtocolError

from movie_director.check import adhoc_service
from movie_director.configdata import AuthRef
from movie_director.errors import (
    AuthenticationFailed,
    ConnectionLost,
    ConnectionRefused,
    JobLost,
    MalformedResponse,
    PermissionDenied,
    ServiceError,
    WorkflowInvalid,
    WrongService,
)
from movie_director_plugins.comfyui.backend import ComfyUIBackend
from movie_director_plugins.comfyui.client import ComfyUIClient, parse_queue, split_api_root
from movie_director_plugins.comfyui.jobs import JobState

URL = "http://127.0.0.1:8188"


PID = "my-own-id-3"
STATS = {
    "system": {"os": "posix", "ram_total": 25276518400, "ram_free": 20000000000, "comfyui_version": "0.3.64", "python_version": "3.11.7", "pytorch_version": "2.9.1+cu128"},
    "devices": [{"name": "cuda:0 NVIDIA", "type": "cuda", "index": 0, "vram_total": 8000, "vram_free": 6000}, {"name": "cuda:1", "vram_total": 2000, "vram_free": 1000}],
}
OBJECT_INFO = {
    "EmptyImage": {"input": {"required": {"width": ["INT", {"min": 1, "max": 16384}], "height": ["INT", {}]}}, "output": ["IMAGE"], "output_node": False, "category": "image"},
    "SaveImage": {"input": {"required": {"images": ["IMAGE", {}]}}, "output": [], "output_node": True, "category": "image"},
    "KSampler": {"input": {"required": {"steps": ["INT", {"default": 20, "min": 1, "max": 10000}]}}, "output": ["LATENT"], "category": "sampling"},
    "CheckpointLoaderSimple": {"input": {"required": {}}, "output": ["MODEL", "CLIP", "VAE"], "category": "loaders"},
    "EmptyLatentImage": {"input": {"required": {"width": ["INT", {"min": 16, "max": 16384}], "height": ["INT", {"min": 16, "max": 16384}]}}, "output": ["LATENT"]},
    "SaveVideo": {"input": {"required": {"video": ["VIDEO", {}]}}, "output": [], "output_node": True, "category": "image/video"},
}
GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
}


def cut_midway() -> requests.ConnectionError:
    """What requests raises when the server closes the connection before answering (urllib3's "Connection aborted.")."""
    return requests.ConnectionError(ProtocolError("Connection aborted.", RemoteDisconnected("Remote end closed connection without response")))


@pytest.fixture
def client() -> Iterator[ComfyUIClient]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{URL}/system_stats", json=STATS)
        mock.get(f"{URL}/object_info", json=OBJECT_INFO)
        comfy = ComfyUIClient(adhoc_service(URL, "comfyui", transport="polling", retries=0), poll_interval=60)
        comfy.mock = mock  # type: ignore[attr-defined]
        try:
            yield comfy
        finally:
            comfy.close()


def mock_of(client: ComfyUIClient) -> responses.RequestsMock:
    return client.mock  # type: ignore[attr-defined]


def calls(client: ComfyUIClient, method: str, path: str) -> list[Any]:
    return [call for call in mock_of(client).calls if call.request.method == method and call.request.path_url.split("?")[0] == path]


def queue_body(running: list[str] = (), pending: list[tuple[float, str]] = (), client_id: str = "someone") -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "queue_running": [[0, pid, GRAPH, {"client_id": client_id}, ["2"]] for pid in running],
        "queue_pending": [[number, pid, GRAPH, {"client_id": client_id}, ["2"]] for number, pid in pending],
    }


# -- probe -----------------------------------------------------------------------------


@responses.activate
def test_probe_recognises_comfyui_by_the_shape_of_system_stats() -> None:
    responses.get(f"{URL}/system_stats", json=STATS)
    result = ComfyUIBackend().probe(URL, 2.0)
    assert result is not None
    assert (result.kind, result.url, result.version) == ("comfyui", URL, "0.3.64")
    assert result.details["api_prefix"] == "" and result.details["vram_total"] == 10000 and result.details["vram_free"] == 7000
    assert result.details["device_names"] == ["cuda:0 NVIDIA", "cuda:1"]


@responses.activate
def test_probe_finds_the_api_prefix_when_only_it_is_routed() -> None:
    responses.get(f"{URL}/system_stats", status=404)
    responses.get(f"{URL}/api/system_stats", json=STATS)
    result = ComfyUIBackend().probe(URL, 2.0)
    assert result is not None and result.url == f"{URL}/api" and result.details["api_prefix"] == "/api"
    assert ComfyUIBackend().probe(f"{URL}/api/", 2.0).url == f"{URL}/api"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 404, "json": {"detail": "Not Found"}},  # a Gradio app
        {"status": 200, "body": "<!doctype html><html><body>SPA</body></html>", "content_type": "text/html"},
        {"status": 200, "json": {"status": "ok", "version": "1.0"}},  # a JSON API of another kind
        {"status": 200, "json": {"system": {}, "devices": []}},  # shaped like it, but empty
        {"status": 401, "json": {"error": "auth"}},  # a proxy wanting credentials
    ],
)
@responses.activate
def test_probe_says_no_to_other_programs(answer: dict[str, Any]) -> None:
    responses.add(responses.GET, re.compile(rf"{re.escape(URL)}(/api)?/system_stats"), **answer)
    assert ComfyUIBackend().probe(URL, 2.0) is None


@responses.activate
def test_probe_of_a_closed_port_raises_connection_refused() -> None:
    with pytest.raises(ConnectionRefused) as caught:
        ComfyUIBackend().probe(URL, 1.0)
    assert "python main.py --listen" in caught.value.hints[0]


def test_backend_identity() -> None:
    backend = ComfyUIBackend()
    assert (backend.kind, backend.critical, backend.pool_max, backend.pool_min, backend.health_interval) == ("comfyui", True, 5, 1, 30.0)
    assert backend.default_ports == (8188, 8189, 8190, 8080) and backend.probe_priority > 0


# -- routes ----------------------------------------------------------------------------


def test_split_api_root() -> None:
    assert split_api_root("http://h:8188/") == ("http://h:8188", None)
    assert split_api_root("https://h/comfy/api") == ("https://h/comfy", "/api")


def test_queue_is_sorted_by_number_and_junk_is_skipped() -> None:
    snapshot = parse_queue({"queue_running": [[1, "run", {}, {"client_id": "c"}, []], "junk"], "queue_pending": [[-12, "384f"], [11, "my-own-id-3"], [10, "6844"], [5]]})
    assert [item.prompt_id for item in snapshot.pending] == ["384f", "6844", "my-own-id-3"]
    assert snapshot.running[0].client_id == "c" and snapshot.depth == 4
    assert snapshot.position("my-own-id-3") == 2 and snapshot.is_running("run") and snapshot.find("nope") is None
    with pytest.raises(MalformedResponse):
        parse_queue(["not", "a", "queue"])


def test_routes_use_the_detected_prefix(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.replace(responses.GET, f"{URL}/system_stats", status=404)
    mock.get(f"{URL}/api/system_stats", json=STATS)
    mock.get(f"{URL}/api/history/{PID}", json={})
    assert client.api_prefix == "/api"
    assert client.history(PID) is None


@responses.activate
def test_a_url_ending_in_api_pins_the_prefix_without_asking() -> None:
    responses.get(f"{URL}/api/queue", json=queue_body(running=["a"]))
    with ComfyUIClient(adhoc_service(f"{URL}/api", "comfyui", transport="polling")) as comfy:
        assert comfy.queue().running[0].prompt_id == "a"
    assert len(responses.calls) == 1


@responses.activate
def test_something_else_on_the_port_is_wrong_service() -> None:
    responses.add(responses.GET, re.compile(rf"{re.escape(URL)}(/api)?/system_stats"), status=404)
    with ComfyUIClient(adhoc_service(URL, "comfyui", transport="polling")) as comfy, pytest.raises(WrongService):
        comfy.queue()


def test_history_models_embeddings(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.get(f"{URL}/history/{PID}", json={PID: {"outputs": {}, "status": {"status_str": "success"}}})
    mock.get(f"{URL}/models", status=404)
    mock.get(f"{URL}/embeddings", json=["easynegative"])
    mock.get(f"{URL}/models/checkpoints", json=["sd15.safetensors"])
    assert client.history(PID) == {"outputs": {}, "status": {"status_str": "success"}}
    assert client.models() == [] and client.embeddings() == ["easynegative"] and client.model_files("checkpoints") == ["sd15.safetensors"]


def test_malformed_system_stats(client: ComfyUIClient) -> None:
    client.api_prefix  # noqa: B018 - detect with the good answer first
    mock_of(client).replace(responses.GET, f"{URL}/system_stats", json={"hello": 1})
    with pytest.raises(MalformedResponse, match="JSON of another shape"):
        client.system_stats()


def test_interrupt_and_delete_bodies(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.post(f"{URL}/interrupt")
    mock.post(f"{URL}/queue")
    client.interrupt(PID)
    client.interrupt()
    client.delete_queued([PID])
    interrupts = calls(client, "POST", "/interrupt")
    assert json.loads(interrupts[0].request.body) == {"prompt_id": PID} and interrupts[1].request.body is None
    assert json.loads(calls(client, "POST", "/queue")[0].request.body) == {"delete": [PID]}


@responses.activate
def test_auth_header_from_the_environment_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MD_TEST_COMFY_KEY", "user:pa55word")
    responses.get("https://gpu.example.test/system_stats", json=STATS)
    service = adhoc_service("https://gpu.example.test", "comfyui", transport="polling", auth=AuthRef("MD_TEST_COMFY_KEY", type="basic"))
    with ComfyUIClient(service) as comfy:
        comfy.system_stats()
        assert "pa55word" not in repr(comfy.http)
    assert responses.calls[0].request.headers["Authorization"] == "Basic dXNlcjpwYTU1d29yZA=="


# -- submit ----------------------------------------------------------------------------


def test_submit_posts_graph_client_id_and_a_prompt_id(client: ComfyUIClient) -> None:
    mock_of(client).post(f"{URL}/prompt", json={"prompt_id": "x", "number": 4, "node_errors": {}})
    job = client.submit(GRAPH, extra_data={"extra_pnginfo": {"workflow": {}}}, front=True)
    body = json.loads(calls(client, "POST", "/prompt")[0].request.body)
    assert body["prompt"] == GRAPH and body["client_id"] == client.client_id and body["prompt_id"] == job.prompt_id
    assert body["extra_data"] == {"extra_pnginfo": {"workflow": {}}} and body["front"] is True
    assert job.status is JobState.QUEUED and job.number == 4
    assert client.job(job.prompt_id) is job


def test_a_400_carries_comfyuis_message_and_node_errors(client: ComfyUIClient) -> None:
    node_errors = {"1": {"errors": [{"type": "value_smaller_than_min", "message": "Value 0 smaller than min of 1", "details": "width", "extra_info": {"input_name": "width"}}], "dependent_outputs": ["2"], "class_type": "EmptyImage"}}
    body = {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": node_errors}
    mock_of(client).post(f"{URL}/prompt", status=400, json=body)
    with pytest.raises(WorkflowInvalid) as caught:
        client.submit(GRAPH, prompt_id=None)
    assert caught.value.node_errors == node_errors
    assert "Prompt outputs failed validation" in caught.value.message and "Value 0 smaller than min of 1: width" in caught.value.message
    assert caught.value.code == "workflow_invalid"
    assert client.tracker.active() == []


@pytest.mark.parametrize(
    ("answer", "error", "text"),
    [
        ({"status": 500, "body": "500 Internal Server Error\n\nServer got itself in trouble", "content_type": "text/plain"}, ServiceError, "Server got itself in trouble"),
        ({"status": 401, "body": ""}, AuthenticationFailed, "HTTP 401"),
        ({"status": 403, "body": ""}, PermissionDenied, "HTTP 403"),
        ({"status": 200, "body": "<html>proxy page</html>", "content_type": "text/html"}, MalformedResponse, "web page"),
    ],
)
def test_other_prompt_failures_are_typed(client: ComfyUIClient, answer: dict[str, Any], error: type[Exception], text: str) -> None:
    mock_of(client).post(f"{URL}/prompt", **answer)
    with pytest.raises(error, match=text):
        client.submit(GRAPH)


def test_unknown_nodes_are_refused_before_sending_after_one_refresh(client: ComfyUIClient) -> None:
    graph = {**GRAPH, "3": {"class_type": "NoSuchNode", "inputs": {}}}
    with pytest.raises(WorkflowInvalid, match="NoSuchNode is not installed"):
        client.submit(graph)
    assert len(calls(client, "GET", "/object_info")) == 2, "fetched, then refreshed once for the unknown class"
    assert calls(client, "POST", "/prompt") == []


def test_a_ui_workflow_is_refused_without_any_request(client: ComfyUIClient) -> None:
    with pytest.raises(WorkflowInvalid, match="UI workflow"):
        client.submit({"nodes": [], "links": [], "last_node_id": 0})
    assert list(mock_of(client).calls) == []


def test_no_node_list_means_no_local_check(client: ComfyUIClient) -> None:
    mock_of(client).replace(responses.GET, f"{URL}/object_info", status=404)
    mock_of(client).post(f"{URL}/prompt", json={"prompt_id": "x", "number": 1})
    assert client.submit({"1": {"class_type": "Anything", "inputs": {}}}).status is JobState.QUEUED


def test_validation_can_be_skipped(client: ComfyUIClient) -> None:
    mock_of(client).post(f"{URL}/prompt", json={"prompt_id": "x", "number": 1})
    client.submit({"1": {"class_type": "NoSuchNode", "inputs": {}}}, validate=False)
    assert calls(client, "GET", "/object_info") == []


@pytest.mark.parametrize(
    ("queue", "history", "state"),
    [
        (queue_body(pending=[(3, PID)]), {}, JobState.QUEUED),
        (queue_body(running=[PID]), {}, JobState.RUNNING),
        (queue_body(), {PID: {"outputs": {"2": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}}, "status": {"status_str": "success", "completed": True}}}, JobState.SUCCEEDED),
    ],
)
def test_a_known_prompt_id_is_picked_up_not_posted_again(client: ComfyUIClient, queue: dict[str, Any], history: dict[str, Any], state: JobState) -> None:
    mock = mock_of(client)
    mock.get(f"{URL}/queue", json=queue)
    mock.get(f"{URL}/history/{PID}", json=history)
    job = client.submit(GRAPH, prompt_id=PID)
    assert job.status is state and job.prompt_id == PID
    assert calls(client, "POST", "/prompt") == []
    assert client.submit(GRAPH, prompt_id=PID) is job


def test_an_unknown_prompt_id_is_posted_once(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.get(f"{URL}/queue", json=queue_body())
    mock.get(f"{URL}/history/{PID}", json={})
    mock.post(f"{URL}/prompt", json={"prompt_id": PID, "number": 2, "node_errors": {}})
    job = client.submit(GRAPH, prompt_id=PID)
    again = client.submit(GRAPH, prompt_id=PID)
    assert again is job
    posted = calls(client, "POST", "/prompt")
    assert len(posted) == 1 and json.loads(posted[0].request.body)["prompt_id"] == PID


def test_a_post_cut_midway_is_looked_up_before_raising(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.post(f"{URL}/prompt", body=cut_midway())
    mock.get(f"{URL}/queue", json=queue_body())  # the look-up before sending: unknown
    mock.get(f"{URL}/queue", json=queue_body(pending=[(1, PID)], client_id=client.client_id))  # after the cut: it arrived
    mock.get(f"{URL}/history/{PID}", json={})
    job = client.submit(GRAPH, prompt_id=PID)
    assert job.status is JobState.QUEUED and job.prompt_id == PID
    assert len(calls(client, "POST", "/prompt")) == 1


def test_a_post_cut_before_reaching_the_server_raises_and_forgets(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.post(f"{URL}/prompt", body=cut_midway())
    mock.get(f"{URL}/queue", json=queue_body())
    mock.get(re.compile(rf"{re.escape(URL)}/history/.*"), json={})
    with pytest.raises(ConnectionLost):
        client.submit(GRAPH)
    assert client.tracker.active() == []


def test_attach_follows_a_prompt_queued_elsewhere(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.get(f"{URL}/queue", json=queue_body(running=[PID]))
    job = client.attach(PID)
    assert job.status is JobState.RUNNING and job.graph == GRAPH and not job.bound
    assert client.attach(PID) is job
    mock.replace(responses.GET, f"{URL}/queue", json=queue_body())
    mock.get(f"{URL}/history/gone", json={})
    with pytest.raises(JobLost):
        client.attach("gone")


def test_a_closed_client_refuses_work(client: ComfyUIClient) -> None:
    client.close()
    assert not client.is_usable() and not ComfyUIBackend().is_usable(client)
    with pytest.raises(ConnectionLost, match="closed"):
        client.submit(GRAPH)
    client.close()


# -- health and capabilities -------------------------------------------------------------


def test_health_reports_latency_queue_depth_and_vram(client: ComfyUIClient) -> None:
    mock_of(client).get(f"{URL}/queue", json=queue_body(running=["a"], pending=[(1, "b"), (2, "c")]))
    sample = ComfyUIBackend().health(client)
    assert sample.ok and sample.version == "0.3.64" and sample.latency_ms > 0
    assert sample.metrics["queue_depth"] == 3 and sample.metrics["queue_running"] == 1 and sample.metrics["queue_pending"] == 2
    assert sample.metrics["vram_free"] == 7000 and sample.metrics["vram_total"] == 10000 and sample.metrics["ram_total"] == 25276518400


def test_capabilities_from_nodes_models_and_embeddings(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.get(f"{URL}/models", json=["checkpoints", "loras", "vae"])
    mock.get(f"{URL}/models/checkpoints", json=["sd15.safetensors"])
    mock.get(f"{URL}/models/loras", json=[])
    mock.get(f"{URL}/models/vae", json=["vae.pt"])
    mock.get(f"{URL}/embeddings", json=["easynegative"])
    found = {(cap.name, cap.id): cap for cap in ComfyUIBackend().capabilities(client)}
    image = found[("image.generate", "comfyui")]
    assert image.limits == {"width": (16.0, 16384.0), "height": (16.0, 16384.0), "steps": (1.0, 10000.0)}
    assert found[("video.generate", "comfyui")].details["video_nodes"] == ["SaveVideo"]
    assert found[("comfyui.node", "SaveImage")].details["output_node"] is True
    assert {("comfyui.model", "sd15.safetensors"), ("comfyui.model", "vae.pt"), ("comfyui.model_folder", "loras"), ("comfyui.embedding", "easynegative")} <= set(found)


def test_no_sampler_means_no_generation_capability(client: ComfyUIClient) -> None:
    mock = mock_of(client)
    mock.replace(responses.GET, f"{URL}/object_info", json={"SaveImage": OBJECT_INFO["SaveImage"]})
    mock.get(f"{URL}/models", status=404)
    mock.get(f"{URL}/embeddings", status=404)
    names = {cap.name for cap in ComfyUIBackend().capabilities(client)}
    assert names == {"comfyui.node"}


# -- the core's operation queue -------------------------------------------------------------


def test_the_queue_operation_uses_its_key_as_prompt_id_and_never_posts_twice(client: ComfyUIClient) -> None:
    from movie_director.operations import Operation, OperationContext, OpState, executor_for
    from movie_director.plugins import get_plugin_manager

    get_plugin_manager().operations  # noqa: B018 -- what the manager does first: the plugins register their executors
    mock = mock_of(client)
    mock.get(f"{URL}/queue", json=queue_body())
    mock.get(f"{URL}/queue", json=queue_body(pending=[(1, PID)]))
    mock.get(f"{URL}/history/{PID}", json={})
    mock.post(f"{URL}/prompt", json={"prompt_id": PID, "number": 1, "node_errors": {}})
    operation = Operation(1, "comfyui", "comfyui.submit", {"workflow": GRAPH}, PID, 0.0, None, OpState.RUNNING, attempts=1)
    context = OperationContext(client.service, ComfyUIBackend(), client, operation)
    assert executor_for("comfyui.submit")(context) == {"prompt_id": PID, "state": "queued"}
    with ComfyUIClient(client.service, poll_interval=60) as after_restart:
        replay = OperationContext(client.service, ComfyUIBackend(), after_restart, Operation(1, "comfyui", "comfyui.submit", {"workflow": GRAPH}, PID, 0.0, None, OpState.RUNNING, attempts=2))
        assert executor_for("comfyui.submit")(replay) == {"prompt_id": PID, "state": "queued"}
    assert len(calls(client, "POST", "/prompt")) == 1
