"""The headless (MCP) transport of the wan2gp backend against an in-process fake Wan2GP.

The fake answers the tool calls with scripted job snapshots, so each test sets up exactly
the job history it needs (progress, failure, cancel, a restart that forgot the job,
a dropped connection). The real FastMCP stand-in is driven in
tests/integration/test_wan2gp_mcp.py.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from movie_director.configdata import ServiceConfig
from movie_director.errors import (
    ConnectionRefused,
    InvalidSetting,
    JobCancelled,
    JobFailed,
    JobLost,
    MalformedResponse,
    OperationTimeout,
    RequestRejected,
    UnsupportedVersion,
)
from movie_director.progress import Phase, Progress
from movie_director_plugins.wan2gp import mcp
from movie_director_plugins.wan2gp.mcp import EventCursor, MCPTransport, modes_of, progress_of, ranges_of, service_url
from movie_director_plugins.wan2gp.settings import Wan2GPSettings

BASE = "http://127.0.0.1:8765"
ENDPOINT = BASE + "/mcp/"
VIDEO = b"\x00\x00\x00\x18ftypisom" + bytes(40)
FAST = (0.001, 0.005)


def model(model_type: str, output: str = "video", inputs: tuple[str, ...] = ("text",), available: bool = True, base: str | None = None) -> dict[str, Any]:
    return {
        "model_type": model_type,
        "name": model_type.upper(),
        "family": "wan",
        "base_model_type": base or model_type,
        "finetune": base is not None,
        "main_output": [output],
        "inputs": list(inputs),
        "availability": {"status": "available" if available else "missing", "available": available},
    }


SCHEMA = {
    "setting_values": {
        "resolution": {"type": "choice", "choices": ["832x480", "480x832"]},
        "video_length": {"type": "int", "min": 5, "max": 737},
        "num_inference_steps": {"type": "int", "min": 1, "max": 100},
        "seed": {"type": "int", "min": -1, "max": 999999999},
        "guidance_scale": {"type": "float", "min": 1.0, "max": 20.0},
        "flow_shift": {"type": "float", "min": 0.0, "max": 25.0},
    }
}


def event(kind: str, data: Any, timestamp: float) -> dict[str, Any]:
    return {"kind": kind, "timestamp": timestamp, "data": data}


def step(n: int, total: int, timestamp: float) -> dict[str, Any]:
    data = {"phase": "denoising", "status": "Prompt 1/1 | Denoising", "progress": round(100 * n / total), "current_step": n, "total_steps": total, "unit": "steps"}
    return event("progress", data, timestamp)


def snapshot(events: list[dict[str, Any]], result: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"job_id": "job-1", "done": result is not None, "cancel_requested": False, "events": events, "result": result}


def finished(success: bool = True, cancelled: bool = False, errors: list[dict[str, Any]] | None = None, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "success": success,
        "cancelled": cancelled,
        "generated_files": ["/srv/wan/outputs/out.mp4"] if success else [],
        "errors": errors or [],
        "gallery_items": [{"gallery_id": "visual:out1", "filename": "out.mp4"}] if items is None and success else (items or []),
    }


RUNNING = [event("started", {"tasks": 1}, 1.0), event("status", "Loading model T2V...", 1.1), step(1, 3, 1.2)]
DONE = [*RUNNING, step(2, 3, 1.3), step(3, 3, 1.4), event("completed", {}, 1.5)]


class ToolFailure(Exception):
    """Raised by a fake tool: becomes an ``isError`` result, as FastMCP sends it."""


class FakeWan2GP:
    """Answers Wan2GP's MCP tools and transfer URLs from scripted state."""

    def __init__(self, mocked: responses.RequestsMock) -> None:
        self.models = [model("t2v"), model("i2v", inputs=("text", "image_start"), available=False), model("flux", output="image"), model("t2v_fx", base="t2v")]
        self.script: list[Any] = [snapshot(RUNNING), snapshot(DONE, finished())]
        self.busy = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.uploads: list[tuple[str, bytes, str]] = []
        self.files = {"visual:out1": ("out.mp4", VIDEO)}
        self.announced_size: int | None = None
        self.structured = True
        self.on_poll: Callable[[int], None] | None = None
        self._polls = 0
        mocked.add_callback(responses.POST, ENDPOINT, callback=self.rpc)
        mocked.add_callback(responses.PUT, re.compile(re.escape(BASE) + r"/wangp_api/gallery/upload/\w+"), callback=self.put)
        mocked.add_callback(responses.GET, re.compile(re.escape(BASE) + r"/wangp_api/gallery/download/[\w:]+"), callback=self.get)

    def tools(self, name: str) -> list[dict[str, Any]]:
        return [arguments for tool, arguments in self.calls if tool == name]

    def rpc(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        if body["method"] == "ping":
            return self._ok(body, {})
        name, arguments = body["params"]["name"], body["params"]["arguments"]
        self.calls.append((name, arguments))
        try:
            value = getattr(self, name)(**arguments)
        except ToolFailure as failure:
            return self._ok(body, {"content": [{"type": "text", "text": f"Error executing tool {name}: {failure}"}], "isError": True})
        content = [{"type": "text", "text": json.dumps(item)} for item in (value if isinstance(value, list) else [value])]
        result: dict[str, Any] = {"content": content, "isError": False}
        if self.structured:
            result["structuredContent"] = value if isinstance(value, dict) else {"result": value}
        return self._ok(body, result)

    @staticmethod
    def _ok(body: dict[str, Any], result: Any) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/json"}, json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": result})

    # tools
    def wangp_list_models(self, limit: int, offset: int, include_availability: bool) -> list[dict[str, Any]]:
        return self.models[offset : offset + min(limit, 2)]  # a server with a smaller page cap than asked

    def wangp_get_model_schema(self, model_type: str) -> dict[str, Any] | None:
        return SCHEMA if any(m["model_type"] == model_type for m in self.models) else None

    def wangp_create_gallery_upload(self, filename: str) -> dict[str, Any]:
        return {"upload_url": f"/wangp_api/gallery/upload/tok{len(self.uploads)}", "method": "PUT", "filename": filename, "max_bytes": 1000}

    def wangp_create_gallery_download(self, gallery_id: str) -> dict[str, Any]:
        name, data = self.files[gallery_id]
        size = self.announced_size if self.announced_size is not None else len(data)
        return {"gallery_id": gallery_id, "download_url": f"/wangp_api/gallery/download/{gallery_id}", "filename": name, "size": size}

    def wangp_generate(self, source: dict[str, Any], wait: bool, event_limit: int) -> dict[str, Any]:
        assert wait is False
        if self.busy:
            self.busy -= 1
            raise ToolFailure("WanGP session already has a generation in progress")
        return {"job_id": "job-1", "done": False, "events": []}

    def wangp_get_job(self, job_id: str, event_limit: int) -> dict[str, Any]:
        self._polls += 1
        if self.on_poll is not None:
            self.on_poll(self._polls)
        entry = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(entry, Exception):
            raise entry
        return entry

    def wangp_cancel_job(self, job_id: str, event_limit: int) -> dict[str, Any]:
        if job_id != "job-1":
            raise ToolFailure(f"Unknown WanGP job_id: {job_id}")
        self.script = [snapshot(RUNNING, finished(success=False, cancelled=True, errors=[{"message": "Generation was cancelled", "cancelled": True}]))]
        return {"job_id": job_id, "done": False}

    def wangp_list_gallery(self, media_type: str, limit: int) -> list[dict[str, Any]]:
        return [{"gallery_id": "visual:out1", "filename": "out.mp4"}, {"gallery_id": "visual:other", "filename": "other.mp4"}]

    # transfers
    def put(self, request: Any) -> tuple[int, dict[str, str], str]:
        data = request.body.read() if hasattr(request.body, "read") else request.body
        self.uploads.append((request.url, data, request.headers["Content-Type"]))
        return 200, {"Content-Type": "application/json"}, json.dumps({"status": "uploaded", "gallery_id": f"visual:up{len(self.uploads)}"})

    def get(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        _, data = self.files[request.url.rsplit("/", 1)[-1]]
        return 200, {"Content-Type": "video/mp4"}, data


@pytest.fixture
def fake() -> Iterator[FakeWan2GP]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield FakeWan2GP(mocked)


def transport(**changes: Any) -> MCPTransport:
    options = {"reconnect_grace": changes.pop("reconnect_grace", 5.0), "poll_interval": FAST}
    service = ServiceConfig(name="wan2gp", kind="wan2gp", url=BASE + "/mcp", retries=0, backoff=0.0, transport="mcp", **changes)
    return MCPTransport(service, **options)


def record() -> tuple[list[Progress], Callable[[Progress], None]]:
    events: list[Progress] = []
    return events, events.append


# --- pieces ----------------------------------------------------------------------------------


def test_event_cursor_reports_each_event_once_across_overlapping_windows() -> None:
    cursor = EventCursor()
    first = [event("started", {}, 1.0), event("status", "a", 2.0), event("status", "b", 2.0)]
    assert cursor.advance(first) == first
    assert cursor.advance(first) == []
    tie = event("status", "c", 2.0)
    later = event("progress", {}, 3.0)
    assert cursor.advance([first[1], first[2], tie, later]) == [tie, later]  # the window slid; ties kept apart
    assert cursor.advance([later, {"kind": "no timestamp"}, "junk"]) == []


def test_progress_events_map_to_our_phases_and_steps() -> None:
    running = progress_of(step(12, 30, 1.0))
    assert running == Progress(Phase.RUNNING, fraction=0.4, step=12, total=30, unit="steps", message="Prompt 1/1 | Denoising")
    assert progress_of(event("status", " Loading model X... ", 1.0)) == Progress(Phase.RUNNING, message="Loading model X...")
    assert progress_of(event("started", {"tasks": 2}, 1.0)).message == "started (2 tasks)"  # type: ignore[union-attr]
    assert progress_of(event("started", None, 1.0)).message == "started"  # type: ignore[union-attr]
    assert progress_of(event("progress", {"progress": 250}, 1.0)).fraction == 1.0  # type: ignore[union-attr]
    for quiet in ("stream", "preview", "completed", "error", "something_new"):
        assert progress_of(event(quiet, {"stream": "stdout", "text": "x"}, 1.0)) is None


def test_ranges_and_modes_come_from_the_schema_and_inputs() -> None:
    limits, resolutions = ranges_of(SCHEMA)
    assert limits == {"video_length": (5, 737), "seed": (-1, 999999999), "num_inference_steps": (1, 100), "guidance_scale": (1.0, 20.0)}
    assert resolutions == ["832x480", "480x832"]
    assert ranges_of({}) == ({}, [])
    assert modes_of(["text", "image_start", "image_refs", "video_guide"], "video") == ["text-to-video", "image-to-video", "references-to-video", "video-to-video"]


def test_service_url_is_the_endpoint_without_slash() -> None:
    assert service_url("http://127.0.0.1:8765") == BASE + "/mcp"
    assert service_url("http://127.0.0.1:8765/mcp/") == BASE + "/mcp"


# --- probe -----------------------------------------------------------------------------------


def tools_answer(names: list[str]) -> Callable[[Any], tuple[int, dict[str, str], str]]:
    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        return 200, {}, json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": {"tools": [{"name": n} for n in names]}})

    return callback


@responses.activate
def test_probe_recognises_the_wangp_tools() -> None:
    responses.add_callback(responses.POST, ENDPOINT, callback=tools_answer(["wangp_generate", "wangp_get_job", "wangp_list_models"]))
    found = mcp.probe(BASE, 1.0)
    assert found is not None
    assert (found.kind, found.url, found.transport) == ("wan2gp", BASE + "/mcp", "mcp")
    assert found.details["tools"] == 3
    assert "wangp_cancel_job" in found.details["missing_tools"]


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "json": {"detail": {"error": "authentication_required", "message": "Authenticate with the gateway to use the MCP endpoint."}}},
        {"status": 404, "body": "Not Found"},
        {"status": 405, "json": {"detail": "Method Not Allowed"}},
        {"status": 200, "body": "<html><title>Some app</title></html>", "content_type": "text/html"},
    ],
)
@responses.activate
def test_probe_says_no_to_other_services(answer: dict[str, Any]) -> None:
    responses.add(responses.POST, ENDPOINT, **answer)
    assert mcp.probe(BASE, 1.0) is None


@responses.activate
def test_probe_says_no_to_an_mcp_server_without_wangp_tools() -> None:
    responses.add_callback(responses.POST, ENDPOINT, callback=tools_answer(["github-create_issue", "search"]))
    assert mcp.probe(BASE + "/mcp", 1.0) is None


def test_probe_raises_when_nothing_listens() -> None:
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, ENDPOINT, body=requests.ConnectionError("[Errno 111] Connection refused"))
        with pytest.raises(ConnectionRefused):
            mcp.probe(BASE, 1.0)


# --- what the server offers ------------------------------------------------------------------


def test_models_are_read_page_by_page_and_cached(fake: FakeWan2GP) -> None:
    wan = transport()
    assert wan.models() == ["t2v", "i2v", "flux", "t2v_fx"]
    assert wan.models() == ["t2v", "i2v", "flux", "t2v_fx"]
    assert [call["offset"] for call in fake.tools("wangp_list_models")] == [0, 2, 4]
    wan.model_records(refresh=True)
    assert len(fake.tools("wangp_list_models")) == 6


def test_capabilities_name_outputs_inputs_and_modes_from_the_list_alone(fake: FakeWan2GP) -> None:
    wan = transport()
    capabilities = {c.id: c for c in wan.capabilities()}
    assert capabilities["t2v"].name == "video.generate" and capabilities["flux"].name == "image.generate"
    i2v = capabilities["i2v"]
    assert i2v.details["modes"] == ["text-to-video", "image-to-video"]
    assert (i2v.details["available"], i2v.details["availability"]) == (False, "missing")
    # one list, asked with a large limit and paged at the server's cap; no per-model call
    assert [(call["limit"], call["offset"]) for call in fake.tools("wangp_list_models")] == [(1000, 0), (1000, 2), (1000, 4)]
    assert fake.tools("wangp_get_model_schema") == []
    # a model's ranges are read when it is used, once per connection
    assert wan.schema("t2v") == wan.schema("t2v")
    assert [call["model_type"] for call in fake.tools("wangp_get_model_schema")] == ["t2v"]


def test_health_is_a_ping(fake: FakeWan2GP) -> None:
    sample = transport().health()
    assert sample.ok and sample.metrics == {"active_jobs": 0.0}
    assert fake.calls == []


def test_models_read_from_text_items_when_structured_content_is_absent(fake: FakeWan2GP) -> None:
    fake.structured = False
    assert transport().models()[:2] == ["t2v", "i2v"]


# --- generate --------------------------------------------------------------------------------


def test_generate_validates_uploads_submits_polls_and_downloads(fake: FakeWan2GP, tmp_path: Path) -> None:
    image = tmp_path / "start frame.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8))
    events, on_progress = record()
    submitted: list[str] = []
    settings = Wan2GPSettings(prompt="a red fox", model="i2v", image_start=image, num_inference_steps=3, extra={"flow_shift": 3.0})
    result = transport().generate(settings, tmp_path / "out", on_progress, timeout=30, on_submitted=submitted.append)

    assert submitted == ["job-1"]
    assert result.transport == "mcp" and result.details["job_id"] == "job-1" and result.details["model"] == "i2v"
    assert [path.name for path in result.files] == ["out.mp4"] and result.files[0].read_bytes() == VIDEO
    source = fake.tools("wangp_generate")[0]["source"]
    assert source == {**settings.to_save_inputs(), "image_start": ["visual:up1"], "model_type": "i2v"}
    assert result.sent == source and result.details["uploads"] == {"image_start": ["visual:up1"]}
    url, data, content_type = fake.uploads[0]
    assert url.startswith(BASE + "/wangp_api/gallery/upload/") and data == image.read_bytes() and content_type == "image/png"
    assert fake.tools("wangp_create_gallery_upload") == [{"filename": "start frame.png"}]

    phases = [event.phase for event in events]
    assert phases[0] is Phase.CONNECTING and phases[-1] is Phase.DONE
    assert phases.index(Phase.UPLOADING) < phases.index(Phase.QUEUED) < phases.index(Phase.RUNNING) < phases.index(Phase.DOWNLOADING)
    steps = [(event.step, event.total) for event in events if event.phase is Phase.RUNNING and event.step]
    assert steps == [(1, 3), (2, 3), (3, 3)]  # each step once, though the snapshots overlap
    assert "Loading model T2V..." in [event.message for event in events]


def test_the_model_defaults_to_the_services_choice_then_the_first_available_video_model(fake: FakeWan2GP, tmp_path: Path) -> None:
    transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    fake.script = [snapshot(DONE, finished())]
    transport(models=("nope", "t2v_fx")).generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    assert [call["source"]["model_type"] for call in fake.tools("wangp_generate")] == ["t2v", "t2v_fx"]


def test_a_server_without_models_is_refused(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.models = []
    with pytest.raises(UnsupportedVersion, match="lists no models"):
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (Wan2GPSettings(prompt="x", model="sdxl"), "model"),
        (Wan2GPSettings(prompt="x", resolution="1024x1024"), "resolution"),
        (Wan2GPSettings(prompt="x", num_inference_steps=120), "num_inference_steps"),
        (Wan2GPSettings(prompt="x", image_start="/no/such/file.png"), "image_start"),
    ],
)
def test_invalid_settings_are_refused_before_anything_is_sent(fake: FakeWan2GP, tmp_path: Path, settings: Wan2GPSettings, field: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        transport().generate(settings, tmp_path, timeout=30)
    assert caught.value.details["field"] == field
    assert fake.tools("wangp_generate") == [] and fake.uploads == []


def test_an_upload_larger_than_the_server_accepts_is_refused(fake: FakeWan2GP, tmp_path: Path) -> None:
    image = tmp_path / "big.png"
    image.write_bytes(bytes(2000))
    with pytest.raises(InvalidSetting, match="more than the 1000 bytes"):
        transport().generate(Wan2GPSettings(prompt="x", model="i2v", image_start=image), tmp_path, timeout=30)
    assert fake.uploads == []


def test_a_failed_job_raises_job_failed_with_the_servers_reason(fake: FakeWan2GP, tmp_path: Path) -> None:
    hub = "An error happened while trying to locate the file on the Hub and we cannot find the requested files in the local cache."
    fake.script = [snapshot(RUNNING, finished(success=False, errors=[{"message": hub, "stage": "generation"}, {"message": hub}]))]
    with pytest.raises(JobFailed) as caught:
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    assert caught.value.message == f"Wan2GP could not finish the generation: {hub}"
    assert "weights" in caught.value.hints[0]
    assert caught.value.details["job_id"] == "job-1"


def test_an_unknown_model_failure_gets_its_hint(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.script = [snapshot([], finished(success=False, errors=[{"message": "'NoneType' object has no attribute 'get'", "stage": "runtime"}]))]
    with pytest.raises(JobFailed, match="NoneType") as caught:
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    assert "does not know the model type" in caught.value.hints[0]


def test_a_job_that_produced_nothing_fails(fake: FakeWan2GP, tmp_path: Path) -> None:
    result = finished(items=[])
    result["generated_files"] = []
    fake.script = [snapshot(DONE, result)]
    with pytest.raises(JobFailed, match="without producing a file"):
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)


def test_outputs_missing_from_the_result_are_found_in_the_gallery_by_name(fake: FakeWan2GP, tmp_path: Path) -> None:
    result = finished()
    del result["gallery_items"]
    fake.script = [snapshot(DONE, result)]
    done = transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    assert done.details["gallery_ids"] == ["visual:out1"]


def test_a_download_shorter_than_announced_is_refused(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.announced_size = len(VIDEO) + 10
    with pytest.raises(MalformedResponse, match="cut short"):
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path / "out", timeout=30)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_busy_server_means_queued_then_submitted(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.busy = 2
    events, on_progress = record()
    transport().generate(Wan2GPSettings(prompt="x"), tmp_path, on_progress, timeout=30)
    assert len(fake.tools("wangp_generate")) == 3
    assert sum(1 for event in events if event.phase is Phase.QUEUED and "busy" in event.message) == 2


def test_a_server_busy_for_the_whole_timeout_times_out(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.busy = 10**6
    with pytest.raises(OperationTimeout, match="stayed busy"):
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=0.05)


def test_other_tool_errors_at_submission_keep_the_server_message(fake: FakeWan2GP, tmp_path: Path) -> None:
    def refuse(**_: Any) -> None:
        raise ToolFailure("Direct filesystem paths are disabled for this MCP server.")

    fake.wangp_generate = refuse  # type: ignore[method-assign]
    with pytest.raises(RequestRejected, match="Direct filesystem paths are disabled"):
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)


def test_abort_cancels_the_running_job(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.script = [snapshot(RUNNING)]
    wan = transport()
    fake.on_poll = lambda polls: wan.abort() if polls == 2 else None
    with pytest.raises(JobCancelled, match="was cancelled"):
        wan.generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    assert fake.tools("wangp_cancel_job") == [{"job_id": "job-1", "event_limit": 0}]


def test_abort_before_submission_sends_nothing(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.busy = 10**6
    wan = transport()

    def progress(event: Progress) -> None:
        if event.phase is Phase.QUEUED:
            wan.clear_queue()

    with pytest.raises(JobCancelled, match="before it started"):
        wan.generate(Wan2GPSettings(prompt="x"), tmp_path, progress, timeout=30)
    assert fake.tools("wangp_cancel_job") == []


def test_a_cancel_that_cannot_be_sent_is_sent_again_by_the_poll_loop(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.script = [snapshot(RUNNING)]
    wan = transport()
    original = fake.wangp_cancel_job
    attempts: list[int] = []

    def flaky_cancel(**arguments: Any) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise requests.ConnectionError("[Errno 111] Connection refused")
        return original(**arguments)

    fake.wangp_cancel_job = flaky_cancel  # type: ignore[method-assign]
    fake.on_poll = lambda polls: wan.abort() if polls == 1 else None
    with pytest.raises(JobCancelled):
        wan.generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    assert len(attempts) == 2


def test_a_dropped_connection_is_waited_out_and_the_job_picked_up_again(fake: FakeWan2GP, tmp_path: Path) -> None:
    refused = requests.ConnectionError("[Errno 111] Connection refused")
    fake.script = [snapshot(RUNNING), refused, refused, snapshot(DONE, finished())]
    events, on_progress = record()
    result = transport().generate(Wan2GPSettings(prompt="x"), tmp_path, on_progress, timeout=30)
    assert result.files and len(fake.tools("wangp_generate")) == 1
    messages = [event.message for event in events]
    assert sum("lost the connection" in message for message in messages) == 1
    assert "reconnected to Wan2GP" in messages


def test_a_connection_lost_for_longer_than_the_grace_keeps_the_job_id(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.script = [requests.ConnectionError("[Errno 111] Connection refused")]
    with pytest.raises(ConnectionRefused) as caught:
        transport(reconnect_grace=0.02).generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    assert caught.value.details["job_id"] == "job-1"
    assert "job-1" in caught.value.hints[-1]


def test_a_server_that_forgot_the_job_means_job_lost(fake: FakeWan2GP, tmp_path: Path) -> None:
    def forgot(job_id: str, event_limit: int) -> None:
        raise ToolFailure(f"Unknown WanGP job_id: {job_id}")

    fake.wangp_get_job = forgot  # type: ignore[method-assign]
    with pytest.raises(JobLost, match="no longer knows the job job-1"):
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
    with pytest.raises(JobLost):
        transport().cancel("job-2")


def test_a_job_longer_than_the_timeout_times_out_with_its_id(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.script = [snapshot(RUNNING)]
    with pytest.raises(OperationTimeout) as caught:
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=0.2)
    assert caught.value.details == {"job_id": "job-1"}


def test_resume_reports_only_the_latest_progress_then_downloads(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.script = [snapshot(DONE[:4]), snapshot(DONE, finished())]
    events, on_progress = record()
    result = transport().resume("job-1", tmp_path, on_progress, timeout=30)
    assert result.details["resumed"] is True and result.files[0].read_bytes() == VIDEO
    running = [(event.step, event.total) for event in events if event.phase is Phase.RUNNING]
    assert running == [(2, 3), (3, 3)]  # the first snapshot collapsed to its latest step
    assert fake.tools("wangp_generate") == []


def test_a_broken_on_submitted_callback_does_not_lose_the_job(fake: FakeWan2GP, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken(job_id: str) -> None:
        raise RuntimeError("disk full")

    result = transport().generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30, on_submitted=broken)
    assert result.files
    assert "on_submitted callback failed" in caplog.text


def test_abort_from_another_thread_while_polling(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.script = [snapshot(RUNNING)]
    wan = transport()
    polled = threading.Event()
    fake.on_poll = lambda polls: polled.set()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            wan.generate(Wan2GPSettings(prompt="x"), tmp_path, timeout=30)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert polled.wait(10)
    assert wan.health().metrics["active_jobs"] == 1.0
    wan.abort()
    worker.join(10)
    assert not worker.is_alive() and isinstance(outcome[0], JobCancelled)
    wan.close()
    assert "MCPTransport" in repr(wan)


def test_ctrl_c_during_a_generation_cancels_it_on_the_server(fake: FakeWan2GP, tmp_path: Path) -> None:
    fake.script = [snapshot(RUNNING)]

    def interrupt(event: Progress) -> None:
        if event.step:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transport().generate(Wan2GPSettings(prompt="x"), tmp_path, interrupt, timeout=30)
    assert fake.tools("wangp_cancel_job") == [{"job_id": "job-1", "event_limit": 0}]
