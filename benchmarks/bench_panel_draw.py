"""Panel ``draw()`` time with 10 services, through a recording layout, beside an empty draw.

    python -m benchmarks.bench_panel_draw [--runs 300] [--strict]

Blender cannot draw a panel without a window, so each panel's draw function is called
with :class:`~movie_director.blender.recording.RecordingLayout`, as the tests do. With
``bpy`` installed (the ``blender`` tox environment) the panels read real Blender
properties filled by the add-on's own ``write_status``; without it they read plain
Python objects of the same shape (attribute access is then cheaper than RNA's, so that
mode flatters us: the report says which mode ran). 10 services, one with its details
open, 10 notifications, 10 dashboard rows, 10 generation jobs (Generate panel). The baseline is an empty draw (a recording
layout made, nothing drawn). Goal from the issue: < 1 ms per panel.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace
from typing import Any

from benchmarks.run import result_line
from movie_director.blender.drawing import draw_dashboard, draw_generate, draw_history, draw_status
from movie_director.blender.recording import RecordingLayout, rna_status_context

GOAL_US = 1000.0
SERVICES = 10
JOBS = 10


def synthetic_controller() -> Any:
    """A controller whose rows, notifications and dashboard describe 10 services (no threads)."""
    from movie_director.blender.controller import Controller, DashboardRow
    from movie_director.blender.notifications import Severity
    from movie_director.blender.profiles import ProfileStore
    from movie_director.blender.view import CONNECTED, DISCONNECTED, STATE_ICONS, RangeStats, ServiceRow

    controller = Controller(ProfileStore(tempfile.mkdtemp(prefix="md-bench-")))
    controller.state, controller.system_status = "running", "degraded"
    now = time.time()
    for number in range(SERVICES):
        state = DISCONNECTED if number % 4 == 3 else CONNECTED
        controller.rows.append(
            ServiceRow(
                f"comfyui-{number}", f"ComfyUI (comfyui-{number})", "comfyui", f"http://127.0.0.1:{8188 + number}", state, STATE_ICONS[state], "online",
                "12 ms" if state == CONNECTED else "–", now - number, "0.3.64", "412", "ComfyUI is not running or not listening on this address." if state != CONNECTED else "",
                "connection_refused" if state != CONNECTED else "", ("Start ComfyUI.", "Check the URL and port."), 3.0 if state != CONNECTED else None, number, "",
            )
        )
        controller.dashboard.append(
            DashboardRow(f"comfyui-{number}", f"ComfyUI (comfyui-{number})", RangeStats(10, 12.3, 20.1, 99.0, 100.0, "▁▂▃▄▅▆▇█" * 4), ("Queue: 2 on the server, 0 waiting here", "VRAM: 10.0 GB free of 24.0 GB"))
        )
        controller.notifications.add(Severity.ERROR, f"ComfyUI {number} is not running or not listening on this address.", service=f"comfyui-{number}", type="connection_refused")
    controller.llm = ("CHECKMARK", "LLM — LiteLLM: 4 models available")
    add_jobs(controller.board, now)
    return controller


def add_jobs(board: Any, now: float) -> None:
    """10 generation jobs, half running with progress, the rest ended (no workers started)."""
    from pathlib import Path

    from movie_director.blender.jobboard import GenerationJob, Target
    from movie_director.errors import JobFailed

    for number in range(JOBS):
        job = GenerationJob(f"job-{number}", "comfyui", f"comfyui-{number}", f"http://127.0.0.1:{8188 + number}", f"ComfyUI: shot_{number:02d}_api", Path("unused"), Target("Scene", 1), now - 30 * number)
        job.update(progress=number / JOBS, status=f"KSampler {number}/20")
        if number % 2:
            job.finish(error=JobFailed("KSampler failed: CUDA out of memory.") if number == 3 else None, now=now)
        board.jobs[job.id] = job


@contextmanager
def blender_context(controller: Any) -> Iterator[Any]:
    """Real properties, filled by the add-on's own ``write_status``; ImportError without ``bpy``."""
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="md-bench-user-"))
    with rna_status_context(controller, "movie_director_bench") as context:
        context.window_manager.movie_director_status.services[0].show_details = True
        yield context


def plain_context(controller: Any) -> Any:
    """The same shape as plain objects (no ``bpy``)."""
    services = [
        SimpleNamespace(name=row.name, label=row.label, icon=row.icon, latency=row.latency, last_check_text="3 s ago", error=row.error, show_details=index == 0,
                        state_text=row.state_text, url=row.url, version=row.version, capabilities=row.capabilities, hints="\n".join(row.hints),
                        reconnect_text="in 3 s" if row.next_reconnect_in else "", queued_ops=row.queued_ops, queued=row.queued)
        for index, row in enumerate(controller.rows)
    ]
    notifications = [SimpleNamespace(notification_id=item.id, severity=item.severity.value, summary=item.summary()) for item in controller.notifications.recent()]
    dashboard = [SimpleNamespace(name=row.name, label=row.label, checks=row.stats.checks, response="avg 12 ms · p95 20 ms", availability="uptime 100.0 % · success 99.0 %",
                                 metrics="\n".join(row.lines), trend=row.stats.trend) for row in controller.dashboard]
    jobs = [SimpleNamespace(job_id=view.id, service=view.service, instance=view.instance, title=view.title, state=view.state, status=view.status, progress=view.progress, elapsed="0:30")
            for view in controller.board.views()]
    status = SimpleNamespace(overall_text="Some services need attention", overall_icon="COLORSET_09_VEC", offline_note="", services=services, llm_text=controller.llm[1],
                             llm_icon=controller.llm[0], notifications=notifications, dashboard=dashboard, time_range="5M", jobs=jobs)
    generate = SimpleNamespace(workflow_path="//shot_api.json", workflow_text=None, prompt="a red fox", seed=-1, prompt_node="", seed_node="", llm_prompt="", llm_context=None,
                               llm_use_strip=False, llm_text_strip=False, video_prompt="a paper boat", video_model="LOADED", video_resolution="832x480", video_frames=81,
                               video_steps=30, video_guidance=5.0, video_seed=-1, video_start_image=False)
    return SimpleNamespace(window_manager=SimpleNamespace(movie_director_status=status), scene=SimpleNamespace(movie_director_generate=generate))


def measure(draw: Callable[[Any, Any], None], context: Any, runs: int) -> list[float]:
    """Microseconds per call, recording layout included."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        draw(RecordingLayout(), context)
        times.append((time.perf_counter() - started) * 1e6)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a panel misses the goal")
    args = parser.parse_args(argv)
    controller = synthetic_controller()
    with ExitStack() as stack:
        try:
            context, mode = stack.enter_context(blender_context(controller)), "bpy (real RNA properties)"
        except ImportError:
            context, mode = plain_context(controller), "plain Python objects (bpy not installed)"
        return run(context, mode, args.runs, args.strict)


def run(context: Any, mode: str, runs: int, strict: bool) -> int:
    panels = {"baseline: empty draw": lambda layout, ctx: None, "Backend Services": draw_status, "Recent Errors": draw_history, "Health Monitoring": draw_dashboard, f"Generate ({JOBS} jobs)": draw_generate}
    print(f"panel draw, {SERVICES} services, {runs} runs each, mode: {mode}")
    print(f"{'panel':24} {'median µs':>10} {'p95 µs':>8} {'min µs':>8} {'× empty':>8}  goal < {GOAL_US:.0f} µs")
    baseline = None
    missed = False
    for name, draw in panels.items():
        measure(draw, context, 20)  # warm up
        times = sorted(measure(draw, context, runs))
        median, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
        baseline = baseline or median
        verdict = "" if name.startswith("baseline") else ("ok" if median < GOAL_US else "MISSED")
        missed |= verdict == "MISSED"
        print(f"{name:24} {median:10.1f} {p95:8.1f} {times[0]:8.1f} {median / baseline:8.1f}  {verdict}")
        if verdict:
            print(result_line(f"{name} draw, median ({mode.split(' (')[0]})", median, "µs", baseline, "empty draw", f"< {GOAL_US:.0f} µs", median < GOAL_US))
    return 1 if missed and strict else 0


if __name__ == "__main__":
    sys.exit(main())
