"""Generate from inside Blender: workflows and LLM answers against the real test backends,
driven through ``bpy.ops`` with the timer pumped by hand (timers never fire in module mode)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from movie_director.cli.demo import demo_workflow
from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY, STORY

pytestmark = pytest.mark.timeout(180)

CHECKPOINT = "sd15-standin.safetensors"
#: An operator hands everything slow to a worker: it must return at once.
RETURN_BUDGET_S = 0.1


def simple(prefix: str = "md") -> dict[str, Any]:
    """EmptyImage → ImageInvert → SaveImage: one PNG."""
    return demo_workflow(prefix, seed=0)


def txt2img(steps: int, seed: int, prefix: str = "md-txt2img") -> dict[str, Any]:
    """The demo's text-to-image branch alone, with titled nodes (the artist maps prompt and seed by title)."""
    graph = {node_id: node for node_id, node in demo_workflow(prefix, seed, CHECKPOINT).items() if node_id not in ("1", "2", "3")}
    graph["5"]["_meta"], graph["8"]["_meta"] = {"title": "Scene prompt"}, {"title": "Sampler"}
    graph["8"]["inputs"]["steps"] = steps
    return graph


def control(url: str, **settings: Any) -> None:
    requests.post(f"{url}/_standin/control", json=settings, timeout=5).raise_for_status()


@pytest.fixture
def comfy(comfyui_server: Any) -> Iterator[Any]:
    """The shared ComfyUI stand-in, its knobs reset afterwards."""
    yield comfyui_server
    control(comfyui_server.url, node_delay=0.05, steps=None, fail_nodes=[])


def connected(addon: Any, name: str) -> None:
    addon.running()
    addon.pump(lambda: addon.status.services and addon.row(name).state == "connected", 30, f"{name} connected")


def timed(operator: Any, **properties: Any) -> float:
    started = time.perf_counter()
    assert operator(**properties) == {"FINISHED"}
    return time.perf_counter() - started


def ended(addon: Any, timeout: float = 60.0) -> Any:
    """The only job, once it has ended (its results delivered by the same tick)."""
    return addon.pump(lambda: (jobs := list(addon.status.jobs)) and jobs[0].state != "running" and jobs[0], timeout, "the job ended")


def new_strips(bpy: Any, before: set[str]) -> list[Any]:
    editor = bpy.context.scene.sequence_editor
    return [strip for strip in editor.strips_all if strip.name not in before] if editor else []


def write_workflow(tmp_path: Path, graph: dict[str, Any], name: str = "wf_api.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(graph), encoding="utf-8")
    return path


def generate_panel(recorder: Any, bpy: Any, io_watch: Any) -> Any:
    """The Generate panel drawn into a recording layout; fails if the draw touched a file or a socket."""
    from movie_director.blender import panels

    layout = recorder()
    with io_watch.watching() as events:
        panels.MOVIE_DIRECTOR_PT_generate_sequencer.draw(SimpleNamespace(layout=layout), bpy.context)
    assert events == [], f"the Generate panel did I/O: {events}"
    return layout


def test_run_workflow_returns_at_once_and_imports_the_png_at_the_playhead(
    addon: Any, bpy: Any, comfy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blender_env: dict[str, str], io_watch: Any
) -> None:
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_URL", comfy.url)
    addon.use(comfyui=comfy.url)
    connected(addon, "comfyui")
    scene = bpy.context.scene
    scene.frame_current = 17
    editor = scene.sequence_editor_create()
    editor.strips.new_effect(name="busy", type="COLOR", channel=1, frame_start=1, frame_end=100)
    workflow = write_workflow(tmp_path, simple("md-first"))

    with io_watch.watching() as events:  # the operator and every tick: no file, socket or database on the main thread
        elapsed = timed(bpy.ops.movie_director.run_workflow, filepath=str(workflow))
        job = ended(addon)
    assert events == [], f"the main thread did I/O: {events}"
    print(f"run_workflow returned in {elapsed * 1000:.1f} ms")
    assert elapsed < RETURN_BUDGET_S
    assert job.state == "done", job.status
    (strip,) = new_strips(bpy, {"busy"})
    assert (strip.type, strip.frame_final_start, strip.channel) == ("IMAGE", 17, 2)
    path = Path(bpy.path.abspath(strip.directory)) / strip.elements[0].filename
    assert path.is_file()
    assert path.parent == Path(blender_env["data_dir"]) / "unsaved" / job.job_id  # unsaved file: the data dir
    produced = requests.get(f"{comfy.url}/view", params={"filename": path.name, "type": "output"}, timeout=5).content
    assert produced.startswith(b"\x89PNG") and path.read_bytes() == produced
    assert (job.progress, job.service, job.instance) == (1.0, "comfyui", comfy.url)
    assert "1 strip(s) added at frame 17" in addon.controller.notifications.recent(1)[0].message

    job_id = job.job_id  # the row is reused for the next job
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "film.blend"))  # saved for the first time: the results move next to it
    addon.pump(lambda: addon.status.jobs[0].title.startswith("Moving") and addon.status.jobs[0].state == "done", 20, "the results moved")
    assert strip.directory == f"//movie_director/{job_id}/"
    moved = tmp_path / "movie_director" / job_id / path.name
    assert moved.read_bytes() == produced and not path.parent.exists()


def test_the_prompt_and_seed_go_into_the_mapped_nodes_remembered_per_workflow(addon: Any, bpy: Any, comfy: Any, tmp_path: Path) -> None:
    addon.use(comfyui=comfy.url)
    connected(addon, "comfyui")
    text = bpy.data.texts.new("fox_api.json")
    text.from_string(json.dumps(txt2img(steps=3, seed=1)))
    bpy.ops.movie_director.run_workflow(workflow_text=text.name, prompt="a blue heron", seed=4242, prompt_node="scene prompt", seed_node="Sampler")
    first = ended(addon)
    assert first.state == "done", first.status
    history = requests.get(f"{comfy.url}/history/{first.job_id}", timeout=5).json()[first.job_id]
    graph = history["prompt"][2]
    assert graph["5"]["inputs"]["text"] == "a blue heron" and graph["8"]["inputs"]["seed"] == 4242
    remembered = bpy.context.scene.movie_director_generate.workflows[f"text:{text.name}"]
    assert (remembered.prompt_node, remembered.seed_node) == ("scene prompt", "Sampler")

    bpy.ops.movie_director.clear_jobs()
    bpy.ops.movie_director.run_workflow(workflow_text=text.name, prompt="a grey owl", seed=7)  # no nodes given: the remembered ones
    second = ended(addon)
    graph = requests.get(f"{comfy.url}/history/{second.job_id}", timeout=5).json()[second.job_id]["prompt"][2]
    assert graph["5"]["inputs"]["text"] == "a grey owl" and graph["8"]["inputs"]["seed"] == 7

    bpy.ops.movie_director.clear_jobs()
    bpy.ops.movie_director.run_workflow(workflow_text=text.name, prompt="x", prompt_node="Missing node")
    failed = ended(addon)
    assert failed.state == "failed" and "no node 'Missing node'" in failed.status
    notification = addon.controller.notifications.recent(1)[0]
    assert notification.type == "workflow_invalid" and any("Scene prompt" in hint for hint in notification.hints)


def test_a_missing_node_type_is_named_in_the_notification(addon: Any, bpy: Any, comfy: Any, tmp_path: Path) -> None:
    addon.use(comfyui=comfy.url)
    connected(addon, "comfyui")
    graph = simple("md-missing")
    graph["2"]["class_type"] = "FancyUpscaler"
    bpy.ops.movie_director.run_workflow(filepath=str(write_workflow(tmp_path, graph)))
    job = ended(addon)
    assert job.state == "failed"
    notification = addon.controller.notifications.recent(1)[0]
    assert notification.type == "workflow_invalid" and "FancyUpscaler" in notification.details_text()


def test_cancel_interrupts_the_job_on_the_server_and_imports_nothing(addon: Any, bpy: Any, comfy: Any, tmp_path: Path, recorder: Any, io_watch: Any) -> None:
    addon.use(comfyui=comfy.url)
    connected(addon, "comfyui")
    control(comfy.url, node_delay=0.05)
    bpy.ops.movie_director.run_workflow(filepath=str(write_workflow(tmp_path, txt2img(steps=400, seed=3))))
    running = addon.pump(lambda: addon.status.jobs and addon.status.jobs[0].progress > 0 and addon.status.jobs[0], 30, "the job making progress")
    assert running.state == "running" and "%" not in running.status
    assert addon.status.jobs_running == 1 and 0 < addon.status.jobs_progress < 1
    panel = generate_panel(recorder, bpy, io_watch)
    assert f"comfyui · {comfy.url}" in panel.labels() and "ComfyUI: wf_api" in panel.labels()
    (bar,) = [call for call in panel.calls() if call.method == "progress"]
    assert bar.text.endswith(f"% · {running.status}") and 0 < bar.options["factor"] < 1
    [cancel] = panel.operators("movie_director.cancel_job")
    assert cancel.properties == {"job_id": running.job_id}
    statusbar = recorder()
    from movie_director.blender.drawing import draw_statusbar

    draw_statusbar(statusbar, bpy.context)
    assert statusbar.text().startswith("Movie Director: 1 job(s)")
    assert bpy.ops.movie_director.cancel_job(job_id=cancel.properties["job_id"]) == {"FINISHED"}
    job = ended(addon, 30)
    assert job.state == "cancelled"
    panel = generate_panel(recorder, bpy, io_watch)
    assert panel.operators("movie_director.cancel_job") == [] and panel.operators("movie_director.clear_jobs")
    assert addon.controller.notifications.recent(1)[0].type == "job_cancelled"
    assert new_strips(bpy, set()) == []
    assert addon.status.jobs_running == 0 and addon.status.jobs_progress == -1.0


def test_ask_llm_streams_the_answer_into_a_new_text_and_a_text_strip(addon: Any, bpy: Any, litellm_server: Any, monkeypatch: pytest.MonkeyPatch, io_watch: Any) -> None:
    monkeypatch.setenv("MOVIE_DIRECTOR_LITELLM_URL", litellm_server.url)
    monkeypatch.setenv("MOVIE_DIRECTOR_LITELLM_API_KEY", DEFAULT_MASTER_KEY)
    addon.use(litellm=litellm_server.url)
    connected(addon, "litellm")
    bpy.context.scene.frame_current = 5
    texts = set(bpy.data.texts.keys())
    notes = bpy.data.texts.new("notes")
    notes.from_string("Scene one happens at dawn.")

    with io_watch.watching() as events:
        elapsed = timed(bpy.ops.movie_director.ask_llm, prompt="Tell me the story", model="mock-story", context_text=notes.name, text_strip=True)
        job = ended(addon)
    assert events == [], f"the main thread did I/O: {events}"
    print(f"ask_llm returned in {elapsed * 1000:.1f} ms")
    assert elapsed < RETURN_BUDGET_S
    assert job.state == "done", job.status
    (answer,) = [text for name, text in bpy.data.texts.items() if name not in texts | {"notes"}]
    assert answer.as_string() == STORY
    (strip,) = new_strips(bpy, set())
    assert (strip.type, strip.frame_final_start, strip.text) == ("TEXT", 5, STORY)


def test_no_service_enabled_is_refused_with_a_clear_message(addon: Any, bpy: Any, comfy: Any) -> None:
    addon.use(comfyui=comfy.url)
    addon.running()
    with pytest.raises(RuntimeError, match="No LiteLLM service is enabled"):
        bpy.ops.movie_director.ask_llm(prompt="hello")
    with pytest.raises(RuntimeError, match="Choose a workflow file"):
        bpy.ops.movie_director.run_workflow()


def test_comfyui_killed_mid_job_and_restarted_still_ends_with_the_strip_once(addon: Any, bpy: Any, backend_servers: Any, tmp_path: Path) -> None:
    server = backend_servers.start("comfyui", node_delay=0.05)
    addon.use(comfyui=server.url)
    connected(addon, "comfyui")
    bpy.context.scene.frame_current = 3
    bpy.ops.movie_director.run_workflow(filepath=str(write_workflow(tmp_path, txt2img(steps=60, seed=11, prefix="md-restart"))))
    addon.pump(lambda: addon.status.jobs and addon.status.jobs[0].progress > 0, 30, "the job running")
    server.kill()
    server.start()
    job = ended(addon, 120)
    assert job.state == "done", job.status
    (strip,) = new_strips(bpy, set())
    assert (strip.type, strip.frame_final_start, strip.channel) == ("IMAGE", 3, 1)
    path = Path(bpy.path.abspath(strip.directory)) / strip.elements[0].filename
    assert path.read_bytes() == requests.get(f"{server.url}/view", params={"filename": path.name, "type": "output"}, timeout=5).content
    for _ in range(10):  # nothing else arrives later
        addon.tick()
    assert len(new_strips(bpy, set())) == 1 and len(addon.status.jobs) == 1
    history = requests.get(f"{server.url}/history", timeout=5).json()
    assert job.job_id not in history and len(history) == 1, "the restarted server lost the first prompt and ran the resent one once"


def test_a_result_that_arrives_while_another_file_is_open_is_imported_when_its_file_opens(addon: Any, bpy: Any, comfy: Any, tmp_path: Path) -> None:
    addon.use(comfyui=comfy.url)
    connected(addon, "comfyui")
    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    bpy.context.scene.frame_current = 9
    bpy.ops.movie_director.run_workflow(filepath=str(write_workflow(tmp_path, txt2img(steps=40, seed=21, prefix="md-elsewhere"))))
    addon.pump(lambda: addon.status.jobs and addon.status.jobs[0].progress > 0, 30, "the job running")
    bpy.ops.wm.read_homefile(use_empty=True)
    job = ended(addon)
    assert job.state == "done" and job.status == "Done; imported when film.blend is open again"
    for _ in range(5):
        addon.tick()
    assert new_strips(bpy, set()) == [], "nothing lands in the file that happens to be open"

    bpy.ops.wm.open_mainfile(filepath=str(film))
    (strip,) = addon.pump(lambda: new_strips(bpy, set()), 10, "the strip imported on open")
    assert (strip.type, strip.frame_final_start) == ("IMAGE", 9) and strip.directory.startswith("//movie_director/")
    assert (Path(bpy.path.abspath(strip.directory)) / strip.elements[0].filename).is_file()


def test_a_job_kept_in_a_saved_file_is_resumed_in_a_later_session(switch: Any, bpy: Any, comfy: Any, tmp_path: Path) -> None:
    addon = switch.on()
    addon.use(comfyui=comfy.url)
    connected(addon, "comfyui")
    film = tmp_path / "kept.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    bpy.context.scene.frame_current = 12
    bpy.ops.movie_director.run_workflow(filepath=str(write_workflow(tmp_path, txt2img(steps=60, seed=31, prefix="md-kept"))))
    running = addon.pump(lambda: addon.status.jobs and addon.status.jobs[0].progress > 0 and addon.status.jobs[0], 30, "the job running")
    job_id = running.job_id
    bpy.ops.wm.save_mainfile()
    (kept,) = bpy.context.scene.movie_director_generate.pending
    assert kept.name == job_id and kept.prompt_id == job_id and json.loads(kept.workflow)["8"]["inputs"]["seed"] == 31

    switch.off()  # Blender closes: the job goes on in ComfyUI
    bpy.ops.wm.read_homefile(use_empty=True)
    addon = switch.on()
    addon.use(comfyui=comfy.url)
    bpy.ops.wm.open_mainfile(filepath=str(film))
    (strip,) = addon.pump(lambda: new_strips(bpy, set()), 60, "the kept job's strip")
    assert (strip.type, strip.frame_final_start) == ("IMAGE", 12)
    assert Path(bpy.path.abspath(strip.directory)) == tmp_path / "movie_director" / job_id
    assert len(bpy.context.scene.movie_director_generate.pending) == 0
    history = requests.get(f"{comfy.url}/history/{job_id}", timeout=5).json()
    assert job_id in history, "the first session's prompt was followed, not sent again"


def test_generate_video_on_the_wan2gp_mcp_server_imports_a_movie_strip_from_its_own_model_list(addon: Any, bpy: Any, wan2gp_mcp_server: Any, tmp_path: Path) -> None:
    addon.use(wan2gp=wan2gp_mcp_server.url + "/mcp")
    connected(addon, "wan2gp")
    assert bpy.ops.movie_director.refresh_video_models() == {"FINISHED"}
    models = addon.pump(lambda: addon.controller.video_models.get("wan2gp"), 20, "the model list")
    assert "t2v_1.3B" in models
    settings = bpy.context.scene.movie_director_generate
    settings.video_model = "t2v_1.3B"  # the menu offers the service's own models
    with pytest.raises(RuntimeError, match="has no model 'nope'"):
        bpy.ops.movie_director.generate_video(prompt="a boat", model="nope")
    scene = bpy.context.scene
    scene.frame_current = 30
    editor = scene.sequence_editor_create()
    still = tmp_path / "start.png"
    still.write_bytes(_png())
    image = editor.strips.new_image(name="start", filepath=str(still), channel=1, frame_start=20)
    image.frame_final_duration = 20
    editor.active_strip = image

    elapsed = timed(bpy.ops.movie_director.generate_video, prompt="a paper boat", model=settings.video_model, resolution="480x832", frames=17, steps=4, seed=42, use_start_image=True)
    assert elapsed < RETURN_BUDGET_S
    job = ended(addon, 90)
    assert job.state == "done", job.status
    (movie,) = new_strips(bpy, {"start"})
    assert (movie.type, movie.frame_final_start, movie.channel) == ("MOVIE", 30, 2)
    assert Path(bpy.path.abspath(movie.filepath)).read_bytes()[4:8] == b"ftyp"


def test_generate_video_without_weights_shows_wan2gps_own_reason(addon: Any, bpy: Any, backend_servers: Any) -> None:
    server = backend_servers.start("wan2gp_mcp", missing_weights=True)
    addon.use(wan2gp=server.url + "/mcp")
    connected(addon, "wan2gp")
    bpy.ops.movie_director.generate_video(prompt="a paper boat", frames=17, steps=4)
    job = ended(addon, 60)
    assert job.state == "failed"
    notification = addon.controller.notifications.recent(1)[0]
    assert "locate the file on the Hub" in notification.message, notification.message


def _png() -> bytes:
    """A 1×1 PNG, written by hand (no image library in the test)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")


def test_with_comfyui_down_the_job_waits_the_notification_says_so_and_cancel_withdraws_it(addon: Any, bpy: Any, tmp_path: Path) -> None:
    from movie_director_testing.processes import free_port

    addon.use(comfyui=f"http://127.0.0.1:{free_port()}")
    addon.running()
    bpy.ops.movie_director.run_workflow(filepath=str(write_workflow(tmp_path, simple("md-down"))))
    addon.pump(lambda: any(item.error_code == "connection_refused" for item in addon.status.services), 30, "ComfyUI reported down")
    notification = addon.pump(lambda: next((item for item in addon.controller.notifications.recent() if item.type == "connection_refused"), None), 10, "the backend-down notification")
    assert "not running" in notification.message and notification.hints
    job = addon.pump(lambda: addon.status.jobs[0].status == "Waiting for ComfyUI…" and addon.status.jobs[0], 10, "the job waiting in the queue")
    assert job.state == "running"
    bpy.ops.movie_director.cancel_job(job_id=job.job_id)
    job = ended(addon, 10)
    assert job.state == "cancelled" and "before it was sent" in job.status


def test_generate_video_through_the_wan2gp_web_ui(addon: Any, bpy: Any, wan2gp_webui_server: Any) -> None:
    addon.use(wan2gp=wan2gp_webui_server.url)
    connected(addon, "wan2gp")
    bpy.context.scene.frame_current = 4
    bpy.ops.movie_director.generate_video(prompt="a paper boat", resolution="832x480", frames=17, steps=4, seed=7)
    job = ended(addon, 90)
    assert job.state == "done", job.status
    (movie,) = new_strips(bpy, set())
    assert (movie.type, movie.frame_final_start) == ("MOVIE", 4) and Path(bpy.path.abspath(movie.filepath)).is_file()


def test_cancel_aborts_a_wan2gp_generation(addon: Any, bpy: Any, wan2gp_mcp_server: Any) -> None:
    addon.use(wan2gp=wan2gp_mcp_server.url + "/mcp")
    connected(addon, "wan2gp")
    bpy.ops.movie_director.generate_video(prompt="a long take", frames=17, steps=100)
    running = addon.pump(lambda: addon.status.jobs and addon.status.jobs[0].progress > 0 and addon.status.jobs[0], 30, "the video making progress")
    bpy.ops.movie_director.cancel_job(job_id=running.job_id)
    job = ended(addon, 30)
    assert job.state == "cancelled", job.status
    assert new_strips(bpy, set()) == []
