"""Workflows: API format in, UI format refused with a how-to, graphs checked against /object_info."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from movie_director.errors import WorkflowInvalid
from movie_director_plugins.comfyui.workflow import (
    check_api_format,
    describe_node_errors,
    is_ui_format,
    load_workflow,
    nodes_to_run,
    rejection,
    validate,
)

OBJECT_INFO = {
    "EmptyImage": {
        "input": {"required": {"width": ["INT", {"default": 512, "min": 1}], "height": ["INT", {}], "batch_size": ["INT", {}], "color": ["INT", {}]}},
        "output": ["IMAGE"],
        "output_node": False,
    },
    "ImageInvert": {"input": {"required": {"image": ["IMAGE"]}}, "output": ["IMAGE"], "output_node": False},
    "SaveImage": {
        "input": {"required": {"images": ["IMAGE", {}], "filename_prefix": ["STRING", {}]}, "hidden": {"prompt": "PROMPT"}},
        "output": [],
        "output_node": True,
    },
    "Note": {"input": {"optional": {"text": ["STRING", {}]}}, "output": [], "output_node": False},
}


def graph() -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "probe"}, "_meta": {"title": "Save"}},
    }


UI_WORKFLOW = {"last_node_id": 3, "last_link_id": 2, "nodes": [{"id": 1, "type": "EmptyImage"}], "links": [[1, 1, 0, 2, 0, "IMAGE"]], "version": 0.4}


def test_loads_a_mapping_a_json_text_and_a_file(tmp_path: Path) -> None:
    path = tmp_path / "wf_api.json"
    path.write_text(json.dumps(graph()), encoding="utf-8")
    assert load_workflow(graph()) == load_workflow(json.dumps(graph())) == load_workflow(path) == load_workflow(str(path))


def test_node_ids_become_strings_and_inputs_are_copied() -> None:
    source = {1: {"class_type": "Note", "inputs": {"text": "x"}}}
    loaded = check_api_format(source)
    assert list(loaded) == ["1"]
    loaded["1"]["inputs"]["text"] = "changed"
    assert source[1]["inputs"]["text"] == "x"


def test_ui_format_is_refused_with_how_to_export_the_api_format(tmp_path: Path) -> None:
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(UI_WORKFLOW), encoding="utf-8")
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow(path)
    error = caught.value
    assert "UI workflow" in error.message and "API format" in error.message
    assert any("Export (API)" in hint for hint in error.hints)
    assert error.details["format"] == "ui"
    assert is_ui_format(UI_WORKFLOW) and not is_ui_format(graph())


@pytest.mark.parametrize("data", [[], {}, "text", None, 5])
def test_non_graphs_are_refused(data: object) -> None:
    with pytest.raises(WorkflowInvalid, match="not an API-format graph"):
        check_api_format(data)


def test_nodes_without_class_type_or_with_bad_inputs_are_named() -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        check_api_format({"1": {"inputs": {}}, "2": {"class_type": "Note", "inputs": [1]}, "3": "x"})
    assert set(caught.value.node_errors) == {"1", "2", "3"}
    assert caught.value.node_errors["1"]["errors"][0]["type"] == "missing_class_type"


def test_unreadable_file_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(WorkflowInvalid, match="missing.json does not exist"):
        load_workflow(tmp_path / "missing.json")
    with pytest.raises(WorkflowInvalid, match="is a folder"):
        load_workflow(tmp_path)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(WorkflowInvalid, match="binary.json is not a text file"):
        load_workflow(binary)
    listed = tmp_path / "list.json"
    listed.write_text("[]", encoding="utf-8")
    with pytest.raises(WorkflowInvalid, match="list.json: .*got a JSON list"):
        load_workflow(listed)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(WorkflowInvalid, match="not valid JSON"):
        load_workflow(bad)
    with pytest.raises(WorkflowInvalid, match="not valid JSON"):
        load_workflow("{not json")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_windows_encodings_with_a_byte_order_mark_load(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(graph()), encoding=encoding)
    assert load_workflow(path) == load_workflow(graph())


def test_a_valid_graph_passes() -> None:
    validate(graph(), OBJECT_INFO)


def test_unknown_class_is_refused_before_sending() -> None:
    bad = graph()
    bad["4"] = {"class_type": "NoSuchNode", "inputs": {}}
    with pytest.raises(WorkflowInvalid) as caught:
        validate(bad, OBJECT_INFO)
    assert "NoSuchNode is not installed" in caught.value.message
    assert caught.value.node_errors["4"]["errors"][0]["type"] == "missing_node_type"


def test_missing_required_input_is_refused_in_comfyuis_shape() -> None:
    bad = graph()
    del bad["1"]["inputs"]["width"]
    with pytest.raises(WorkflowInvalid) as caught:
        validate(bad, OBJECT_INFO)
    entry = caught.value.node_errors["1"]
    assert entry["class_type"] == "EmptyImage"
    assert entry["errors"] == [{"type": "required_input_missing", "message": "Required input is missing", "details": "width", "extra_info": {"input_name": "width"}}]
    assert "node 1 (EmptyImage): Required input is missing: width" in caught.value.message


def test_links_to_missing_nodes_and_bad_slots_are_refused() -> None:
    bad = graph()
    bad["2"]["inputs"]["image"] = ["9", 0]
    bad["3"]["inputs"]["images"] = ["1", 3]
    with pytest.raises(WorkflowInvalid) as caught:
        validate(bad, OBJECT_INFO)
    assert caught.value.node_errors["2"]["errors"][0]["type"] == "link_to_missing_node"
    assert caught.value.node_errors["3"]["errors"][0]["type"] == "bad_output_slot"


def test_a_graph_without_output_node_is_refused() -> None:
    with pytest.raises(WorkflowInvalid, match="no output node") as caught:
        validate({"1": graph()["1"]}, OBJECT_INFO)
    assert caught.value.details["error_type"] == "prompt_no_outputs"


def test_many_problems_are_summarised() -> None:
    bad = {str(n): {"class_type": f"Missing{n}", "inputs": {}} for n in range(5)}
    with pytest.raises(WorkflowInvalid) as caught:
        validate(bad, OBJECT_INFO)
    assert "and 2 more" in caught.value.message
    assert len(caught.value.node_errors) == 5


def test_nodes_to_run_follows_links_back_from_outputs() -> None:
    full = graph()
    full["9"] = {"class_type": "Note", "inputs": {"text": "not connected"}}
    assert nodes_to_run(full, OBJECT_INFO) == {"1", "2", "3"}
    assert nodes_to_run(full, None) == {"1", "2", "3", "9"}


def test_400_bodies_become_typed_errors_with_the_servers_message_and_node_errors() -> None:
    body = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
        "node_errors": {
            "1": {
                "errors": [{"type": "required_input_missing", "message": "Required input is missing", "details": "width", "extra_info": {"input_name": "width"}}],
                "dependent_outputs": ["3"],
                "class_type": "EmptyImage",
            }
        },
    }
    error = rejection(body)
    assert isinstance(error, WorkflowInvalid)
    assert error.message.startswith("ComfyUI rejected the workflow: Prompt outputs failed validation")
    assert "node 1 (EmptyImage): Required input is missing: width" in error.message
    assert error.node_errors == body["node_errors"]
    assert error.details["error_type"] == "prompt_outputs_failed_validation"
    assert error.details["status"] == 400


def test_400_without_node_errors_keeps_the_details() -> None:
    body = {"error": {"type": "invalid_prompt", "message": "Cannot execute because node NoSuchNode does not exist.", "details": "Node ID '#2'", "extra_info": {}}, "node_errors": {}}
    error = rejection(body)
    assert error.message == "ComfyUI rejected the workflow: Cannot execute because node NoSuchNode does not exist (Node ID '#2')."
    assert error.node_errors == {}


@pytest.mark.parametrize("body", [None, "text", {"error": "plain string"}, {"node_errors": "odd"}])
def test_odd_400_bodies_still_give_a_message(body: object) -> None:
    assert rejection(body).message.startswith("ComfyUI rejected the workflow")


def test_describe_node_errors_tolerates_odd_entries() -> None:
    assert describe_node_errors({"5": "odd", "6": {"errors": ["odd"]}}) == ["node 5: invalid", "node 6: invalid"]
