"""Decoding ComfyUI WebSocket frames into typed events: every type, unknown ones, garbage."""

from __future__ import annotations

import json
import struct

import pytest

from movie_director_plugins.comfyui import events as ev

PID = "748a8d76-0000-4000-8000-000000000001"


def frame(kind: str, data: object, compact: bool = False) -> bytes:
    separators = (",", ":") if compact else None
    return json.dumps({"type": kind, "data": data}, separators=separators).encode()


def test_status_event_reads_queue_remaining_and_sid() -> None:
    event = ev.parse_text(frame("status", {"status": {"exec_info": {"queue_remaining": 2}}, "sid": "me"}))
    assert isinstance(event, ev.StatusEvent)
    assert (event.type, event.queue_remaining, event.sid, event.prompt_id) == ("status", 2, "me", None)


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("execution_start", ev.ExecutionStartEvent),
        ("execution_success", ev.ExecutionSuccessEvent),
        ("execution_cached", ev.ExecutionCachedEvent),
        ("executing", ev.ExecutingEvent),
        ("progress", ev.ProgressEvent),
        ("progress_state", ev.ProgressStateEvent),
        ("executed", ev.ExecutedEvent),
        ("execution_error", ev.ExecutionErrorEvent),
        ("execution_interrupted", ev.ExecutionInterruptedEvent),
    ],
)
def test_every_known_type_gets_its_class_and_prompt_id(kind: str, cls: type[ev.ComfyUIEvent]) -> None:
    event = ev.parse_text(frame(kind, {"prompt_id": PID, "timestamp": 1}))
    assert type(event) is cls
    assert event.type == kind
    assert event.prompt_id == PID


def test_progress_and_executing_accessors() -> None:
    progress = ev.parse_text(frame("progress", {"value": 117, "max": 400, "prompt_id": PID, "node": 3}))
    assert (progress.node, progress.value, progress.max) == ("3", 117.0, 400.0)
    assert ev.parse_text(frame("executing", {"node": "12", "display_node": "12", "prompt_id": PID})).node == "12"
    last = ev.parse_text(frame("executing", {"node": None, "prompt_id": PID}))
    assert last.node is None and last.prompt_id == PID


def test_executing_after_reconnect_has_no_prompt_id() -> None:
    event = ev.parse_text(frame("executing", {"node": "12"}))
    assert event.node == "12" and event.prompt_id is None


def test_cached_executed_and_progress_state_accessors() -> None:
    assert ev.parse_text(frame("execution_cached", {"nodes": ["1", 2], "prompt_id": PID})).nodes == ["1", "2"]
    images = {"images": [{"filename": "probe_ws_00002_.png", "subfolder": "", "type": "output"}]}
    executed = ev.parse_text(frame("executed", {"node": "3", "display_node": "3", "output": images, "prompt_id": PID}))
    assert executed.node == "3" and executed.output == images
    state = ev.parse_text(frame("progress_state", {"prompt_id": PID, "nodes": {"1": {"state": "finished"}}}))
    assert state.nodes == {"1": {"state": "finished"}}


def test_execution_error_carries_node_and_exception() -> None:
    data = {
        "prompt_id": PID,
        "node_id": "1",
        "node_type": "LoadImage",
        "executed": [],
        "exception_message": "cannot identify image file 'corrupt.png'\n",
        "exception_type": "PIL.UnidentifiedImageError",
        "traceback": ["a", "b"],
    }
    event = ev.parse_text(frame("execution_error", data))
    assert (event.node_id, event.node_type, event.exception_type) == ("1", "LoadImage", "PIL.UnidentifiedImageError")
    assert event.exception_message == "cannot identify image file 'corrupt.png'"


def test_interrupted_event_names_the_node() -> None:
    event = ev.parse_text(frame("execution_interrupted", {"prompt_id": PID, "node_id": "12", "node_type": "ImageBlur", "executed": ["1"]}))
    assert (event.node_id, event.node_type) == ("12", "ImageBlur")


def test_unknown_type_passes_through_untouched() -> None:
    data = {"anything": [1, {"nested": True}], "prompt_id": PID}
    event = ev.parse_text(frame("brand_new_event", data))
    assert type(event) is ev.ComfyUIEvent
    assert event.type == "brand_new_event"
    assert event.data == data


def test_compact_json_and_str_frames_decode_the_same() -> None:
    compact = ev.parse_text(frame("progress", {"value": 1, "max": 2, "node": "3"}, compact=True))
    text = ev.parse_text(frame("progress", {"value": 1, "max": 2, "node": "3"}).decode())
    assert type(compact) is type(text) is ev.ProgressEvent
    assert compact == text


def test_key_order_other_than_comfyuis_still_decodes() -> None:
    event = ev.parse_text(b'{"data": {"node": "4"}, "type": "executing"}')
    assert isinstance(event, ev.ExecutingEvent) and event.node == "4"


def test_non_object_data_is_wrapped() -> None:
    assert ev.parse_text(frame("custom", [1, 2])).data == {"value": [1, 2]}
    assert ev.parse_text(b'{"type": "custom"}').data == {}


@pytest.mark.parametrize(
    "raw",
    [b"stand-in garbage: this is not JSON {", b"[1, 2]", b'{"type": 5, "data": {}}', b'{"no_type": 1}', b"", "\u00e9t\u00e9 pas json"],
)
def test_garbage_becomes_a_malformed_event(raw: bytes | str) -> None:
    event = ev.parse_text(raw)
    assert event.type == ev.MALFORMED
    assert "reason" in event.data


def test_a_frame_cut_after_its_type_decodes_to_empty_data_without_raising() -> None:
    event = ev.parse_text(b'{"type": "progress", "data": {"value": 3, "max"')
    assert isinstance(event, ev.ProgressEvent)
    assert event.data == {} and event.value == 0.0 and event.node is None and event.prompt_id is None


def test_escaped_quote_in_type_falls_back_to_a_full_parse() -> None:
    event = ev.parse_text(json.dumps({"type": 'we"ird', "data": {"x": 1}}).encode())
    assert event.type == 'we"ird' and event.data == {"x": 1}


def test_binary_legacy_preview_png() -> None:
    png = b"\x89PNG\r\n\x1a\nrest"
    event = ev.decode_binary(struct.pack(">II", 1, 2) + png)
    assert isinstance(event, ev.PreviewImageEvent)
    assert (event.type, event.image_type, event.payload, event.prompt_id) == (ev.PREVIEW_IMAGE, "image/png", png, None)


def test_binary_legacy_preview_jpeg_and_unknown_format() -> None:
    assert ev.decode_binary(struct.pack(">II", 1, 1) + b"\xff\xd8").image_type == "image/jpeg"
    assert ev.decode_binary(struct.pack(">II", 1, 9) + b"?").image_type == "application/octet-stream"


def test_binary_preview_with_metadata() -> None:
    metadata = {"node_id": "2", "prompt_id": PID, "display_node_id": "2", "parent_node_id": None, "real_node_id": "2", "image_type": "image/png"}
    header = json.dumps(metadata).encode()
    event = ev.decode_binary(struct.pack(">II", 4, len(header)) + header + b"IMAGE")
    assert isinstance(event, ev.PreviewImageEvent)
    assert event.payload == b"IMAGE"
    assert (event.node_id, event.prompt_id, event.image_type) == ("2", PID, "image/png")


def test_binary_text_frame() -> None:
    event = ev.decode_binary(struct.pack(">II", 3, 1) + b"4" + b"width: 48, height: 32\n batch size: 1")
    assert isinstance(event, ev.ProgressTextEvent)
    assert (event.node_id, event.text) == ("4", "width: 48, height: 32\n batch size: 1")


def test_unknown_binary_type_passes_through_with_its_bytes() -> None:
    event = ev.decode_binary(struct.pack(">I", 9) + b"payload")
    assert (event.type, event.data, event.payload) == (ev.BINARY, {"event_type": 9}, b"payload")


@pytest.mark.parametrize(
    "raw",
    [b"\x00\x01", b"", struct.pack(">I", 4), struct.pack(">II", 4, 100) + b"{}", struct.pack(">II", 3, 50) + b"x"],
)
def test_short_or_truncated_binary_frames_are_malformed(raw: bytes) -> None:
    event = ev.decode_binary(raw)
    assert event.type == ev.MALFORMED
    assert event.payload == b""


def test_metadata_that_is_not_json_gives_empty_data() -> None:
    event = ev.decode_binary(struct.pack(">II", 4, 3) + b"{x}IMG")
    assert event.type == ev.PREVIEW_IMAGE and event.data == {} and event.payload == b"IMG"


def test_feature_flags_message_asks_for_preview_metadata() -> None:
    assert json.loads(ev.FEATURE_FLAGS_MESSAGE) == {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


def test_events_are_comparable_and_readable() -> None:
    event = ev.ComfyUIEvent("custom", {"a": 1}, b"xy")
    assert event == ev.ComfyUIEvent("custom", {"a": 1}, b"xy")
    assert event != ev.ComfyUIEvent("custom", {"a": 2}, b"xy")
    assert "custom" in repr(event) and "'a': 1" in repr(event)
