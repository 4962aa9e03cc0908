"""The Wan2GP headless MCP stand-in, as a real process, checked on the wire with raw HTTP.

These tests pin what PROTOCOLS.md records for Wan2GP 12.60's `--mcp` server, so a client
written against the stand-in behaves the same against the real thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
import requests

from movie_director_testing.processes import ServerProcess, wait_until
from movie_director_testing.wan2gp_mcp import launch_wan2gp_mcp

TIMEOUT = 10.0
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
TOOLS = {
    "wangp_list_models", "wangp_search_models", "wangp_list_model_defs", "wangp_list_model_availability",
    "wangp_get_model", "wangp_get_model_metadata", "wangp_get_model_availability", "wangp_get_default_settings",
    "wangp_list_loras", "wangp_get_model_schema", "wangp_list_gallery", "wangp_get_gallery_item",
    "wangp_get_gallery_selection", "wangp_create_gallery_upload", "wangp_create_gallery_download",
    "wangp_list_deepy_templates", "wangp_get_deepy_template_settings", "wangp_postprocess", "wangp_toolbox",
    "wangp_generate", "wangp_get_job", "wangp_cancel_job",
}


class Mcp:
    """Just enough of an MCP client: JSON-RPC over POST /mcp/, one JSON answer per request."""

    def __init__(self, server: ServerProcess) -> None:
        self.url = server.url
        self.http = requests.Session()
        self._ids = count(1)

    def rpc(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, **({"params": params} if params else {})}
        response = self.http.post(f"{self.url}/mcp/", json=body, headers=MCP_HEADERS, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()

    def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """The raw `tools/call` result: content, structuredContent, isError."""
        return self.rpc("tools/call", {"name": tool, "arguments": arguments})["result"]

    def value(self, tool: str, **arguments: Any) -> Any:
        """A successful call's structured value (lists come wrapped as {"result": [...]})."""
        result = self.call(tool, **arguments)
        assert result["isError"] is False, result["content"]
        return result["structuredContent"]

    def wait_done(self, job_id: str, timeout: float = 15.0) -> dict[str, Any]:
        return wait_until(
            lambda: (snap := self.value("wangp_get_job", job_id=job_id, event_limit=500))["done"] and snap,
            timeout, interval=0.05, message=f"job {job_id} done",
        )

    def upload(self, filename: str, data: bytes) -> requests.Response:
        ticket = self.value("wangp_create_gallery_upload", filename=filename)
        return self.http.put(self.url + ticket["upload_url"], data=data, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with launch_wan2gp_mcp(step_seconds=0.02, max_upload_bytes=4096) as process:
        yield process


@pytest.fixture
def mcp(server: ServerProcess) -> Mcp:
    return Mcp(server)


def test_transport_answers_like_fastmcp_stateless_json(server: ServerProcess, mcp: Mcp) -> None:
    assert requests.get(server.url + "/", timeout=TIMEOUT).status_code == 404
    redirect = requests.get(server.url + "/mcp", allow_redirects=False, timeout=TIMEOUT)
    assert (redirect.status_code, redirect.headers["location"]) == (307, f"{server.url}/mcp/")
    refused = requests.get(server.url + "/mcp/", timeout=TIMEOUT)
    assert refused.status_code == 406
    assert refused.json() == {"jsonrpc": "2.0", "id": "server-error", "error": {
        "code": -32600, "message": "Not Acceptable: Client must accept text/event-stream"}}
    json_only = requests.post(server.url + "/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                              headers={"Accept": "application/json"}, timeout=TIMEOUT)
    assert json_only.status_code == 406

    hello = mcp.http.post(server.url + "/mcp", headers=MCP_HEADERS, timeout=TIMEOUT, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    assert [r.status_code for r in hello.history] == [307]
    assert "mcp-session-id" not in hello.headers
    assert hello.json()["result"]["serverInfo"] == {"name": "WanGP", "version": "1.10.1"}
    note = mcp.http.post(server.url + "/mcp/", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                         headers=MCP_HEADERS, timeout=TIMEOUT)
    assert note.status_code == 202
    assert mcp.rpc("no/such/method")["error"]["code"] == -32602


def test_tools_list_needs_no_initialize_and_has_the_documented_arguments(mcp: Mcp) -> None:
    tools = {tool["name"]: tool["inputSchema"] for tool in mcp.rpc("tools/list")["result"]["tools"]}
    assert set(tools) == TOOLS
    generate = tools["wangp_generate"]
    assert set(generate["properties"]) == {"source", "wait", "timeout_s", "event_limit"}
    assert generate["required"] == ["source"]
    assert set(tools["wangp_list_models"]["properties"]) == {
        "family", "base_model_type", "finetune", "model_type", "main_output", "inputs", "name", "query",
        "limit", "offset", "include_availability"}
    assert tools["wangp_create_gallery_download"]["required"] == ["gallery_id"]
    assert tools["wangp_cancel_job"]["required"] == ["job_id"]


def test_tool_results_come_in_fastmcp_shapes(mcp: Mcp) -> None:
    as_dict = mcp.call("wangp_get_default_settings", model_type="t2v")
    assert as_dict["isError"] is False
    assert as_dict["content"] == [{"type": "text", "text": json.dumps(as_dict["structuredContent"], indent=2)}]

    as_list = mcp.call("wangp_list_models", limit=3)
    records = as_list["structuredContent"]["result"]
    assert [json.loads(item["text"]) for item in as_list["content"]] == records
    assert len(records) == 3

    raised = mcp.call("wangp_get_default_settings", model_type="no_such_model")
    assert raised == {"content": [{"type": "text", "text": "Error executing tool wangp_get_default_settings: "
                                   "Unknown model_type: no_such_model"}], "isError": True}
    assert mcp.call("nope")["content"][0]["text"] == "Unknown tool: nope"
    assert mcp.value("wangp_get_model", model_type="no_such_model") == {"result": None}


def test_model_discovery(mcp: Mcp) -> None:
    first = mcp.value("wangp_list_models", limit=2)["result"]
    rest = mcp.value("wangp_list_models", limit=10, offset=2)["result"]
    everything = [m["model_type"] for m in first + rest]
    assert {"t2v", "i2v", "t2v_fusionix"} <= set(everything) and len(set(everything)) == len(everything)
    assert {"family", "base_model_type", "main_output", "inputs"} <= set(first[0])
    images = mcp.value("wangp_list_models", main_output="image")["result"]
    assert [m["main_output"] for m in images] == [["image"]] * len(images) and images

    with_availability = mcp.value("wangp_list_models", model_type="i2v", include_availability=True)["result"]
    assert with_availability[0]["availability"]["status"] == "missing"
    assert mcp.value("wangp_get_model_availability", model_type="i2v")["available"] is False
    assert mcp.value("wangp_get_model_availability", model_type="t2v")["status"] == "available"
    found = mcp.value("wangp_search_models", query="fusionix")
    assert [m["model_type"] for m in found["matches"]] == ["t2v_fusionix"] and found["total_matches"] == 1

    defaults = mcp.value("wangp_get_default_settings", model_type="t2v")
    assert len(defaults) == 20
    assert {k: defaults[k] for k in ("prompt", "resolution", "video_length", "num_inference_steps", "seed", "model_type")} == {
        "prompt": "", "resolution": "832x480", "video_length": 81, "num_inference_steps": 30, "seed": -1, "model_type": "t2v"}
    schema = mcp.value("wangp_get_model_schema", model_type="t2v")["result"]  # `dict | None` tools wrap it
    assert schema["setting_values"]["num_inference_steps"] == {"type": "int", "min": 1, "max": 100}
    assert schema["default_settings"] == defaults


def test_job_runs_from_generate_to_done_with_events_and_a_downloadable_mp4(mcp: Mcp) -> None:
    settings = {"model_type": "t2v", "prompt": "un café au lever du jour — ✓", "negative_prompt": "blur",
                "resolution": "480x832", "video_length": 33, "num_inference_steps": 12, "seed": 42,
                "guidance_scale": 6.5, "activated_loras": [], "client_id": "md-test-1"}
    started = mcp.value("wangp_generate", source=settings)
    assert set(started) == {"job_id", "done", "cancel_requested", "webui_submission_ready",
                            "webui_load_queue_token", "created_at", "updated_at", "events", "result"}
    assert started["done"] is False and started["result"] is None

    snap = mcp.wait_done(started["job_id"])
    kinds = [event["kind"] for event in snap["events"]]
    assert kinds[0] == "started" and kinds[-1] == "completed" and "error" not in kinds
    assert snap["events"][0]["data"] == {"tasks": 1}
    assert {"status", "stream", "progress", "preview"} <= set(kinds)
    progress = [event["data"] for event in snap["events"] if event["kind"] == "progress"]
    assert [p["current_step"] for p in progress] == list(range(1, 13))
    assert {p["total_steps"] for p in progress} == {12} and progress[-1]["progress"] == 100
    assert all(0 <= p["progress"] <= 100 for p in progress)
    assert [e["timestamp"] for e in snap["events"]] == sorted(e["timestamp"] for e in snap["events"])

    result = snap["result"]
    assert (result["success"], result["cancelled"], result["errors"]) == (True, False, [])
    assert (result["total_tasks"], result["successful_tasks"], result["failed_tasks"]) == (1, 1, 0)
    assert snap["events"][-1]["data"] == {k: v for k, v in result.items() if k != "gallery_items"}
    [item] = result["gallery_items"]
    assert item["media_type"] == "video" and item["filename"].endswith(".mp4")
    record = mcp.value("wangp_get_gallery_item", gallery_id=item["gallery_id"])
    assert record["path"] == result["generated_files"][0]
    assert record["settings"] == settings  # every setting reached the server unchanged

    ticket = mcp.value("wangp_create_gallery_download", gallery_id=item["gallery_id"])
    assert ticket["download_url"].startswith("/wangp_api/gallery/download/")
    assert (ticket["media_type"], ticket["expires_in_seconds"]) == ("video", 600)
    video = mcp.http.get(mcp.url + ticket["download_url"], timeout=TIMEOUT)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp" and len(video.content) == ticket["size"]
    again = mcp.http.get(mcp.url + ticket["download_url"], timeout=TIMEOUT)
    assert (again.status_code, again.json()) == (404, {"error": "Download expired or not found."})


def test_uploaded_image_reaches_the_job_through_its_gallery_id(mcp: Mcp) -> None:
    ticket = mcp.value("wangp_create_gallery_upload", filename="start frame.png")
    assert {k: ticket[k] for k in ("method", "filename", "expires_in_seconds", "max_bytes")} == {
        "method": "PUT", "filename": "start frame.png", "expires_in_seconds": 600, "max_bytes": 4096}
    uploaded = mcp.http.put(mcp.url + ticket["upload_url"], data=PNG, timeout=TIMEOUT)
    assert uploaded.status_code == 200
    body = uploaded.json()
    assert (body["status"], body["size"], body["media_type"]) == ("uploaded", len(PNG), "image")
    assert body["gallery_id"].startswith("visual:")
    reused = mcp.http.put(mcp.url + ticket["upload_url"], data=PNG, timeout=TIMEOUT)
    assert (reused.status_code, reused.json()) == (404, {"error": "Upload expired or not found."})
    listed = mcp.value("wangp_list_gallery", media_type="image")["result"]
    assert body["gallery_id"] in [entry["gallery_id"] for entry in listed]

    job = mcp.value("wangp_generate", source=[{"model_type": "i2v", "prompt": "move", "image_start": body["gallery_id"],
                                               "num_inference_steps": 3}])
    snap = mcp.wait_done(job["job_id"])
    assert snap["result"]["success"] is True
    output = mcp.value("wangp_get_gallery_item", gallery_id=snap["result"]["gallery_items"][0]["gallery_id"])
    upload_path = mcp.value("wangp_get_gallery_item", gallery_id=body["gallery_id"])["path"]
    assert output["settings"]["image_start"] == upload_path


def test_uploads_are_checked(mcp: Mcp) -> None:
    assert mcp.upload("notes.png", b"not an image").status_code == 400
    too_big = mcp.upload("big.png", PNG + bytes(5000))
    assert too_big.status_code == 413 and "4096" in too_big.json()["error"]
    refused = mcp.call("wangp_create_gallery_upload", filename="script.py")
    assert refused["isError"] is True and "supported image, video, or audio extension" in refused["content"][0]["text"]
    unknown = mcp.call("wangp_generate", source={"model_type": "i2v", "prompt": "x", "image_start": "/etc/passwd"})
    assert unknown["isError"] is True and "Direct filesystem paths are disabled" in unknown["content"][0]["text"]


def test_a_failing_generation_is_a_done_job_not_a_tool_error(mcp: Mcp) -> None:
    started = mcp.call("wangp_generate", source={"model_type": "t2v", "prompt": "a storm [fail]", "num_inference_steps": 8})
    assert started["isError"] is False
    snap = mcp.wait_done(started["structuredContent"]["job_id"])
    errors = [event["data"] for event in snap["events"] if event["kind"] == "error"]
    assert len(errors) == 1 and errors[0]["stage"] == "generation" and errors[0]["task_index"] == 1
    assert any(event["kind"] == "progress" for event in snap["events"])  # it failed mid-way
    result = snap["result"]
    assert (result["success"], result["cancelled"], result["failed_tasks"], result["generated_files"]) == (False, False, 1, [])
    assert result["errors"] == errors


def test_unknown_model_type_fails_the_job_like_wan2gp(mcp: Mcp) -> None:
    snap = mcp.value("wangp_generate", source={"model_type": "no_such_model", "prompt": "x"}, wait=True, timeout_s=10)
    assert snap["done"] is True
    assert [{k: e[k] for k in ("message", "stage")} for e in snap["result"]["errors"]] == [
        {"message": "'NoneType' object has no attribute 'get'", "stage": "runtime"}]
    assert snap["result"]["success"] is False


def test_cancel_stops_a_running_job_and_one_job_runs_at_a_time(mcp: Mcp) -> None:
    job_id = mcp.value("wangp_generate", source={"model_type": "t2v", "prompt": "long", "num_inference_steps": 100})["job_id"]
    busy = mcp.call("wangp_generate", source={"model_type": "t2v", "prompt": "second"})
    assert busy["isError"] is True and "already has a generation in progress" in busy["content"][0]["text"]
    wait_until(lambda: any(e["kind"] == "progress" for e in mcp.value("wangp_get_job", job_id=job_id)["events"]),
               5.0, message="first progress event")
    assert mcp.value("wangp_cancel_job", job_id=job_id)["cancel_requested"] is True
    snap = mcp.wait_done(job_id)
    result = snap["result"]
    assert (result["success"], result["cancelled"]) == (False, True)
    assert result["errors"][0]["message"] == "Generation was cancelled" and result["errors"][0]["cancelled"] is True
    assert snap["events"][-2]["kind"] == "error" and snap["events"][-1]["kind"] == "completed"
    unknown = mcp.call("wangp_get_job", job_id="nope")
    assert unknown["isError"] is True and "Unknown WanGP job_id: nope" in unknown["content"][0]["text"]


def test_event_limit_trims_the_snapshot(mcp: Mcp) -> None:
    snap = mcp.value("wangp_generate", source={"model_type": "t2v_fusionix", "prompt": "x", "num_inference_steps": 30},
                     wait=True, timeout_s=10, event_limit=3)
    assert [e["kind"] for e in snap["events"]] == ["progress", "progress", "completed"]
    assert mcp.value("wangp_get_job", job_id=snap["job_id"], event_limit=0)["events"] == []
    assert len(mcp.value("wangp_get_job", job_id=snap["job_id"])["events"]) == 20


def test_missing_weights_fail_every_task_at_model_loading() -> None:
    with launch_wan2gp_mcp(missing_weights=True) as server:
        snap = Mcp(server).value("wangp_generate", source={"model_type": "t2v", "prompt": "x"}, wait=True, timeout_s=10)
    [error] = snap["result"]["errors"]
    assert error["stage"] == "generation" and "locate the file on the Hub" in error["message"]
    assert [e["kind"] for e in snap["events"]][-2:] == ["error", "completed"]
