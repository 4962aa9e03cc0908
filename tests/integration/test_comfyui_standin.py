"""The ComfyUI stand-in as a real process, checked on the wire against PROTOCOLS.md ("ComfyUI")."""

from __future__ import annotations

import heapq
import json
import re
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest
import requests
import websocket

from movie_director_testing.comfyui_standin import StandIn, launch
from movie_director_testing.processes import ServerProcess, wait_until

TIMEOUT = 10.0
NODE_DELAY = 0.02
PNG = b"\x89PNG\r\n\x1a\n"
SERVER_ERROR = "500 Internal Server Error\n\nServer got itself in trouble"
Frame = dict[str, Any] | bytes

_colors = count(1)


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with launch(node_delay=NODE_DELAY, base_dir=str(tmp_path_factory.mktemp("comfyui"))) as server:
        yield server


@pytest.fixture(autouse=True)
def idle_after(comfy: ServerProcess) -> Iterator[None]:
    """Each test leaves the server idle with default controls, even when it fails half-way."""
    yield
    control(comfy, node_delay=NODE_DELAY, steps=None, fail_nodes=[], refuse_websockets=False)
    requests.post(comfy.url + "/queue", json={"clear": True}, timeout=TIMEOUT)
    requests.post(comfy.url + "/interrupt", timeout=TIMEOUT)
    wait_until(lambda: requests.get(comfy.url + "/queue", timeout=TIMEOUT).json()["queue_running"] == [], TIMEOUT)


# --- helpers ---------------------------------------------------------------------------------


def control(server: ServerProcess, **settings: Any) -> dict[str, Any]:
    response = requests.post(server.url + "/_standin/control", json=settings, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def connect(server: ServerProcess, client_id: str | None = None, origin: str | None = None) -> websocket.WebSocket:
    query = f"?clientId={client_id}" if client_id else ""
    url = server.url.replace("http://", "ws://") + "/ws" + query
    return websocket.create_connection(url, timeout=TIMEOUT, origin=origin or server.url)


def receive(ws: websocket.WebSocket, timeout: float = TIMEOUT) -> Frame:
    ws.settimeout(timeout)
    raw = ws.recv()
    return json.loads(raw) if isinstance(raw, str) else raw


def collect(ws: websocket.WebSocket, until: Callable[[Frame], bool], timeout: float = TIMEOUT) -> list[Frame]:
    """Frames up to and including the first one matching `until`, within one overall deadline."""
    deadline = time.monotonic() + timeout
    frames: list[Frame] = []
    while True:
        frames.append(receive(ws, max(0.05, deadline - time.monotonic())))
        if until(frames[-1]):
            return frames


def assert_silent(ws: websocket.WebSocket, seconds: float = 0.3) -> None:
    """Nothing arrives within `seconds` (a bounded negative check)."""
    with pytest.raises(websocket.WebSocketTimeoutException):
        receive(ws, seconds)


def is_type(kind: str, **fields: Any) -> Callable[[Frame], bool]:
    def match(frame: Frame) -> bool:
        return isinstance(frame, dict) and frame["type"] == kind and all(frame["data"].get(k) == v for k, v in fields.items())

    return match


def data(frame: Frame) -> dict[str, Any]:
    assert isinstance(frame, dict), frame
    return dict(frame["data"])


def first(frames: list[Frame], kind: str, **match: Any) -> dict[str, Any]:
    """The data of the first `kind` frame (matching `match`)."""
    return data(next(frame for frame in frames if is_type(kind, **match)(frame)))


def finished(prompt_id: str) -> Callable[[Frame], bool]:
    return is_type("executing", node=None, prompt_id=prompt_id)


def kinds(frames: list[Frame]) -> list[str]:
    return [frame["type"] if isinstance(frame, dict) else f"binary{struct.unpack('>I', frame[:4])[0]}" for frame in frames]


def post_prompt(server: ServerProcess, prompt: dict[str, Any], **fields: Any) -> requests.Response:
    return requests.post(server.url + "/prompt", json={"prompt": prompt, **fields}, timeout=TIMEOUT)


def queued(server: ServerProcess, prompt: dict[str, Any], **fields: Any) -> str:
    response = post_prompt(server, prompt, **fields)
    assert response.status_code == 200, response.text
    return str(response.json()["prompt_id"])


def history(server: ServerProcess, prompt_id: str) -> dict[str, Any]:
    """The history entry once the prompt is done (polled with a deadline)."""
    def entry() -> dict[str, Any]:
        return requests.get(f"{server.url}/history/{prompt_id}", timeout=TIMEOUT).json().get(prompt_id)

    return wait_until(entry, TIMEOUT, message=f"history of {prompt_id}")


def invert_chain(prefix: str, width: Any = 64) -> dict[str, Any]:
    """EmptyImage -> ImageInvert -> SaveImage; a fresh colour keeps it out of the cache."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": 64, "batch_size": 1, "color": next(_colors)}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def sampler(steps: int, prefix: str = "sampled") -> dict[str, Any]:
    """The default text-to-image graph; the KSampler is node "3" and always new (fresh seed)."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15-standin.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red barn", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": next(_colors), "steps": steps, "cfg": 8.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0], "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }  # fmt: skip


def unique() -> str:
    return uuid.uuid4().hex[:8]


# --- HTTP ----------------------------------------------------------------------------------------


def test_read_only_routes_and_their_api_twins(comfy: ServerProcess) -> None:
    stats = requests.get(comfy.url + "/system_stats", timeout=TIMEOUT)
    assert stats.headers["Content-Type"] == "application/json; charset=utf-8"
    assert stats.json()["system"]["comfyui_version"] == "0.3.64"
    assert stats.json()["devices"][0]["name"] == "cuda:0 NVIDIA Stand-in"
    assert requests.get(comfy.url + "/api/system_stats", timeout=TIMEOUT).json()["devices"] == stats.json()["devices"]
    assert requests.get(comfy.url + "/api/prompt", timeout=TIMEOUT).json() == {"exec_info": {"queue_remaining": 0}}
    assert requests.get(comfy.url + "/features", timeout=TIMEOUT).json() == {
        "supports_preview_metadata": True, "max_upload_size": 104857600}  # fmt: skip
    assert requests.get(comfy.url + "/embeddings", timeout=TIMEOUT).json() == []
    assert requests.get(comfy.url + "/models", timeout=TIMEOUT).json()[:3] == ["checkpoints", "configs", "loras"]
    assert requests.get(comfy.url + "/models/checkpoints", timeout=TIMEOUT).json() == ["sd15-standin.safetensors"]
    unknown_folder = requests.get(comfy.url + "/models/nope", timeout=TIMEOUT)
    assert (unknown_folder.status_code, unknown_folder.content, unknown_folder.headers.get("Content-Type")) == (404, b"", None)
    assert requests.get(comfy.url + "/history/no-such-id", timeout=TIMEOUT).json() == {}
    no_upgrade = requests.get(comfy.url + "/ws", timeout=TIMEOUT)
    assert no_upgrade.status_code == 400 and no_upgrade.text.startswith("No WebSocket UPGRADE hdr: None")


def test_object_info_has_both_combo_forms(comfy: ServerProcess) -> None:
    info = requests.get(comfy.url + "/object_info", timeout=TIMEOUT).json()
    assert {"EmptyImage", "KSampler", "LoadImage", "SaveImageWebsocket", "GetImageSize", "CreateVideo", "SaveVideo"} <= set(info)
    empty = info["EmptyImage"]
    assert empty["input"]["required"]["color"] == ["INT", {"default": 0, "min": 0, "max": 16777215, "step": 1, "display": "color"}]
    assert empty["input_order"] == {"required": ["width", "height", "batch_size", "color"]}
    assert (empty["output"], empty["output_node"], empty["python_module"]) == (["IMAGE"], False, "nodes")
    assert info["SaveImage"]["input"]["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert info["LoadImage"]["input"]["required"]["image"][1] == {"image_upload": True}  # V1 combo: a list of options
    assert info["KSampler"]["input"]["required"]["sampler_name"][0][0] == "euler"
    video_format = info["SaveVideo"]["input"]["required"]["format"]  # V3 combo
    assert video_format[0] == "COMBO" and video_format[1]["options"] == ["auto", "mp4"] and video_format[1]["multiselect"] is False
    single = requests.get(comfy.url + "/object_info/ImageInvert", timeout=TIMEOUT).json()
    assert single["ImageInvert"]["display_name"] == "Invert Image"
    assert single["ImageInvert"]["input"] == {"required": {"image": ["IMAGE"]}}
    assert requests.get(comfy.url + "/object_info/NoSuchNode", timeout=TIMEOUT).json() == {}


def test_foreign_origin_on_loopback_is_refused(comfy: ServerProcess) -> None:
    for origin in ("http://evil.example", "http://127.0.0.1:1"):
        refused = requests.get(comfy.url + "/system_stats", headers={"Origin": origin}, timeout=TIMEOUT)
        assert (refused.status_code, refused.content, refused.headers.get("Content-Type")) == (403, b"", None)
    assert requests.get(comfy.url + "/system_stats", headers={"Origin": comfy.url}, timeout=TIMEOUT).status_code == 200
    with pytest.raises(websocket.WebSocketBadStatusException) as refused_ws:
        connect(comfy, "cors", origin="http://evil.example")
    assert refused_ws.value.status_code == 403


def test_prompt_400_bodies_and_500(comfy: ServerProcess) -> None:
    def rejected(body: Any) -> dict[str, Any]:
        response = requests.post(comfy.url + "/prompt", json=body, timeout=TIMEOUT)
        assert response.status_code == 400, response.text
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        return dict(response.json())

    def error(kind: str, message: str, details: str) -> dict[str, Any]:
        return {"type": kind, "message": message, "details": details, "extra_info": {}}

    assert rejected({}) == {"error": error("no_prompt", "No prompt provided", "No prompt provided"), "node_errors": {}}
    missing_class = rejected({"prompt": {"1": {"inputs": {}}}})
    assert missing_class["error"] == error(
        "invalid_prompt", "Cannot execute because a node is missing the class_type property.", "Node ID '#1'")  # fmt: skip
    unknown = rejected({"prompt": {**invert_chain("x"), "2": {"class_type": "NoSuchNode", "inputs": {}}}})
    assert unknown["error"] == error("invalid_prompt", "Cannot execute because node NoSuchNode does not exist.", "Node ID '#2'")
    no_outputs = rejected({"prompt": {"1": invert_chain("x")["1"]}})
    assert no_outputs == {"error": error("prompt_no_outputs", "Prompt has no outputs", ""), "node_errors": {}}

    graph = invert_chain("x")
    del graph["1"]["inputs"]["width"]
    assert rejected({"prompt": graph}) == {
        "error": error("prompt_outputs_failed_validation", "Prompt outputs failed validation", ""),
        "node_errors": {"1": {"errors": [{"type": "required_input_missing", "message": "Required input is missing",
                                          "details": "width", "extra_info": {"input_name": "width"}}],
                              "dependent_outputs": ["3"], "class_type": "EmptyImage"}},
    }  # fmt: skip

    def first_error(graph: dict[str, Any], node_id: str) -> dict[str, Any]:
        return dict(rejected({"prompt": graph})["node_errors"][node_id]["errors"][0])

    too_small = first_error(invert_chain("x", width=0), "1")
    assert too_small["type"] == "value_smaller_than_min" and too_small["message"] == "Value 0 smaller than min of 1"
    assert too_small["extra_info"]["input_config"][0] == "INT" and too_small["extra_info"]["received_value"] == 0
    wrong_type = first_error(invert_chain("x", width="wide"), "1")
    assert (wrong_type["type"], wrong_type["message"]) == ("invalid_input_type", "Failed to convert an input value to a INT value")
    dangling = invert_chain("x")
    dangling["2"]["inputs"]["image"] = ["99", 0]
    inner = first_error(dangling, "2")
    assert inner["type"] == "exception_during_inner_validation"
    assert inner["extra_info"]["exception_type"] == "KeyError" and inner["extra_info"]["linked_node"] == ["2", 0]
    assert isinstance(inner["extra_info"]["traceback"], list)
    bad_slot = invert_chain("x")
    bad_slot["3"]["inputs"]["images"] = ["2", 5]
    outer = first_error(bad_slot, "3")
    assert (outer["type"], outer["extra_info"]["exception_type"]) == ("exception_during_validation", "IndexError")
    missing_file = {"1": {"class_type": "LoadImage", "inputs": {"image": "does_not_exist.png"}},
                    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}  # fmt: skip
    custom = first_error(missing_file, "1")
    assert (custom["type"], custom["details"]) == ("custom_validation_failed", "image - Invalid image file: does_not_exist.png")

    for body in ("{not json", json.dumps({"prompt": [1, 2]})):
        crashed = requests.post(comfy.url + "/prompt", data=body, timeout=TIMEOUT)
        assert (crashed.status_code, crashed.text) == (500, SERVER_ERROR)
        assert crashed.headers["Content-Type"].startswith("text/plain")


def test_prompt_numbering_ids_and_extra_data(comfy: ServerProcess) -> None:
    base = post_prompt(comfy, invert_chain("numbering")).json()["number"]
    assert post_prompt(comfy, {}).status_code == 400  # still counts
    assert post_prompt(comfy, invert_chain("numbering")).json()["number"] == base + 2
    assert post_prompt(comfy, invert_chain("numbering"), front=True).json()["number"] == -(base + 3)
    assert post_prompt(comfy, invert_chain("numbering"), number=7.5).json()["number"] == 7.5  # does not count
    own_id = f"my-own-id-{unique()}"
    extra = {"extra_pnginfo": {"workflow": {"nodes": []}}, "auth_token_comfy_org": "secret", "api_key_comfy_org": "key"}
    accepted = post_prompt(comfy, invert_chain("numbering"), prompt_id=own_id, extra_data=extra, client_id="someone").json()
    assert accepted == {"prompt_id": own_id, "number": base + 4, "node_errors": {}}
    entry = history(comfy, own_id)
    assert entry["prompt"][1] == own_id and entry["prompt"][2]["3"]["inputs"]["filename_prefix"] == "numbering"
    assert entry["prompt"][3] == {"extra_pnginfo": {"workflow": {"nodes": []}}, "client_id": "someone"}
    assert entry["prompt"][4] == ["3"]
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [message[0] for message in entry["status"]["messages"]] == ["execution_start", "execution_cached", "execution_success"]
    assert entry["meta"] == {"3": {"node_id": "3", "display_node": "3", "parent_node": None, "real_node_id": "3"}}


def test_free_memory_empties_the_cache(comfy: ServerProcess) -> None:
    graph = invert_chain("freed")
    history(comfy, queued(comfy, graph))
    assert requests.post(comfy.url + "/free", json={"free_memory": True}, timeout=TIMEOUT).status_code == 200

    def emptied() -> bool:
        return requests.get(comfy.url + "/_standin/state", timeout=TIMEOUT).json()["cached_outputs"] == 0

    wait_until(emptied, TIMEOUT, message="the worker applies /free")
    messages = history(comfy, queued(comfy, graph))["status"]["messages"]
    assert messages[1] == ["execution_cached", {**messages[1][1], "nodes": []}]


def test_in_process_stand_in_without_websocket() -> None:
    with StandIn(node_delay=0.0, websocket=False, comfyui_version="0.3.99") as standin:
        stats = requests.get(standin.url + "/system_stats", timeout=TIMEOUT).json()
        assert stats["system"]["comfyui_version"] == "0.3.99"
        assert stats["system"]["argv"] == ["main.py", "--listen", "127.0.0.1", "--port", str(standin.port)]
        assert requests.get(standin.url + "/ws", timeout=TIMEOUT).status_code == 404
        assert requests.get(standin.url + "/_standin/state", timeout=TIMEOUT).json()["websocket"] is False


# --- WebSocket: handshake and runs ------------------------------------------------------------------


def test_first_frame_and_feature_flags(comfy: ServerProcess) -> None:
    named = connect(comfy, "probe-client")
    assert receive(named) == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "probe-client"}}
    named.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    assert receive(named) == {"type": "feature_flags", "data": {"supports_preview_metadata": True, "max_upload_size": 104857600}}
    named.send(json.dumps({"type": "feature_flags", "data": {}}))
    assert_silent(named)  # only the first client message is answered
    named.close()

    anonymous = connect(comfy)
    assert re.fullmatch(r"[0-9a-f]{32}", data(receive(anonymous))["sid"])
    anonymous.send(json.dumps({"type": "hello"}))
    anonymous.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    assert_silent(anonymous)  # flags sent second are ignored
    anonymous.close()


def test_fresh_run_cached_rerun_and_prefix_change(comfy: ServerProcess) -> None:
    client, folder = f"seq-{unique()}", f"seq/{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    graph = invert_chain(f"{folder}/probe")
    fresh_id = queued(comfy, graph, client_id=client)
    fresh = collect(ws, finished(fresh_id))
    assert kinds(fresh) == [
        "status", "status", "execution_start", "execution_cached",
        "progress_state", "executing", "progress_state",
        "progress_state", "executing", "progress_state",
        "progress_state", "executing", "executed", "progress_state",
        "execution_success", "status", "executing",
    ]  # fmt: skip
    assert [data(frame)["status"]["exec_info"]["queue_remaining"] for frame in fresh if is_type("status")(frame)] == [1, 1, 0]
    assert data(fresh[3])["nodes"] == []
    first_state = data(fresh[4])
    assert first_state["nodes"] == {"1": {"value": 0.0, "max": 1.0, "state": "running", "node_id": "1", "prompt_id": fresh_id,
                                          "display_node_id": "1", "parent_node_id": None, "real_node_id": "1"}}  # fmt: skip
    assert data(fresh[5]) == {"node": "1", "display_node": "1", "prompt_id": fresh_id}
    images = [{"filename": "probe_00001_.png", "subfolder": folder, "type": "output"}]
    assert data(fresh[12]) == {"node": "3", "display_node": "3", "output": {"images": images}, "prompt_id": fresh_id}
    assert {node["state"] for node in data(fresh[13])["nodes"].values()} == {"finished"}

    cached_id = queued(comfy, graph, client_id=client)
    cached = collect(ws, finished(cached_id))
    assert kinds(cached) == ["status", "status", "execution_start", "execution_cached", "executed", "progress_state",
                             "execution_success", "status", "executing"]  # fmt: skip
    assert data(cached[3])["nodes"] == ["1", "2", "3"]
    assert data(cached[4])["output"] == {"images": images}
    assert data(cached[5])["nodes"]["3"] | {"prompt_id": None} == {
        "value": 1, "max": 1, "state": "finished", "node_id": "3", "prompt_id": None,
        "display_node_id": "3", "parent_node_id": None, "real_node_id": "3"}  # fmt: skip
    assert type(data(cached[5])["nodes"]["3"]["value"]) is int
    assert history(comfy, cached_id)["outputs"] == {"3": {"images": images}}

    graph["3"]["inputs"]["filename_prefix"] = f"{folder}/renamed"
    renamed_id = queued(comfy, graph, client_id=client)
    renamed = collect(ws, finished(renamed_id))
    assert data(renamed[3])["nodes"] == ["1", "2"]
    assert [data(frame)["node"] for frame in renamed if is_type("executing")(frame)] == ["3", None]
    ws.close()

    view = requests.get(comfy.url + "/view", params={"filename": "probe_00001_.png", "subfolder": folder}, timeout=TIMEOUT)
    assert view.status_code == 200 and view.headers["Content-Type"] == "image/png" and view.content.startswith(PNG)
    assert view.headers["Content-Disposition"] == 'filename="probe_00001_.png"'
    annotated = {"filename": "probe_00001_.png [output]", "subfolder": folder, "type": "temp"}
    assert requests.get(comfy.url + "/view", params=annotated, timeout=TIMEOUT).content == view.content


def test_prompt_without_client_id_reaches_nobody_but_broadcasts(comfy: ServerProcess) -> None:
    observer = connect(comfy, f"observer-{unique()}")
    receive(observer)
    prompt_id = queued(comfy, invert_chain("anonymous"))
    idle = {"status": {"exec_info": {"queue_remaining": 0}}}
    frames = collect(observer, lambda frame: is_type("status")(frame) and data(frame) == idle)
    assert set(kinds(frames)) == {"status", "progress_state"}
    assert history(comfy, prompt_id)["status"]["status_str"] == "success"
    assert_silent(observer)  # no executing{node:null} either
    observer.close()


def test_queue_heap_order_delete_and_clear(comfy: ServerProcess) -> None:
    client = f"queue-{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    blocker = queued(comfy, sampler(steps=500), client_id=client)
    wait_until(lambda: requests.get(comfy.url + "/queue", timeout=TIMEOUT).json()["queue_running"], TIMEOUT)
    numbers, ids = [], []
    for front in (False, False, True):
        accepted = post_prompt(comfy, invert_chain("queued"), client_id=client, front=front).json()
        numbers.append(accepted["number"])
        ids.append(accepted["prompt_id"])
    heap: list[float] = []
    for number in numbers:
        heapq.heappush(heap, number)
    listing = requests.get(comfy.url + "/queue", timeout=TIMEOUT).json()
    assert [item[0] for item in listing["queue_pending"]] == heap  # heap-array order, not sorted
    assert numbers[2] < 0 and listing["queue_pending"][0][1] == ids[2]
    running = listing["queue_running"][0]
    assert len(running) == 5 and running[1] == blocker and running[3] == {"client_id": client} and running[4] == ["9"]

    assert requests.post(comfy.url + "/queue", json={"delete": [ids[0], blocker]}, timeout=TIMEOUT).content == b""
    assert len(requests.get(comfy.url + "/queue", timeout=TIMEOUT).json()["queue_pending"]) == 2  # running is untouched
    requests.post(comfy.url + "/queue", json={"clear": True}, timeout=TIMEOUT)
    assert requests.get(comfy.url + "/api/queue", timeout=TIMEOUT).json()["queue_pending"] == []
    requests.post(comfy.url + "/interrupt", timeout=TIMEOUT)
    frames = collect(ws, finished(blocker))
    remaining = [data(frame)["status"]["exec_info"]["queue_remaining"] for frame in frames if is_type("status")(frame)]
    assert remaining == [1, 1, 2, 3, 4, 3, 1, 0]
    assert kinds(frames)[-3:] == ["execution_interrupted", "status", "executing"]
    assert all(requests.get(f"{comfy.url}/history/{prompt_id}", timeout=TIMEOUT).json() == {} for prompt_id in ids)
    ws.close()


def test_interrupt_inside_a_node_targeted_and_global(comfy: ServerProcess) -> None:
    client = f"interrupt-{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    prompt_id = queued(comfy, sampler(steps=500), client_id=client)
    started = collect(ws, is_type("progress", value=3, node="3"))
    cached = first(started, "execution_cached")["nodes"]
    assert requests.post(comfy.url + "/interrupt", json={"prompt_id": "not-running"}, timeout=TIMEOUT).status_code == 200
    collect(ws, is_type("progress", value=8, node="3"))  # still running
    requests.post(comfy.url + "/interrupt", json={"prompt_id": prompt_id}, timeout=TIMEOUT)
    frames = collect(ws, finished(prompt_id))
    interrupted = first(frames, "execution_interrupted")
    assert interrupted["node_id"] == "3" and interrupted["node_type"] == "KSampler"
    assert sorted(interrupted["executed"] + cached) == ["4", "5", "6", "7"]  # the sampler's inputs, run or cached
    assert set(interrupted) == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
    assert kinds(frames)[-3:] == ["execution_interrupted", "status", "executing"]
    assert "execution_success" not in kinds(frames)
    entry = history(comfy, prompt_id)
    assert (entry["status"]["status_str"], entry["status"]["completed"], entry["outputs"]) == ("error", False, {})
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"
    ws.close()


def test_interrupt_between_nodes_lands_at_the_next_node(comfy: ServerProcess) -> None:
    control(comfy, node_delay=0.6)  # the interrupt must land while node 11 works
    client = f"between-{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    chain = invert_chain("blurred")
    blur = {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}}
    graph = {"1": chain["1"], "10": blur, "11": {**blur, "inputs": {**blur["inputs"], "image": ["10", 0]}},
             "12": {**blur, "inputs": {**blur["inputs"], "image": ["11", 0]}},
             "3": {**chain["3"], "inputs": {"images": ["12", 0], "filename_prefix": "blurred"}}}  # fmt: skip
    prompt_id = queued(comfy, graph, client_id=client)
    collect(ws, is_type("executing", node="11"), timeout=TIMEOUT)
    requests.post(comfy.url + "/interrupt", timeout=TIMEOUT)
    frames = collect(ws, finished(prompt_id))
    assert kinds(frames) == ["progress_state", "progress_state", "executing", "execution_interrupted", "status", "executing"]
    assert data(frames[0])["nodes"]["11"]["state"] == "finished"
    assert data(frames[1])["nodes"]["12"]["state"] == "running"
    interrupted = data(frames[3])
    assert (interrupted["node_id"], interrupted["node_type"], sorted(interrupted["executed"])) == ("12", "ImageBlur", ["1", "10", "11"])
    ws.close()


def test_steps_control_shortens_the_sampler(comfy: ServerProcess) -> None:
    control(comfy, steps=3)
    client = f"steps-{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    prompt_id = queued(comfy, sampler(steps=500, prefix=f"steps_{client}"), client_id=client)
    frames = collect(ws, finished(prompt_id))
    progress = [data(frame) for frame in frames if is_type("progress")(frame)]
    assert [(step["value"], step["max"], step["node"]) for step in progress] == [(1, 3, "3"), (2, 3, "3"), (3, 3, "3")]
    saved = first(frames, "executed", node="9")["output"]["images"][0]
    image = requests.get(comfy.url + "/view", params={"filename": saved["filename"]}, timeout=TIMEOUT).content
    assert image.startswith(PNG) and struct.unpack(">II", image[16:24]) == (64, 64)
    ws.close()


def test_runtime_errors_from_a_bad_file_and_an_injected_failure(comfy: ServerProcess) -> None:
    upload = requests.post(comfy.url + "/upload/image", files={"image": ("corrupt.png", b"not an image")}, timeout=TIMEOUT)
    name = upload.json()["name"]
    client = f"errors-{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "never"}}}  # fmt: skip
    prompt_id = queued(comfy, graph, client_id=client)
    frames = collect(ws, finished(prompt_id))
    assert kinds(frames) == ["status", "status", "execution_start", "execution_cached", "progress_state", "executing",
                             "execution_error", "status", "executing"]  # fmt: skip
    error = data(frames[6])
    assert (error["node_id"], error["node_type"], error["executed"]) == ("1", "LoadImage", [])
    assert re.fullmatch(r"cannot identify image file '.*/input/corrupt\.png'\n", error["exception_message"])
    assert error["exception_type"] == "PIL.UnidentifiedImageError"
    assert error["current_inputs"] == {"image": [name]} and sorted(error["current_outputs"]) == ["1", "2"]
    assert error["traceback"] and all(isinstance(line, str) for line in error["traceback"])
    assert history(comfy, prompt_id)["status"]["messages"][-1][0] == "execution_error"

    control(comfy, fail_nodes=["ImageInvert"])
    failing_id = queued(comfy, invert_chain("injected"), client_id=client)
    injected = first(collect(ws, finished(failing_id)), "execution_error")
    assert (injected["node_id"], injected["exception_type"], injected["executed"]) == ("2", "RuntimeError", ["1"])
    ws.close()


def test_preview_frames_legacy_and_with_metadata(comfy: ServerProcess) -> None:
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 255}},
             "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}}}  # fmt: skip
    legacy_client = f"legacy-{unique()}"
    legacy = connect(comfy, legacy_client)
    receive(legacy)
    prompt_id = queued(comfy, graph, client_id=legacy_client)
    frames = collect(legacy, finished(prompt_id))
    start = frames.index(next(frame for frame in frames if is_type("executing", node="2")(frame)))
    assert kinds(frames[start + 1 : start + 8]) == ["progress_state", "progress", "binary1"] * 2 + ["progress_state"]
    assert data(frames[start + 2]) == {"value": 0, "max": 2, "prompt_id": prompt_id, "node": "2"}
    preview = frames[start + 3]
    assert isinstance(preview, bytes) and preview[:8] == struct.pack(">II", 1, 2) and preview[8:16] == PNG
    assert "executed" not in kinds(frames)  # SaveImageWebsocket shows nothing
    legacy.close()

    modern_client = f"modern-{unique()}"
    modern = connect(comfy, modern_client)
    receive(modern)
    modern.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    receive(modern)
    prompt_id = queued(comfy, graph, client_id=modern_client)
    frames = collect(modern, finished(prompt_id))
    start = frames.index(next(frame for frame in frames if is_type("executing", node="2")(frame)))
    assert kinds(frames[start + 1 : start + 4]) == ["progress_state", "binary4", "progress"]
    framed = frames[start + 2]
    assert isinstance(framed, bytes)
    length = struct.unpack(">I", framed[4:8])[0]
    assert json.loads(framed[8 : 8 + length]) == {"node_id": "2", "prompt_id": prompt_id, "display_node_id": "2",
                                                  "parent_node_id": None, "real_node_id": "2", "image_type": "image/png"}  # fmt: skip
    assert framed[8 + length :].startswith(PNG)
    modern.close()


def test_text_frames_are_broadcast_and_previews_land_in_temp(comfy: ServerProcess) -> None:
    observer = connect(comfy, f"watcher-{unique()}")
    receive(observer)
    client = f"owner-{unique()}"
    owner = connect(comfy, client)
    receive(owner)
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 48, "height": 32, "batch_size": 1, "color": next(_colors)}},
             "4": {"class_type": "GetImageSize", "inputs": {"image": ["1", 0]}},
             "5": {"class_type": "EmptyImage", "inputs": {"width": ["4", 0], "height": ["4", 1], "batch_size": 1, "color": 0}},
             "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}}}  # fmt: skip
    prompt_id = queued(comfy, graph, client_id=client)
    text = struct.pack(">II", 3, 1) + b"4" + b"width: 48, height: 32\n batch size: 1"
    seen = collect(observer, lambda frame: frame == text)
    assert set(kinds(seen)) <= {"status", "progress_state", "binary3"}  # another client's prompt: no execution events
    owned = collect(owner, finished(prompt_id))
    assert text in owned
    executed = first(owned, "executed")["output"]["images"][0]
    assert executed["type"] == "temp" and re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.png", executed["filename"])
    view = requests.get(comfy.url + "/view", params={"filename": executed["filename"], "type": "temp"}, timeout=TIMEOUT)
    assert view.content.startswith(PNG) and struct.unpack(">II", view.content[16:24]) == (48, 32)
    observer.close()
    owner.close()


def test_video_nodes_save_an_mp4_stub(comfy: ServerProcess) -> None:
    client = f"video-{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    prefix = f"clip_{unique()}"
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 3, "color": 0}},
             "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 24}},
             "3": {"class_type": "SaveVideo", "inputs": {"video": ["2", 0], "filename_prefix": f"video/{prefix}",
                                                          "format": "auto", "codec": "auto"}}}  # fmt: skip
    prompt_id = queued(comfy, graph, client_id=client)
    output = first(collect(ws, finished(prompt_id)), "executed")["output"]
    assert output == {"images": [{"filename": f"{prefix}_00001_.mp4", "subfolder": "video", "type": "output"}], "animated": [True]}
    video = requests.get(comfy.url + "/view", params={"filename": f"{prefix}_00001_.mp4", "subfolder": "video"}, timeout=TIMEOUT)
    assert video.headers["Content-Type"] == "video/mp4" and video.content[4:8] == b"ftyp"
    ws.close()


# --- files ---------------------------------------------------------------------------------------


def test_view_refuses_traversal(comfy: ServerProcess) -> None:
    cases = {
        "filename=../../etc/passwd": 400,
        "filename=..%2F..%2Fetc%2Fpasswd": 400,
        "filename=/etc/passwd": 400,
        "filename=passwd&subfolder=../../../../etc": 403,
        "filename=x.png&type=nope": 400,
        "filename=missing.png": 404,
        "": 404,
    }
    for query, status in cases.items():
        response = requests.get(f"{comfy.url}/view?{query}", timeout=TIMEOUT)
        assert (query, response.status_code, response.content) == (query, status, b"")


def test_upload_dedupes_renames_and_checks_paths(comfy: ServerProcess) -> None:
    def upload(name: str, data: bytes, **fields: str) -> requests.Response:
        return requests.post(comfy.url + "/upload/image", files={"image": (name, data, "image/png")}, data=fields,
                             timeout=TIMEOUT)  # fmt: skip

    assert upload("probe_up.png", b"first").json() == {"name": "probe_up.png", "subfolder": "", "type": "input"}
    assert upload("probe_up.png", b"first").json()["name"] == "probe_up.png"  # same bytes: deduplicated
    assert upload("probe_up.png", b"second").json()["name"] == "probe_up (1).png"
    assert upload("probe_up.png", b"third").json()["name"] == "probe_up (2).png"
    assert upload("probe_up.png", b"second").json()["name"] == "probe_up (1).png"
    assert upload("probe_up.png", b"replaced", overwrite="true").json()["name"] == "probe_up.png"
    stored = requests.get(comfy.url + "/view", params={"filename": "probe_up.png", "type": "input"}, timeout=TIMEOUT)
    assert stored.content == b"replaced"  # contents are never checked
    assert upload("kept.png", b"x", subfolder="sub", type="temp").json() == {"name": "kept.png", "subfolder": "sub", "type": "temp"}
    assert upload("x.png", b"x", type="nope").status_code == 500
    assert upload("../../evil.png", b"x").status_code == 400
    assert upload("x.png", b"x", subfolder="../../x").status_code == 400
    assert requests.post(comfy.url + "/upload/image", data={"type": "input"}, timeout=TIMEOUT).status_code == 400
    listed = requests.get(comfy.url + "/object_info/LoadImage", timeout=TIMEOUT).json()["LoadImage"]["input"]["required"]
    assert {"probe_up.png", "probe_up (1).png"} <= set(listed["image"][0])


# --- reconnects and faults --------------------------------------------------------------------


def test_reconnect_mid_run_gets_the_current_node(comfy: ServerProcess) -> None:
    client = f"reconnect-{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    prompt_id = queued(comfy, sampler(steps=500), client_id=client)
    collect(ws, is_type("progress", node="3"))
    ws.close()
    again = connect(comfy, client)
    assert receive(again) == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}, "sid": client}}
    assert receive(again) == {"type": "executing", "data": {"node": "3"}}  # no prompt_id, no display_node
    collect(again, is_type("progress", node="3"))
    requests.post(comfy.url + "/interrupt", timeout=TIMEOUT)
    assert kinds(collect(again, finished(prompt_id)))[-3:] == ["execution_interrupted", "status", "executing"]
    again.close()


def test_two_sockets_one_client_id(comfy: ServerProcess) -> None:
    client = f"twins-{unique()}"
    older = connect(comfy, client)
    receive(older)
    newer = connect(comfy, client)
    assert data(receive(newer))["sid"] == client
    prompt_id = queued(comfy, invert_chain("twins"), client_id=client)
    collect(newer, finished(prompt_id))
    assert_silent(older)  # the newer socket took over
    older.close()

    def unregistered() -> bool:
        return client not in requests.get(comfy.url + "/_standin/state", timeout=TIMEOUT).json()["sockets"]

    wait_until(unregistered, TIMEOUT, message="the old socket's close drops the id")
    history(comfy, queued(comfy, invert_chain("twins"), client_id=client))
    assert_silent(newer)  # still open, but deaf: not even status broadcasts
    newer.close()


def test_fault_controls(comfy: ServerProcess) -> None:
    ws = connect(comfy, f"garbage-{unique()}")
    receive(ws)
    control(comfy, send_garbage=True)
    ws.settimeout(TIMEOUT)
    with pytest.raises(json.JSONDecodeError):
        json.loads(ws.recv())
    assert ws.recv() == b"\x00\x01"

    control(comfy, drop_websockets=True)
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv()  # no close frame: the connection is just gone

    control(comfy, refuse_websockets=True)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(comfy, "refused")
    assert refused.value.status_code == 403
    bad = requests.post(comfy.url + "/_standin/control", json={"node_delay": -1}, timeout=TIMEOUT)
    assert bad.status_code == 400 and "node_delay" in bad.json()["error"]


def test_history_slices_delete_and_clear(comfy: ServerProcess) -> None:
    done = [queued(comfy, invert_chain("listed")) for _ in range(3)]
    history(comfy, done[-1])
    newest = requests.get(comfy.url + "/history", params={"max_items": 1}, timeout=TIMEOUT).json()
    assert list(newest) == [done[-1]]
    everything = list(requests.get(comfy.url + "/history", timeout=TIMEOUT).json())
    page = requests.get(comfy.url + "/history", params={"max_items": 2, "offset": 1}, timeout=TIMEOUT).json()
    assert list(page) == everything[1:3]
    requests.post(comfy.url + "/history", json={"delete": [done[0]]}, timeout=TIMEOUT)
    assert requests.get(f"{comfy.url}/history/{done[0]}", timeout=TIMEOUT).json() == {}
    requests.post(comfy.url + "/api/history", json={"clear": True}, timeout=TIMEOUT)
    assert requests.get(comfy.url + "/history", timeout=TIMEOUT).json() == {}


def test_killed_server_sends_no_close_frame_and_restarts_empty(comfy: ServerProcess) -> None:
    client = f"kill-test-{unique()}"
    ws = connect(comfy, client)
    receive(ws)
    before = queued(comfy, invert_chain("before-kill"), client_id=client)
    collect(ws, finished(before))
    comfy.kill()
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        receive(ws)
    with pytest.raises(ConnectionRefusedError):
        connect(comfy, client)
    comfy.start()
    again = connect(comfy, client)
    assert receive(again) == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client}}
    assert requests.get(comfy.url + "/history", timeout=TIMEOUT).json() == {}
    assert requests.get(f"{comfy.url}/history/{before}", timeout=TIMEOUT).json() == {}
    after = queued(comfy, invert_chain("after-kill"), client_id=client)
    assert kinds(collect(again, finished(after)))[-2:] == ["status", "executing"]
    again.close()
