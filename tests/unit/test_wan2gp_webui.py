"""Finding Wan2GP's Generate chain in /config, whatever the `_N` suffixes, and refusing what we cannot drive."""

from __future__ import annotations

from typing import Any

import pytest
import responses

from movie_director.errors import UnsupportedVersion
from movie_director_plugins.gradio.api import AppInfo, parse_app
from movie_director_plugins.wan2gp.webui import _arguments, _check_names, find_chain, looks_like_wan2gp, probe, wan2gp_version
from movie_director_testing.processes import free_port

URL = f"http://127.0.0.1:{free_port()}"
MODEL_DROPDOWN, STATUS_TRIGGER, PROMPT, GENERATE_TRIGGER, QUEUE_TRIGGER = 10, 11, 12, 13, 14


def param(name: str, component: str = "Textbox", required: bool = False, enum: list[str] | None = None, default: Any = "") -> dict[str, Any]:
    type_: dict[str, Any] = {"type": "string", **({"enum": enum} if enum is not None else {})}
    return {"parameter_name": name, "component": component, "parameter_has_default": not required, "parameter_default": default, "type": type_, "python_type": {"type": "str"}}


SAVE_INPUTS = [
    param("prompt", required=True),
    param("negative_prompt"),
    param("resolution", "Dropdown", enum=["832x480", "480x832"], default="832x480"),
    param("video_length", "Number", default=81),
    param("seed", "Number", default=-1),
    param("num_inference_steps", "Number", default=30),
    param("guidance_scale", "Number", default=5),
    param("client_id"),
    param("image_mask_guide", "Image", required=True),
]
SIGNATURES: dict[str, list[dict[str, Any]]] = {
    "init_generate": [],
    "validate_wizard_prompt": [param("wizard_prompt_activated", default="on"), param("prompt", required=True), param("param_5", required=True)],
    "save_inputs": SAVE_INPUTS,
    "process_prompt_and_add_tasks": [param("current_gallery_tab", "Number", default=0), param("model_choice", "Dropdown", True, ["t2v", "i2v"], None)],
    "prepare_generate_media": [],
    "activate_status": [],
    "process_tasks": [],
    "finalize_generation": [],
    "change_model": [param("model_choice", "Dropdown", True, ["t2v", "i2v"], None)],
    "refresh_status_async": [],
    "abort_generation": [],
    "abort_generation_client": [param("client_id")],
    "clear_queue_action": [],
    "lambda": [],
    "update_status": [],
}
GENERATE = ("init_generate", "validate_wizard_prompt", "save_inputs", "process_prompt_and_add_tasks", "prepare_generate_media", "activate_status", "process_tasks", "finalize_generation")


def wan2gp_app(shift: int = 0, without: tuple[str, ...] = (), chain: tuple[str, ...] = GENERATE, via_change: bool = True) -> AppInfo:
    """A config + info shaped like Wan2GP 12.60's: the Generate click runs its first step, which
    writes a hidden textbox whose ``change`` starts the .then() chain (``via_change``; else one
    .then() chain from the click). Registered before it, as on the real UI: "Add New Prompt To
    Queue" the same way but without process_tasks, and a post-processing button reusing the
    Generate chain's textbox."""
    dependencies: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    counts: dict[str, int] = {}

    def add(function: str, targets: list[Any], after: int | None = None, generator: bool = False, outputs: tuple[int, ...] = ()) -> int:
        base = "abort_generation" if function == "abort_generation_client" else function
        number = counts.get(base, 0) + shift
        counts[base] = counts.get(base, 0) + 1
        api_name = base if number == 0 else f"{base}_{number}"
        signature = SIGNATURES[function]
        inputs = [1, *(MODEL_DROPDOWN if p["parameter_name"] == "model_choice" else 100 + i for i, p in enumerate(signature))]
        dependencies.append(
            {"id": len(dependencies), "api_name": api_name, "targets": targets, "trigger_after": after, "inputs": inputs, "outputs": list(outputs), "types": {"generator": generator}}
        )
        info["/" + api_name] = {"parameters": signature, "returns": []}
        return len(dependencies) - 1

    def add_chain(steps: list[str], click: int, trigger: int) -> None:
        previous = None
        for number, step in enumerate(steps):
            outputs = {0: (trigger,) if via_change else (), 1: ()}.get(number, (STATUS_TRIGGER,) if step == "activate_status" else ())
            if number == 0:
                targets, after = [[click, "click"]], None
            elif number == 1 and via_change:
                targets, after = [[trigger, "change"]], None
            else:
                targets, after = [[None, "then"]], previous
            previous = add(step, targets, after, generator=step == "process_tasks", outputs=outputs)

    add("change_model", [[MODEL_DROPDOWN, "change"]])
    add_chain(["lambda", "validate_wizard_prompt", "save_inputs", "process_prompt_and_add_tasks", "update_status"], 24, QUEUE_TRIGGER)
    add("lambda", [[25, "click"]], outputs=(GENERATE_TRIGGER,))  # a post-processing button reusing the chain
    add_chain([s for s in chain if s not in without], 20, GENERATE_TRIGGER)
    add("refresh_status_async", [[STATUS_TRIGGER, "change"]], generator=True)
    add("abort_generation", [[21, "click"]])
    add("abort_generation_client", [[22, "change"]])
    add("clear_queue_action", [[23, "click"]])
    components = [{"id": 1, "type": "state", "props": {}}, {"id": MODEL_DROPDOWN, "type": "dropdown", "props": {"value": "i2v"}}]
    components += [{"id": 2, "type": "markdown", "props": {"value": '<div align=center><H1>Wan<SUP style="color: #2563eb;">GP</SUP> v12.60 <FONT SIZE=4>by'}}]
    components += [{"id": cid, "type": "textbox", "props": {}} for cid in (STATUS_TRIGGER, GENERATE_TRIGGER, QUEUE_TRIGGER, *range(100, 120))]
    config = {"version": "5.29.1", "protocol": "sse_v3", "api_prefix": "/gradio_api", "title": "WanGP", "components": components, "dependencies": dependencies}
    return parse_app(URL, config, {"named_endpoints": info})


@pytest.mark.parametrize("shift", [0, 3])
def test_chain_found_from_config_whatever_the_suffixes(shift: int) -> None:
    chain = find_chain(wan2gp_app(shift))
    names = [step.base_name for step in chain.steps]
    assert names == list(GENERATE)
    assert chain.save_inputs.api_name == f"save_inputs_{shift + 1}"  # not the add-to-queue path's save_inputs
    assert chain.add_tasks.api_name == f"process_prompt_and_add_tasks_{shift + 1}"
    assert chain.change_model is not None and chain.change_model.base_name == "change_model"
    assert chain.status is not None and chain.status.base_name == "refresh_status_async"
    assert chain.abort is not None and not chain.abort.parameters  # the session's own Abort
    assert chain.clear_queue is not None
    assert chain.models() == ["t2v", "i2v"]


def test_a_single_then_chain_from_the_click_is_found_too() -> None:
    names = [step.base_name for step in find_chain(wan2gp_app(via_change=False)).steps]
    assert names == list(GENERATE)


def test_the_add_to_queue_path_alone_is_refused() -> None:
    """Without a chain that runs process_tasks, "Add New Prompt To Queue" is not taken for Generate."""
    with pytest.raises(UnsupportedVersion, match="Generate button"):
        find_chain(wan2gp_app(chain=("init_generate", "validate_wizard_prompt", "save_inputs", "process_prompt_and_add_tasks")))


def test_default_model_is_the_dropdowns_value() -> None:
    app = wan2gp_app()
    assert find_chain(app).default_model(app) == "i2v"


def test_missing_save_inputs_is_an_unsupported_version() -> None:
    with pytest.raises(UnsupportedVersion) as caught:
        find_chain(wan2gp_app(without=("save_inputs",)))
    error = caught.value
    assert "save_inputs" in error.message and "12.60" in error.message
    assert error.fix is not None and (error.fix.setting, error.fix.value) == ("transport", "mcp")
    assert any("headless" in hint for hint in error.hints)


def test_a_chain_in_another_order_is_refused() -> None:
    order = ("init_generate", "process_prompt_and_add_tasks", "save_inputs", "process_tasks")
    with pytest.raises(UnsupportedVersion, match="order"):
        find_chain(wan2gp_app(chain=order))


def test_without_a_generate_chain() -> None:
    with pytest.raises(UnsupportedVersion, match="Generate button"):
        find_chain(wan2gp_app(without=("process_tasks",)))


def test_renamed_save_inputs_parameters_are_named() -> None:
    app = wan2gp_app()
    with pytest.raises(UnsupportedVersion, match="video_guide"):
        _check_names(app, find_chain(app), {"prompt": "x", "video_guide": "a.mp4"})


def test_arguments_by_name_with_empty_required_and_server_defaults() -> None:
    app = wan2gp_app()
    chain = find_chain(app)
    arguments = _arguments(app, chain.save_inputs, {"prompt": "a fox", "seed": 7, "model_choice": "t2v"})
    assert arguments == {"prompt": "a fox", "seed": 7, "image_mask_guide": None}  # the rest: the server's defaults
    validate = next(step for step in chain.steps if step.base_name == "validate_wizard_prompt")
    assert _arguments(app, validate, {"prompt": "a fox", "wizard_prompt_activated": "off"}) == {"wizard_prompt_activated": "off", "prompt": "a fox", "param_5": ""}
    shown = {**app.component(validate.parameter("param_5").component_id), "props": {"value": "from the page"}}  # type: ignore[union-attr]
    app.config["components"].append(shown)  # type: ignore[attr-defined]
    assert _arguments(app, validate, {"prompt": "a fox"})["param_5"] == "from the page"  # what the page's component holds


def test_detection_by_events_and_version_from_the_title() -> None:
    app = wan2gp_app()
    assert looks_like_wan2gp(app.config)
    assert wan2gp_version(app.config) == "12.60"
    other = {"dependencies": [{"api_name": "generate"}, {"api_name": "process_tasks"}]}
    assert not looks_like_wan2gp(other)


@responses.activate
def test_probe_tells_the_ui_from_other_gradio_apps() -> None:
    responses.get(f"{URL}/config", json=dict(wan2gp_app().config))
    found = probe(URL, 2)
    assert found is not None and (found.kind, found.transport, found.version) == ("wan2gp", "webui", "12.60")
    responses.replace(responses.GET, f"{URL}/config", json={"version": "6.31.0", "components": [], "dependencies": [{"api_name": "generate"}]})
    assert probe(URL, 2) is None
