"""The Gradio test apps, run as real servers from their venvs and driven with gradio_client.

These prove the stand-ins behave as PROTOCOLS.md describes the real servers, so that the
backend tests built on them test something true.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from gradio_client.client import Job
from gradio_client.exceptions import AppError
from gradio_client.utils import Status, StatusUpdate

from movie_director_testing.gradio_apps import launch_gradio_generic, launch_wan2gp_webui
from movie_director_testing.processes import ServerProcess, wait_until

WEBFORM_RESTARTED = "Webform can not be used as the App has been restarted since the form was displayed"
DEFAULT_CHAIN = [
    "init_generate",
    "validate_wizard_prompt_16",
    "save_inputs_16",
    "process_prompt_and_add_tasks_1",
    "prepare_generate_media",
    "activate_status",
    "process_tasks",
    "finalize_generation",
    "lambda_1",
    "unload_model_if_needed",
]
# Wan2GP 12.60's save_inputs parameters, in order (PROTOCOLS.md); * marks the required ones.
SAVE_INPUTS = """
target image_mask_guide* lset_name client_id image_mode prompt* alt_prompt negative_prompt resolution video_length
duration_seconds pause_seconds batch_size seed force_fps num_inference_steps guidance_scale guidance2_scale
guidance3_scale switch_threshold switch_threshold2 guidance_phases model_switch_phase alt_guidance_scale alt_scale
audio_guidance_scale audio_scale flow_shift sample_solver embedded_guidance_scale repeat_generation
multi_prompts_gen_type multi_images_gen_type skip_steps_cache_type skip_steps_multiplier skip_steps_start_step_perc
loras_choices loras_multipliers image_prompt_type image_start image_end model_mode* video_source*
keep_frames_video_source input_video_strength video_guide_outpainting video_guide_outpainting_ratio
video_prompt_type image_refs frames_positions video_guide* video_guide2* image_guide* keep_frames_video_guide
denoising_strength masking_strength video_mask* image_mask* control_net_weight control_net_weight2
control_net_weight_alt motion_amplitude mask_expand audio_guide* audio_guide2* custom_guide* audio_source*
replace_voice_method replace_voice_sample* replace_voice_sample2* audio_prompt_type speakers_locations
sliding_window_size sliding_window_overlap sub_parallel_window_size sub_parallel_window_overlap
sliding_window_color_correction_strength sliding_window_overlap_noise sliding_window_discard_last_frames
sliding_window_trim_first_frames image_refs_relative_size remove_background_images_ref temporal_upsampling
spatial_upsampling film_grain_intensity film_grain_saturation postprocess_audio postprocess_audio_prompt
postprocess_audio_neg_prompt RIFLEx_setting NAG_scale NAG_tau NAG_alpha perturbation_switch perturbation_layers
perturbation_start_perc perturbation_end_perc apg_switch cfg_star_switch cfg_zero_step prompt_enhancer
min_frames_if_references override_profile override_attention attention_sparsity temperature custom_setting_1
custom_setting_2 custom_setting_3 custom_setting_4 custom_setting_5 custom_setting_slider_1 custom_setting_slider_2
custom_setting_slider_3 custom_setting_slider_4 custom_setting_slider_5 custom_setting_dropdown_1*
custom_setting_dropdown_2* custom_setting_dropdown_3* custom_setting_dropdown_4* custom_setting_dropdown_5* top_p
top_k self_refiner_setting self_refiner_f_uncertainty self_refiner_certain_percentage output_filename config mode
""".split()


@pytest.fixture(scope="module", autouse=True)
def offline_client() -> Iterator[None]:
    """gradio_client phones home unless this variable says otherwise (PROTOCOLS.md)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        yield


@pytest.fixture(scope="module")
def wan() -> Iterator[ServerProcess]:
    with launch_wan2gp_webui() as server:
        yield server


@pytest.fixture
def client(wan: ServerProcess, tmp_path: Path) -> Client:
    """A fresh Client is a fresh session: its own hidden gr.State on the server."""
    return connect(wan, tmp_path)


def connect(server: ServerProcess, download_dir: Path) -> Client:
    return Client(server.url, verbose=False, download_files=str(download_dir))


def generate_chain(config: dict[str, Any]) -> list[str]:
    """The Generate button's click, then what follows it: a `.then()` (by `trigger_after`), else
    the `change` event of a component the step writes (the real 12.60's hidden trigger textbox)."""
    button = next(
        c["id"] for c in config["components"] if c.get("type") == "button" and c["props"].get("value") == "Generate"
    )
    dependencies = config["dependencies"]

    def follower(step: dict[str, Any]) -> dict[str, Any] | None:
        then = next((d for d in dependencies if d["trigger_after"] == step["id"]), None)
        written = [[component, "change"] for component in step["outputs"]]
        return then or next((d for d in dependencies if any(target in d["targets"] for target in written)), None)

    steps = [next(d for d in dependencies if [button, "click"] in d["targets"])]
    while (step := follower(steps[-1])) is not None:
        steps.append(step)
    return [step["api_name"] for step in steps]


def save_inputs_parameters(client: Client, api_name: str) -> list[dict[str, Any]]:
    return client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["parameters"]


def form(client: Client, save_api: str, **settings: Any) -> dict[str, Any]:
    """Every save_inputs parameter: its default (None for the required ones), then `settings`."""
    values = {p["parameter_name"]: p["parameter_default"] for p in save_inputs_parameters(client, save_api)}
    return values | settings


def queue_task(client: Client, chain: list[str], model: str = "t2v", **settings: Any) -> str:
    """The first half of the chain: init, wizard check, form, add to queue. Returns the queue HTML."""
    init, validate, save, add = ("/" + name for name in chain[:4])
    client.predict(api_name=init)
    prompt = client.predict(
        wizard_prompt_activated="off",
        prompt=settings.get("prompt", "a red fox"),
        wizard_prompt="",
        **{f"param_{i}": "" for i in range(5, 15)},
        api_name=validate,
    )
    client.predict(**form(client, save, **(settings | {"prompt": prompt})), api_name=save)
    return client.predict(model_choice=model, api_name=add)


def start_tasks(client: Client, chain: list[str]) -> Job:
    """The second half up to the generator: prepare, activate the status, run the queue."""
    prepare, activate, process = ("/" + name for name in chain[4:7])
    client.predict(api_name=prepare)
    client.predict(api_name=activate)
    return client.submit(api_name=process)


def watch(job: Job, timeout: float = 30.0) -> list[StatusUpdate]:
    """Every status the job showed while we polled it, until it ended."""
    seen: list[StatusUpdate] = []

    def ended() -> bool:
        seen.append(job.status())
        return job.done()

    wait_until(ended, timeout, interval=0.02, message="job end")
    return seen


def progress_steps(statuses: list[StatusUpdate]) -> list[tuple[int | None, int | None, str | None, str | None]]:
    return [
        (unit.index, unit.length, unit.unit, unit.desc)
        for status in statuses
        if status.code == Status.PROGRESS and status.progress_data
        for unit in status.progress_data
    ]


def control(client: Client, **changes: Any) -> dict[str, Any]:
    return client.predict(json.dumps(changes), api_name="/_test_control")


@contextmanager
def steps_lasting(client: Client, seconds: float) -> Iterator[None]:
    """Slower denoising steps for one test (the server is shared): long enough to be watched,
    or aborted, by a poller that a loaded machine may leave unscheduled for a while."""
    control(client, step_seconds=seconds)
    try:
        yield
    finally:
        control(client, step_seconds=0.08)


def is_mp4(path: str) -> bool:
    return Path(path).read_bytes()[4:8] == b"ftyp"


# --- Wan2GP web UI stand-in -------------------------------------------------------------


def test_wan_config_identifies_as_wangp_and_names_endpoints_like_gradio(client: Client) -> None:
    config = client.config
    assert config["title"] == "WanGP"
    assert config["version"].startswith("5.29")
    assert config["css"].startswith(":root { --wangp-ui-scale:")
    assert config["connect_heartbeat"] is True  # the hidden gr.State
    elem_ids = {c["props"].get("elem_id") for c in config["components"]}
    assert {"wangp_main_status_trigger", "wangp_main_output_trigger", "wangp_main_abort_client_id"} <= elem_ids
    assert "queue_html_container" in elem_ids
    assert generate_chain(config) == DEFAULT_CHAIN

    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/refresh_status_async", "/refresh_gallery", "/abort_generation", "/clear_queue_action"} <= set(named)
    assert [p["parameter_name"] for p in named["/abort_generation_1"]["parameters"]] == ["client_id"]
    assert [(p["parameter_name"], p["parameter_default"]) for p in named["/init_generate"]["parameters"]] == [
        ("input_file_list", []),
        ("last_choice", -1),
        ("audio_files_paths", "[]"),
        ("audio_file_selected", -1),
    ]
    validate = named["/validate_wizard_prompt_16"]["parameters"]
    assert [p["parameter_name"] for p in validate] == [
        "wizard_prompt_activated",
        "wizard_variables_names",
        "prompt",
        "wizard_prompt",
        *(f"param_{i}" for i in range(5, 15)),
    ]
    assert [p["parameter_has_default"] for p in validate] == [True, True] + [False] * 12
    add = named["/process_prompt_and_add_tasks_1"]["parameters"]
    assert [(p["parameter_name"], p["parameter_has_default"]) for p in add] == [
        ("current_gallery_tab", True),
        ("model_choice", False),
    ]
    assert [r["component"] for r in named["/finalize_generation"]["returns"]] == [
        "Number",
        "Gallery",
        "Textbox",
        "Number",
        "Textbox",
        "Html",
    ]
    assert len(named["/refresh_gallery"]["returns"]) == 8
    assert not [name for name in named if name.startswith("/_test")]  # hidden, yet callable


def test_wan_save_inputs_has_the_129_real_parameters(client: Client) -> None:
    parameters = save_inputs_parameters(client, "/save_inputs_16")
    assert [p["parameter_name"] for p in parameters] == [name.rstrip("*") for name in SAVE_INPUTS]
    required = {p["parameter_name"] for p in parameters if not p["parameter_has_default"]}
    assert required == {name.rstrip("*") for name in SAVE_INPUTS if name.endswith("*")}
    defaults = {p["parameter_name"]: p["parameter_default"] for p in parameters}
    assert defaults["target"] == "state"
    assert defaults["resolution"] == "832x480"
    assert (defaults["video_length"], defaults["num_inference_steps"], defaults["seed"]) == (81, 30, -1)
    assert defaults["perturbation_layers"] == [9]
    assert defaults["self_refiner_certain_percentage"] == 0.999


def test_wan_generate_chain_runs_in_one_session_with_progress_status_and_video(client: Client) -> None:
    parameters = save_inputs_parameters(client, "/save_inputs_16")
    sent = {p["parameter_name"]: distinct_value(p) for p in parameters}
    sent |= {"prompt": "a red fox", "resolution": "720x720", "video_length": 33, "num_inference_steps": 12, "seed": 7}

    assert queue_task(client, DEFAULT_CHAIN, **sent) == "Queue is empty."
    assert client.predict(api_name="/prepare_generate_media") == ()
    client.predict(api_name="/activate_status")
    with steps_lasting(client, 0.3):  # ~2 s of loading and steps: at 0.08 s a busy machine saw no step, or no loading
        status_job = client.submit(api_name="/refresh_status_async")  # streams until the queue is done
        wait_until(status_job.outputs, 10, message="the status stream running")  # before the loading it must show
        job = client.submit(api_name="/process_tasks")
        statuses = watch(job)

    steps = progress_steps(statuses)
    assert steps and all(length == 12 and unit == "steps" and desc == "denoising" for _, length, unit, desc in steps)
    assert statuses[-1].code == Status.FINISHED and statuses[-1].success
    assert all(re.fullmatch(r"\d+\.\d+", stamp) for stamp in job.outputs())  # only trigger stamps
    status_job.result(timeout=10)
    texts = status_job.outputs()
    assert any(text.startswith("Loading model Wan2.1 Text2video 14B") for text in texts)
    assert any(re.fullmatch(r"Generating\.\.\. step \d+/12", text) for text in texts)
    assert texts[-1] == "Video Generation Completed"

    last_choice, videos, _info, _tab, status, queue = client.predict(api_name="/finalize_generation")
    assert (last_choice, status, queue) == (0, "Video Generation Completed", "Queue is empty.")
    assert [item["caption"] for item in videos] == ["a red fox"]
    assert "_seed7_a_red_fox" in videos[0]["video"] and is_mp4(videos[0]["video"])
    refreshed = client.predict(api_name="/refresh_gallery")
    assert len(refreshed) == 8 and refreshed[0] == videos

    galleries = {p["parameter_name"] for p in parameters if p["component"] == "Gallery"}
    stored = sent | dict.fromkeys(galleries)  # Gradio hands an empty Gallery to the function as None
    assert client.predict(api_name="/_test_last_settings") == {"model_type": "t2v", "settings": stored}


def distinct_value(parameter: dict[str, Any]) -> Any:
    """A value unlike the default, of the kind the component takes, so the echo proves it arrived."""
    name, default, component = parameter["parameter_name"], parameter["parameter_default"], parameter["component"]
    if component in {"Image", "Video", "Audio", "File", "Gallery"}:
        return default  # media need uploads; their presence in the echo is enough
    if isinstance(default, str) or default is None:
        return f"{name}-sent"
    if isinstance(default, list):
        return [f"{name}-sent"]
    return default + 1


def test_wan_abort_stops_the_running_task_without_a_video(client: Client) -> None:
    with steps_lasting(client, 0.3):
        queue_task(client, DEFAULT_CHAIN, num_inference_steps=30)
        job = start_tasks(client, DEFAULT_CHAIN)
        steps = wait_until(lambda: progress_steps([job.status()]), 10, message="first progress")
        client.predict(api_name="/abort_generation")
        statuses = watch(job, timeout=5)
    assert statuses[-1].success and max(index for index, *_ in steps + progress_steps(statuses)) < 30
    _, videos, _, _, status, queue = client.predict(api_name="/finalize_generation")
    assert (videos, status, queue) == ([], "Video Generation Aborted", "Queue is empty.")


def test_wan_abort_by_client_id_reaches_another_session(wan: ServerProcess, client: Client, tmp_path: Path) -> None:
    with steps_lasting(client, 0.3):
        queue_task(client, DEFAULT_CHAIN, client_id="blender-1")
        job = start_tasks(client, DEFAULT_CHAIN)
        wait_until(lambda: job.status().code == Status.PROGRESS, 10, message="first progress")
        connect(wan, tmp_path).predict(client_id="blender-1", api_name="/abort_generation_1")
        watch(job, timeout=5)
    assert client.predict(api_name="/finalize_generation")[4] == "Video Generation Aborted"


def test_wan_failure_mid_job_is_an_app_error_after_the_queue_is_saved(client: Client) -> None:
    assert control(client, fail_at_step=3) == {"step_seconds": 0.08, "fail_at_step": 3}
    try:
        queue_task(client, DEFAULT_CHAIN, num_inference_steps=6)
        job = start_tasks(client, DEFAULT_CHAIN)
        statuses = watch(job)
        with pytest.raises(AppError, match=r"^An error happened while denoising step 3/6"):
            job.result()
    finally:
        control(client, fail_at_step=None)
    assert all(index < 3 for index, *_ in progress_steps(statuses))
    assert client.predict(api_name="/refresh_gallery")[6].startswith("An error happened while")


def test_wan_rejects_bad_settings_like_the_real_app(client: Client) -> None:
    with pytest.raises(AppError, match=WEBFORM_RESTARTED):  # no save_inputs in this session yet
        client.predict(model_choice="t2v", api_name="/process_prompt_and_add_tasks_1")
    with pytest.raises(
        AppError, match=re.escape("Value: 1x1 is not in the list of choices: ['832x624', '624x832', '720x720',")
    ):
        queue_task(client, DEFAULT_CHAIN, resolution="1x1")
    with pytest.raises(AppError, match=re.escape("Value: nope is not in the list of choices: ['t2v', 'moviigen',")):
        queue_task(client, DEFAULT_CHAIN, model="nope")
    with pytest.raises(AppError, match="video_length 300"):
        queue_task(client, DEFAULT_CHAIN, video_length=300)
    with pytest.raises(AppError, match="num_inference_steps 0"):
        queue_task(client, DEFAULT_CHAIN, num_inference_steps=0)
    with pytest.raises(AppError, match=WEBFORM_RESTARTED):  # the session's model is t2v
        queue_task(client, DEFAULT_CHAIN, model="moviigen")
    client.predict("moviigen", api_name="/change_model")
    assert queue_task(client, DEFAULT_CHAIN, model="moviigen") == "Queue is empty."
    assert client.predict(api_name="/_test_last_settings")["model_type"] == "moviigen"
    with pytest.raises(AppError, match="unknown keys"):
        control(client, steps=3)


def test_wan_queue_html_lists_waiting_tasks_until_cleared(client: Client) -> None:
    assert queue_task(client, DEFAULT_CHAIN, prompt="first") == "Queue is empty."
    html = queue_task(client, DEFAULT_CHAIN, prompt="second <b>")
    assert "second &lt;b&gt;" in html and "first" not in html
    assert client.predict(api_name="/clear_queue_action") == "Queue is empty."


def test_wan_suffix_shift_moves_every_name_and_flags_steer_the_job(tmp_path: Path) -> None:
    with launch_wan2gp_webui(suffix_shift=3, step_seconds=0.02, fail_at_step=2) as server:
        client = connect(server, tmp_path)
        chain = generate_chain(client.config)
        assert chain == [
            "init_generate_3",
            "validate_wizard_prompt_19",
            "save_inputs_19",
            "process_prompt_and_add_tasks_4",
            "prepare_generate_media_3",
            "activate_status_3",
            "process_tasks_3",
            "finalize_generation_3",
            "lambda_7",
            "unload_model_if_needed_3",
        ]
        named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        assert {"/abort_generation_6", "/abort_generation_7", "/refresh_gallery_3"} <= set(named)
        assert control(client) == {"step_seconds": 0.02, "fail_at_step": 2}
        queue_task(client, chain, num_inference_steps=4)
        with pytest.raises(AppError, match="An error happened while denoising step 2/4"):
            start_tasks(client, chain).result(timeout=30)


def test_wan_without_save_inputs_cannot_queue(tmp_path: Path) -> None:
    with launch_wan2gp_webui(no_save_inputs=True) as server:
        client = connect(server, tmp_path)
        chain = generate_chain(client.config)
        assert chain == [name for name in DEFAULT_CHAIN if not name.startswith("save_inputs")]
        named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        assert not [name for name in named if "save_inputs" in name]
        with pytest.raises(AppError, match=WEBFORM_RESTARTED):
            client.predict(model_choice="t2v", api_name="/" + chain[2])


def test_launchers_refuse_unknown_options_before_starting_anything() -> None:
    with pytest.raises(TypeError, match="suffix_shift"):
        launch_wan2gp_webui(sufix_shift=2)
    with pytest.raises(TypeError, match="step_seconds"):
        launch_gradio_generic(fail_at_step=2)


# --- Generic Gradio 6 app ---------------------------------------------------------------


@pytest.fixture(scope="module")
def generic() -> Iterator[ServerProcess]:
    with launch_gradio_generic(step_seconds=0.1) as server:
        yield server


def test_generic_generate_reports_progress_and_returns_a_video_and_the_inputs(
    generic: ServerProcess, tmp_path: Path
) -> None:
    client = connect(generic, tmp_path)
    job = client.submit("a cat", 42, 5, api_name="/generate")
    statuses = watch(job)
    assert {(length, unit, desc) for _, length, unit, desc in progress_steps(statuses)} == {(5, "steps", "denoising")}
    video, echoed = job.result()
    assert is_mp4(video) and Path(video).name.startswith("vid_42_")
    assert echoed == {"prompt": "a cat", "seed": 42, "steps": 5}
    assert client.predict("hello", api_name="/echo") == "hello"
    with pytest.raises(AppError, match=r"^boom: bad prompt$"):
        client.predict("boom", 1, 1, api_name="/generate")


def test_generic_invert_returns_an_image_file(generic: ServerProcess, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(png(4, 3, (10, 200, 30)))
    inverted = Path(connect(generic, tmp_path).predict(handle_file(str(source)), api_name="/invert"))
    data = inverted.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and struct.unpack(">II", data[16:24]) == (4, 3)


def test_generic_app_does_not_look_like_wangp(generic: ServerProcess, tmp_path: Path) -> None:
    config = connect(generic, tmp_path).config
    assert config["title"] != "WanGP" and "wangp" not in (config.get("css") or "")
    assert not [c for c in config["components"] if "wangp" in str(c["props"].get("elem_id") or "")]
    assert config["version"].startswith("6.")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain RGB PNG from the standard library (the client venv has no Pillow)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
