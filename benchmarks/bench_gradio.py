"""Benchmark our Gradio transport against calling gradio_client directly, in the same run.

1. Job overhead: ``GradioTransport.call`` (a fresh session per job, API info cached,
   app_id freshness check, bounded waits) vs a reused ``gradio_client.Client`` (the
   fastest direct use, which cannot cancel safely) on the same Gradio 6 app. Goal ≤ 1.1×.
2. Client creation on an app of Wan2GP's class (≥ 1,000 components): a fresh
   ``Client(url)`` vs our session client built from the cached ``/config`` and ``/info``.

    python -m benchmarks.bench_gradio [--runs 30] [--json]

The big app is served by this same file (``--serve-big``) from the Gradio 5.29 test venv.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

BIG_COMPONENTS = 1200
BIG_EVENTS = 400


def serve_big(port: int) -> None:
    """A Gradio app with 1,200 components and 400 events (runs in the gradio5 venv)."""
    import gradio as gr

    def echo(*values: Any) -> Any:
        return values[0]

    with gr.Blocks(title="big") as demo:
        gr.State({})
        boxes = [gr.Textbox(value=str(n), label=f"field {n}") for n in range(BIG_COMPONENTS - 1)]
        for n in range(BIG_EVENTS):
            inputs = [boxes[(n + k) % len(boxes)] for k in range(3)]
            gr.Button(visible=False).click(echo, inputs, inputs[0], api_name=f"step_{n}")
    demo.queue().launch(server_name="127.0.0.1", server_port=port)


def median_ms(*actions: Callable[[], Any], runs: int) -> list[float]:
    """Median milliseconds of each action, run in turns (A B A B …) after a warm-up, so that
    the load of a shared machine weighs on all of them alike."""
    for action in actions:
        action()
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, times in zip(actions, samples, strict=True):
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
    return [statistics.median(times) for times in samples]


def job_overhead(runs: int) -> list[dict[str, Any]]:
    from gradio_client import Client

    from movie_director.check import adhoc_service
    from movie_director_plugins.gradio.transport import GradioTransport
    from movie_director_testing.gradio_apps import launch_gradio_generic

    server = launch_gradio_generic()
    rows = []
    try:
        transport = GradioTransport(adhoc_service(server.url, "gradio"))
        direct = Client(server.url, verbose=False, analytics_enabled=False, download_files=False)
        jobs = {
            "echo (tiny job)": ("echo", {"text": "hi"}),
            "generate, 4 progress steps": ("generate", {"prompt": "a cat", "steps": 4}),
        }
        for label, (endpoint, arguments) in jobs.items():
            ours, theirs = median_ms(
                lambda e=endpoint, a=arguments: transport.call(e, a, timeout=60),
                lambda e=endpoint, a=arguments: direct.predict(api_name="/" + e, **a),
                runs=runs,
            )
            (fresh,) = median_ms(lambda e=endpoint, a=arguments: _fresh_predict(Client, server.url, e, a), runs=max(5, runs // 3))
            rows.append(
                {
                    "job": label,
                    "ours_ms": round(ours, 1),
                    "direct_reused_client_ms": round(theirs, 1),
                    "direct_fresh_client_ms": round(fresh, 1),
                    "ratio_vs_reused": round(ours / theirs, 3),
                }
            )
        direct.close()
        transport.close()
    finally:
        server.stop()
    return rows


def _fresh_predict(client_class: Any, url: str, endpoint: str, arguments: dict[str, Any]) -> Any:
    from movie_director_plugins.gradio.transport import _retire

    client = client_class(url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        return client.predict(api_name="/" + endpoint, **arguments)
    finally:
        _retire(client)


def client_creation(runs: int) -> dict[str, Any]:
    from gradio_client import Client

    from movie_director.check import adhoc_service
    from movie_director_plugins.gradio.transport import GradioTransport, _client_class, _new_client, _retire
    from movie_director_testing import envs
    from movie_director_testing.processes import ServerProcess, http_ready

    server = ServerProcess(
        "gradio-big",
        [str(envs.ensure("gradio5")), os.path.abspath(__file__), "--serve-big", "{port}"],
        env={"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"},
        ready=http_ready("/config"),
        start_timeout=120,
    ).start()
    try:
        transport = GradioTransport(adhoc_service(server.url, "gradio"))
        app = transport.app()
        one_event = [app.endpoint("step_7").fn_index]

        def fresh() -> None:
            _retire(Client(server.url, verbose=False, analytics_enabled=False, download_files=False))

        def cached_full() -> None:
            _retire(_client_class()(app.url + "/", (dict(app.config), app.info), verbose=False, analytics_enabled=False, download_files=False))

        def cached_session() -> None:
            _retire(_new_client(transport, app, one_event))

        fresh_ms, full_ms, session_ms = median_ms(fresh, cached_full, cached_session, runs=runs)
        (check_ms,) = median_ms(lambda: transport.app_id(app), runs=runs)
        result = {
            "components": len(app.config["components"]),
            "events": len(app.config["dependencies"]),
            "config_kb": round(len(json.dumps(app.config)) / 1024),
            "fresh_client_ms": round(fresh_ms, 1),
            "cached_full_config_ms": round(full_ms, 1),
            "cached_session_client_ms": round(session_ms, 2),
            "app_id_check_ms": round(check_ms, 2),
        }
        result["speedup"] = round(result["fresh_client_ms"] / result["cached_session_client_ms"], 1)
        transport.close()
    finally:
        server.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve-big", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_big:
        serve_big(args.serve_big)
        return 0
    from benchmarks.run import result_line  # here: the --serve-big process runs in the gradio5 venv, without our package

    report = {"job_overhead": job_overhead(args.runs), "client_creation": client_creation(args.runs)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("Job time, median of", args.runs, "(ms): ours vs gradio_client with a reused Client (goal ratio ≤ 1.1)")
    for row in report["job_overhead"]:
        print(f"  {row['job']:<28} ours {row['ours_ms']:>7}  direct {row['direct_reused_client_ms']:>7}  ratio {row['ratio_vs_reused']}  (fresh Client each job: {row['direct_fresh_client_ms']})")
        print(result_line(f"job time, {row['job']}", row["ours_ms"], "ms", row["direct_reused_client_ms"], "gradio_client, reused Client", "≤ 1.1×", row["ratio_vs_reused"] <= 1.1, ratio=row["ratio_vs_reused"]))
    creation = report["client_creation"]
    print(f"Client creation on {creation['components']} components / {creation['events']} events ({creation['config_kb']} KB /config), median ms:")
    print(f"  fresh Client(url) {creation['fresh_client_ms']}  cached full config {creation['cached_full_config_ms']}  our session client {creation['cached_session_client_ms']}  (x{creation['speedup']})  + app_id check {creation['app_id_check_ms']}")
    print(result_line(f"client creation, {creation['components']} components", creation["cached_session_client_ms"], "ms", creation["fresh_client_ms"], "fresh gradio_client Client(url)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
