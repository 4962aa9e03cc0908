"""A stand-in for the Wan2GP 12.60 web UI (Gradio 5.29), without models or a GPU.

It reproduces what a gradio_client sees of the real `wgp.py`: the "WanGP" identification
in `/config`, the hidden per-session `gr.State`, endpoint names derived from function
names with Gradio's own `_N` suffixes (the same function registered on several events, as
the real UI does), the Generate button's event chain with the real API signatures
(`save_inputs` takes the 129 form parameters) wired as on the real UI — the Generate click
runs only the 5-input `init_generate`, which writes a hidden textbox whose `change` event
starts the `.then()` chain; "Add New Prompt To Queue" starts a parallel chain on a second
hidden textbox that queues without running (`process_tasks` is not in it); a
post-processing button writes the Generate chain's textbox too — Gradio's own Dropdown validation, and the
way a failure surfaces (`gr.Error("An error happened while ...")`). Generation is
simulated: `process_tasks` walks through the denoising steps with `gr.Progress`, updates
the session status text and copies a tiny real MP4 into the save path.

Test-only levers, kept outside the generate chain and hidden from `/info`
(`show_api=False`; gradio_client still calls them by name):
- `/_test_last_settings`: the form the session's last queued task carried, and its model;
- `/_test_control` (a JSON string): `step_seconds`, `fail_at_step` (`null` clears it).
The same levers exist as flags, plus `--suffix-shift K` (K extra earlier registrations of
every endpoint, so every suffix moves) and `--no-save-inputs` (an older Wan2GP without
`save_inputs`).

Runs in the gradio5 server venv: it imports only gradio and the standard library.
"""

from __future__ import annotations

import argparse
import html
import inspect
import itertools
import json
import math
import random
import re
import shutil
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr

TITLE = "WanGP"
VERSION = "12.60"
CSS = ":root { --wangp-ui-scale: 1; } .title-with-lines { text-align: center; } #queue_html_container { width: 100%; }"
MODELS = {
    "t2v": "Wan2.1 Text2video 14B",
    "moviigen": "MoviiGen 1080p 14B",
    "t2v_fusionix": "Wan2.1 Text2video FusioniX 14B",
    "t2v_sf": "Wan2.1 Text2video Self-Forcing 14B",
}
DEFAULT_MODEL = "t2v"
RESOLUTIONS = ["832x624", "624x832", "720x720", "832x480", "480x832"]
WEBFORM_RESTARTED = (
    "Webform can not be used as the App has been restarted since the form was displayed. Please refresh the page"
)
ERROR_QUEUE_SAVED = "Error Queue autosaved successfully to error_queue.zip"
QUEUE_EMPTY = "Queue is empty."
ABORTED = "Video Generation Aborted"
COMPLETED = "Video Generation Completed"
MAX_SIMULATED_STEPS = 6  # a task walks through at most this many steps, each `step_seconds` long
STATUS_POLL_SECONDS = 0.05
FORM_SYNC_EVENTS = 15  # earlier validate+save registrations: add-to-queue gets `_15`, Generate `_16`
SAMPLE_VIDEO = Path(__file__).with_name("tiny.mp4")


@dataclass(frozen=True)
class Widget:
    """A form field that is not a plain Textbox/Number/multiselect: built by `make`."""

    make: Callable[[], gr.components.Component]


def _required(component: type[gr.components.Component], **kwargs: Any) -> Widget:
    """A media or choice input without a default: the API marks it required, None is accepted."""
    return Widget(lambda: component(value=None, **kwargs))


IMAGE = _required(gr.Image, type="filepath")
VIDEO = _required(gr.Video)
AUDIO = _required(gr.Audio, type="filepath")
FILE = _required(gr.File)
CHOICE = _required(gr.Dropdown, choices=[], allow_custom_value=True)
TEXT = _required(gr.Textbox)
GALLERY = Widget(lambda: gr.Gallery(value=[], type="filepath"))
RESOLUTION = Widget(lambda: gr.Dropdown(RESOLUTIONS, value="832x480", label="Resolution"))

# `save_inputs`' parameters, in the real order, with their defaults (PROTOCOLS.md).
# fmt: off
FORM: tuple[tuple[str, Any], ...] = (
    ("target", "state"), ("image_mask_guide", IMAGE), ("lset_name", ""), ("client_id", ""),
    ("image_mode", 0), ("prompt", TEXT), ("alt_prompt", ""), ("negative_prompt", ""),
    ("resolution", RESOLUTION), ("video_length", 81), ("duration_seconds", 0.0), ("pause_seconds", 0),
    ("batch_size", 1), ("seed", -1), ("force_fps", ""), ("num_inference_steps", 30),
    ("guidance_scale", 5), ("guidance2_scale", 5), ("guidance3_scale", 5), ("switch_threshold", 0),
    ("switch_threshold2", 0), ("guidance_phases", 1), ("model_switch_phase", 1), ("alt_guidance_scale", 1.0),
    ("alt_scale", 0.0), ("audio_guidance_scale", 1), ("audio_scale", 1), ("flow_shift", 5.0),
    ("sample_solver", "unipc"), ("embedded_guidance_scale", 6.0), ("repeat_generation", 1),
    ("multi_prompts_gen_type", "PG"), ("multi_images_gen_type", 0), ("skip_steps_cache_type", ""),
    ("skip_steps_multiplier", 1.75), ("skip_steps_start_step_perc", 0), ("loras_choices", []),
    ("loras_multipliers", ""), ("image_prompt_type", ""), ("image_start", GALLERY), ("image_end", GALLERY),
    ("model_mode", CHOICE), ("video_source", VIDEO), ("keep_frames_video_source", ""),
    ("input_video_strength", 1.0), ("video_guide_outpainting", "#"), ("video_guide_outpainting_ratio", ""),
    ("video_prompt_type", ""), ("image_refs", GALLERY), ("frames_positions", ""), ("video_guide", VIDEO),
    ("video_guide2", VIDEO), ("image_guide", IMAGE), ("keep_frames_video_guide", ""), ("denoising_strength", 1.0),
    ("masking_strength", 1), ("video_mask", VIDEO), ("image_mask", IMAGE), ("control_net_weight", 1),
    ("control_net_weight2", 1), ("control_net_weight_alt", 1), ("motion_amplitude", 1.0), ("mask_expand", 0),
    ("audio_guide", AUDIO), ("audio_guide2", AUDIO), ("custom_guide", FILE), ("audio_source", AUDIO),
    ("replace_voice_method", ""), ("replace_voice_sample", AUDIO), ("replace_voice_sample2", AUDIO),
    ("audio_prompt_type", ""), ("speakers_locations", "0:45 55:100"), ("sliding_window_size", 129),
    ("sliding_window_overlap", 5), ("sub_parallel_window_size", 0), ("sub_parallel_window_overlap", 17),
    ("sliding_window_color_correction_strength", 0), ("sliding_window_overlap_noise", 0),
    ("sliding_window_discard_last_frames", 0), ("sliding_window_trim_first_frames", 0),
    ("image_refs_relative_size", 50), ("remove_background_images_ref", 1), ("temporal_upsampling", ""),
    ("spatial_upsampling", ""), ("film_grain_intensity", 0), ("film_grain_saturation", 0.5),
    ("postprocess_audio", ""), ("postprocess_audio_prompt", ""), ("postprocess_audio_neg_prompt", ""),
    ("RIFLEx_setting", 0), ("NAG_scale", 1), ("NAG_tau", 3.5), ("NAG_alpha", 0.5), ("perturbation_switch", 0),
    ("perturbation_layers", [9]), ("perturbation_start_perc", 10), ("perturbation_end_perc", 90),
    ("apg_switch", 0), ("cfg_star_switch", 0), ("cfg_zero_step", -1), ("prompt_enhancer", ""),
    ("min_frames_if_references", 1), ("override_profile", -1), ("override_attention", ""),
    ("attention_sparsity", 1.0), ("temperature", 0.8),
    *((f"custom_setting_{i}", "") for i in range(1, 6)),
    *((f"custom_setting_slider_{i}", 0) for i in range(1, 6)),
    *((f"custom_setting_dropdown_{i}", CHOICE) for i in range(1, 6)),
    ("top_p", 0.9), ("top_k", 50), ("self_refiner_setting", 0), ("self_refiner_f_uncertainty", 0.0),
    ("self_refiner_certain_percentage", 0.999), ("output_filename", ""), ("config", ""), ("mode", ""),
)
# fmt: on
FORM_NAMES = tuple(name for name, _ in FORM)
# Ranges the stand-in enforces when a task is queued: (name, lowest, highest).
SETTING_RANGES = (("video_length", 5, 257), ("num_inference_steps", 1, 150))


def form_component(name: str, default: Any) -> gr.components.Component:
    if isinstance(default, Widget):
        return default.make()
    if isinstance(default, list):
        return gr.Dropdown(choices=[], value=default, multiselect=True, allow_custom_value=True, label=name)
    if isinstance(default, str):
        return gr.Textbox(value=default, label=name)
    return gr.Number(value=default, label=name)


@dataclass
class Control:
    """Process-wide knobs of the simulation, set from flags and from `/_test_control`."""

    step_seconds: float = 0.08
    fail_at_step: int | None = None


@dataclass
class Task:
    model_type: str
    settings: dict[str, Any]


@dataclass
class Session:
    """What the real app keeps in its hidden per-session `gr.State`."""

    model_type: str = DEFAULT_MODEL
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)  # model type -> last saved form
    queue: list[Task] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (video path, caption)
    status: str = ""
    status_display: bool = False
    running: Task | None = None
    last_task: Task | None = None
    abort: threading.Event = field(default_factory=threading.Event)


CONTROL = Control()
OUTPUT_DIR = Path("outputs")
RUNNING_BY_CLIENT_ID: dict[str, Session] = {}


def session(state: dict[str, Session]) -> Session:
    """The gr.State value is a dict (deep-copied per session); the Session lives inside it."""
    return state.setdefault("session", Session())


def timestamp() -> str:
    """The real UI's event triggers carry a time stamp that the browser watches for changes."""
    return str(time.time())


def queue_html(s: Session) -> str:
    if len(s.queue) <= 1:
        return QUEUE_EMPTY
    rows = "".join(
        f"<tr><td>{n}</td><td>{html.escape(str(task.settings.get('prompt') or ''))}</td>"
        f"<td>{task.settings.get('video_length')}</td><td>{task.settings.get('num_inference_steps')}</td></tr>"
        for n, task in enumerate(s.queue[1:], start=1)
    )
    return f"<table><tr><th>#</th><th>Prompt</th><th>Length</th><th>Steps</th></tr>{rows}</table>"


def video_info(s: Session) -> str:
    return f"Last video: {Path(s.files[-1][0]).name}" if s.files else ""


# --- The Wan2GP endpoints; their function names are the API names. -----------------------


def change_model(state: dict[str, Session], model_choice: str) -> str:
    session(state).model_type = model_choice
    return f"**{MODELS[model_choice]}**"


def init_generate(
    state: dict[str, Session],
    input_file_list: list,
    last_choice: float,
    audio_files_paths: str,
    audio_file_selected: float,
) -> tuple[str, str]:
    """Starts the Generate chain: a trigger stamp and an empty `mode` for the form."""
    return timestamp(), ""


def validate_wizard_prompt(
    state: dict[str, Session],
    wizard_prompt_activated: str,
    wizard_variables_names: str,
    prompt: str,
    wizard_prompt: str,
    *args: str,
) -> str:
    """With the wizard on, the prompt is the wizard text with its `{variable}`s filled in."""
    if wizard_prompt_activated != "on":
        return prompt
    text = wizard_prompt or ""
    names = [name.strip() for name in (wizard_variables_names or "").splitlines() if name.strip()]
    for name, value in zip(names, args, strict=False):  # unused wizard slots stay empty
        text = text.replace("{" + name + "}", value or "")
    return text


def save_inputs(*values: Any) -> None:
    """Stores the form (the 129 named values, then the state) for the session's model."""
    *form, state = values
    s = session(state)
    s.forms[s.model_type] = dict(zip(FORM_NAMES, form, strict=True))


# Gradio names API parameters after the function's parameters, position by position.
save_inputs.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in (*FORM_NAMES, "state")]
)


def process_prompt_and_add_tasks(state: dict[str, Session], current_gallery_tab: float, model_choice: str) -> str:
    s = session(state)
    form = s.forms.get(model_choice) if model_choice == s.model_type else None
    if form is None:
        raise gr.Error(WEBFORM_RESTARTED)
    for name, lowest, highest in SETTING_RANGES:
        value = form.get(name)
        if not isinstance(value, (int, float)) or not lowest <= value <= highest:
            raise gr.Error(f"Invalid {name} {value!r}: it must be between {lowest} and {highest}.")
    task = Task(model_choice, dict(form))
    s.queue.append(task)
    s.last_task = task
    return queue_html(s)


def update_status(state: dict[str, Session]) -> None:
    """Ends the add-to-queue chain: the real one refreshes the status line."""


def apply_post_processing(state: dict[str, Session]) -> tuple[str, str]:
    """A post-processing button: it reuses the Generate chain by writing its trigger textbox."""
    return timestamp(), "edit_postprocessing"


def unload_model_if_needed(state: dict[str, Session]) -> None:
    """Ends the Generate chain: the real one frees the model's memory when asked to."""


def prepare_generate_media(state: dict[str, Session]) -> None:
    """The real one readies media for the browser; there is nothing to ready here."""


def activate_status(state: dict[str, Session]) -> str:
    session(state).status_display = True
    return timestamp()


def process_tasks(state: dict[str, Session], progress: gr.Progress = gr.Progress()) -> Iterator[str]:  # noqa: B008
    """Runs the session's queue; yields trigger stamps only, like the real one."""
    s = session(state)
    yield timestamp()
    try:
        while s.queue:
            task = s.queue[0]
            completed = yield from run_task(s, task, progress)
            if not completed:
                s.queue.clear()
                s.status = ABORTED
                break
            s.queue.pop(0)
        yield timestamp()
    finally:
        s.status_display = False


def run_task(s: Session, task: Task, progress: gr.Progress) -> Generator[str, None, bool]:
    """One task: load, denoise step by step, write the video. Returns False when aborted."""
    client_id = str(task.settings.get("client_id") or "")
    s.abort.clear()
    s.running = task
    if client_id:
        RUNNING_BY_CLIENT_ID[client_id] = s
    try:
        total = int(task.settings["num_inference_steps"])
        ticks = min(total, MAX_SIMULATED_STEPS)
        s.status = f"Loading model {MODELS[task.model_type]}..."
        yield timestamp()
        if s.abort.wait(CONTROL.step_seconds):
            return False
        progress((0, total), desc="denoising", unit="steps")
        for tick in range(1, ticks + 1):
            step = math.ceil(tick * total / ticks)
            if CONTROL.fail_at_step is not None and step >= CONTROL.fail_at_step:
                fail(s, f"An error happened while denoising step {step}/{total}: simulated failure")
            if s.abort.wait(CONTROL.step_seconds):
                return False
            progress((step, total), desc="denoising", unit="steps")
            s.status = f"Generating... step {step}/{total}"
            yield timestamp()
        s.files.append((write_video(task), str(task.settings.get("prompt") or "")))
        s.status = COMPLETED
        return True
    finally:
        s.running = None
        RUNNING_BY_CLIENT_ID.pop(client_id, None)


def fail(s: Session, message: str) -> None:
    """How Wan2GP ends a failed queue: it saves the queue aside, logs it, then raises."""
    s.queue.clear()
    s.status = message
    gr.Info(ERROR_QUEUE_SAVED)
    raise gr.Error(message, duration=0, print_exception=False)


def write_video(task: Task) -> str:
    chosen = task.settings.get("seed")
    seed = int(chosen) if chosen is not None else -1
    if seed < 0:  # -1 asks for a random seed, as in Wan2GP
        seed = random.randrange(2**31)
    slug = re.sub(r"[^\w\- ]", "", str(task.settings.get("prompt") or "")).strip().replace(" ", "_")[:50]
    stem = f"{datetime.now():%Y-%m-%d-%Hh%Mm%Ss}_seed{seed}_{slug}"
    path = OUTPUT_DIR / f"{stem}.mp4"
    for n in itertools.count(1):
        if not path.exists():
            break
        path = OUTPUT_DIR / f"{stem}_{n}.mp4"
    shutil.copyfile(SAMPLE_VIDEO, path)
    return str(path)


def finalize_generation(state: dict[str, Session]) -> tuple[int, list[tuple[str, str]], str, int, str, str]:
    s = session(state)
    return len(s.files) - 1, list(s.files), video_info(s), 0, s.status, queue_html(s)


def refresh_status_async(state: dict[str, Session]) -> Iterator[str]:
    """Streams the status text while the status display is on (from activate_status to the end).

    The display flag is read before the status: the run sets its last status and only then turns
    the display off, so the text read after an "off" is the last one, and it is always shown.
    """
    s = session(state)
    shown = None
    while True:
        display_on = s.status_display
        if s.status != shown:
            shown = s.status
            yield shown
        if not display_on:
            return
        time.sleep(STATUS_POLL_SECONDS)


def refresh_gallery(state: dict[str, Session]) -> tuple[Any, ...]:
    """Redraws the video and audio galleries, the status and the queue."""
    s = session(state)
    return list(s.files), len(s.files) - 1, video_info(s), 0, "[]", -1, s.status, queue_html(s)


def abort_generation(state: dict[str, Session], client_id: str = "") -> Any:
    """Stops the running task at its next step: the one started with `client_id`, else this session's."""
    s = RUNNING_BY_CLIENT_ID.get(client_id) if client_id else None
    s = s or session(state)
    if s.running is not None:
        s.abort.set()
    return gr.Button(interactive=False)


def clear_queue_action(state: dict[str, Session]) -> str:
    s = session(state)
    del s.queue[1 if s.running else 0 :]
    return queue_html(s)


# --- Test-only endpoints (explicit api_names, hidden from /info). --------------------------


def last_settings(state: dict[str, Session]) -> dict[str, Any]:
    task = session(state).last_task
    return {"model_type": task.model_type, "settings": task.settings} if task else {}


def control(changes: str) -> dict[str, Any]:
    """Changes the simulation knobs (a JSON object); returns them all."""
    try:
        values = json.loads(changes or "{}")
        if not isinstance(values, dict):
            raise TypeError("expected a JSON object")
        unknown = sorted(set(values) - set(asdict(CONTROL)))
        if unknown:
            raise TypeError(f"unknown keys {unknown}; known: {sorted(asdict(CONTROL))}")
        step_seconds = float(values.get("step_seconds", CONTROL.step_seconds))
        fail_at_step = values.get("fail_at_step", CONTROL.fail_at_step)
        fail_at_step = None if fail_at_step is None else int(fail_at_step)
    except (ValueError, TypeError) as error:
        raise gr.Error(f"bad control {changes!r}: {error}") from None
    CONTROL.step_seconds, CONTROL.fail_at_step = step_seconds, fail_at_step
    return asdict(CONTROL)


# --- The UI. -----------------------------------------------------------------------------

Endpoint = tuple[Callable[..., Any], list[Any], list[Any] | None]  # (function, inputs, outputs)


def build_ui(suffix_shift: int, with_save_inputs: bool) -> gr.Blocks:
    with gr.Blocks(title=TITLE, css=CSS) as demo:
        state = gr.State({})
        gr.HTML(f"<div class='title-with-lines'><h2>WanGP v{VERSION} <small>by DeepBeepMeep</small></h2></div>")
        model_choice = gr.Dropdown([(label, key) for key, label in MODELS.items()], value=None, label="Model")
        model_info = gr.Markdown()
        with gr.Accordion("Settings", open=False):
            form = {name: form_component(name, default) for name, default in FORM}
        wizard_prompt_activated = gr.Text("on", visible=False)
        wizard_variables_names = gr.Text("", visible=False)
        wizard_prompt = gr.Textbox(label="Prompts (wizard)")
        prompt_vars = [gr.Textbox(visible=False) for _ in range(10)]
        generate_btn = gr.Button("Generate")
        add_to_queue_btn = gr.Button("Add New Prompt To Queue", visible=False)
        abort_btn = gr.Button("Abort", visible=False)
        status = gr.Textbox(label="Status", interactive=False)
        output = gr.Gallery(value=[], label="Generated videos", type="filepath")
        gen_info = gr.Textbox(label="Information", interactive=False)
        last_choice = gr.Number(-1, visible=False)
        current_gallery_tab = gr.Number(0, visible=False)
        audio_files_paths = gr.Text("[]", visible=False)
        audio_file_selected = gr.Number(-1, visible=False)
        queue_html_box = gr.HTML(QUEUE_EMPTY, elem_id="queue_html_container")
        clear_queue_btn = gr.Button("Clear Queue")
        generate_trigger = gr.Text(visible=False)
        add_to_queue_trigger = gr.Text(visible=False)
        postprocess_btn = gr.Button("Apply Postprocessing", visible=False)
        status_trigger = gr.Text(visible=False, elem_id="wangp_main_status_trigger")
        output_trigger = gr.Text(visible=False, elem_id="wangp_main_output_trigger")
        abort_client_id = gr.Text(visible=False, elem_id="wangp_main_abort_client_id")

        # One entry per endpoint; each is registered below on one or several events.
        endpoints: dict[str, Endpoint] = {
            "change_model": (change_model, [state, model_choice], [model_info]),
            "init_generate": (
                init_generate,
                [state, output, last_choice, audio_files_paths, audio_file_selected],
                [generate_trigger, form["mode"]],
            ),
            "validate": (
                validate_wizard_prompt,
                [state, wizard_prompt_activated, wizard_variables_names, form["prompt"], wizard_prompt, *prompt_vars],
                [form["prompt"]],
            ),
            "save": (save_inputs, [*form.values(), state], None),
            "add_tasks": (process_prompt_and_add_tasks, [state, current_gallery_tab, model_choice], [queue_html_box]),
            "prepare": (prepare_generate_media, [state], None),
            "activate": (activate_status, [state], [status_trigger]),
            "process": (process_tasks, [state], [output_trigger]),
            "finalize": (
                finalize_generation,
                [state],
                [last_choice, output, gen_info, current_gallery_tab, status, queue_html_box],
            ),
            "status": (refresh_status_async, [state], [status]),
            "gallery": (
                refresh_gallery,
                [state],
                [
                    output,
                    last_choice,
                    gen_info,
                    current_gallery_tab,
                    audio_files_paths,
                    audio_file_selected,
                    status,
                    queue_html_box,
                ],
            ),
            "abort": (abort_generation, [state], [abort_btn]),
            "abort_client": (abort_generation, [state, abort_client_id], [abort_btn]),
            "clear_queue": (clear_queue_action, [state], [queue_html_box]),
            "add_to_queue": (lambda: (timestamp(), ""), [], [add_to_queue_trigger, form["mode"]]),
            "update_status": (update_status, [state], None),
            "postprocess": (apply_post_processing, [state], [generate_trigger, form["mode"]]),
            "after_finalize": (lambda state: QUEUE_EMPTY, [state], [queue_html_box]),
            "unload": (unload_model_if_needed, [state], None),
        }
        if not with_save_inputs:
            del endpoints["save"]
        form_chain = [endpoints[name] for name in ("validate", "save") if name in endpoints]

        for _ in range(suffix_shift):
            legacy = gr.Button(visible=False)
            for function, inputs, _ in endpoints.values():
                legacy.click(function, inputs)  # writes nothing: no change chain starts from it

        model_choice.change(*endpoints["change_model"])
        for _ in range(FORM_SYNC_EVENTS):
            chain(gr.Button(visible=False).click, form_chain)
        add_to_queue_btn.click(*endpoints["add_to_queue"])
        chain(add_to_queue_trigger.change, [*form_chain, endpoints["add_tasks"], endpoints["update_status"]])
        postprocess_btn.click(*endpoints["postprocess"])
        generate_btn.click(*endpoints["init_generate"])
        generate_steps = ("add_tasks", "prepare", "activate", "process", "finalize", "after_finalize", "unload")
        chain(generate_trigger.change, [*form_chain, *(endpoints[name] for name in generate_steps)])
        status_trigger.change(*endpoints["status"])
        output_trigger.change(*endpoints["gallery"])
        abort_btn.click(*endpoints["abort"])
        abort_client_id.change(*endpoints["abort_client"])
        clear_queue_btn.click(*endpoints["clear_queue"])

        test_settings = gr.JSON(visible=False)
        control_text = gr.Text("{}", visible=False)
        test_button = gr.Button(visible=False)
        test_button.click(last_settings, [state], [test_settings], api_name="_test_last_settings", show_api=False)
        test_button.click(control, [control_text], [test_settings], api_name="_test_control", show_api=False)
    return demo


def chain(trigger: Callable[..., Any], steps: list[Endpoint]) -> None:
    """Registers steps as `trigger(first).then(second)...`, as the real UI wires its buttons."""
    event = trigger(*steps[0])
    for step in steps[1:]:
        event = event.then(*step)


def main(argv: list[str] | None = None) -> None:
    global OUTPUT_DIR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--output-dir", default="outputs", help="the save path for generated videos")
    parser.add_argument("--suffix-shift", type=int, default=0, metavar="K")
    parser.add_argument("--step-seconds", type=float, default=Control.step_seconds)
    parser.add_argument("--fail-at-step", type=int, default=None, metavar="N")
    parser.add_argument("--no-save-inputs", action="store_true")
    args = parser.parse_args(argv)
    CONTROL.step_seconds = args.step_seconds
    CONTROL.fail_at_step = args.fail_at_step
    OUTPUT_DIR = Path(args.output_dir).resolve()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    demo = build_ui(args.suffix_shift, with_save_inputs=not args.no_save_inputs)
    demo.launch(server_port=args.port, allowed_paths=[str(OUTPUT_DIR)])


if __name__ == "__main__":
    main()
