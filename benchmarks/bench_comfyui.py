"""ComfyUI plugin benchmarks, each against a bare baseline measured in the same run.

1. Event throughput: the same byte stream (a sampling run as ComfyUI 0.3.64 sends it to
   a client with preview metadata: ``progress_state``, a type-4 preview, ``progress`` per
   step) is read by
   - a bare ``websocket-client`` loop (``create_connection`` + ``recv()``, its defaults),
   - a bare loop tuned like our reader (``skip_utf8_validation``, ``recv_data()``),
   - our reader (:class:`WebSocketSession`: framing + event decoding),
   - our reader feeding the job tracker (what a submitted job really costs).
   The server is an in-process scripted socket that writes the pre-encoded stream with
   one ``sendall``, so the client side is what is measured.
2. Submit latency against the stand-in process: ``ComfyUIClient.submit`` (checked
   against the cached /object_info, tracked, socket open) vs a bare ``requests``
   session POST of the same body, and vs ``requests.post`` (a new connection each time).

Rounds are interleaved. Other processes share the CPU, so wall-clock rates wander; the
CPU time of the reading thread (``time.thread_time``) is the steadier measure of what
the reader costs, and both ratios are printed.

    python -m benchmarks.bench_comfyui [--steps 10000] [--rounds 5] [--submits 100] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable

import requests
import websocket

from benchmarks.run import result_line
from movie_director.check import adhoc_service
from movie_director_plugins.comfyui.client import ComfyUIClient
from movie_director_plugins.comfyui.jobs import JobTracker
from movie_director_plugins.comfyui.session import SocketOptions, WebSocketSession
from movie_director_testing.scripted_ws import (
    BINARY,
    TEXT,
    Peer,
    ScriptedWebSocketServer,
    encode_frame,
)

PREVIEW_BYTES = 2048
BARE = "bare websocket-client recv()"
TUNED = "bare recv_data(), no utf8 check"
GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench"}},
}


def sampling_stream(prompt_id: str, steps: int) -> list[bytes]:
    """The frames of one KSampler run with previews, ending with the prompt's last frame."""
    frames: list[bytes] = []

    def text(kind: str, data: dict) -> None:
        frames.append(encode_frame(TEXT, json.dumps({"type": kind, "data": data})))

    node = {"node_id": "3", "prompt_id": prompt_id, "display_node_id": "3", "parent_node_id": None, "real_node_id": "3"}
    metadata = json.dumps({**node, "image_type": "image/jpeg"}).encode()
    preview = encode_frame(BINARY, struct.pack(">II", 4, len(metadata)) + metadata + bytes(PREVIEW_BYTES))
    text("status", {"status": {"exec_info": {"queue_remaining": 1}}})
    text("execution_start", {"prompt_id": prompt_id, "timestamp": 1})
    text("execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": 1})
    text("executing", {"node": "3", "display_node": "3", "prompt_id": prompt_id})
    for step in range(steps):
        text("progress_state", {"prompt_id": prompt_id, "nodes": {"3": {"value": step, "max": steps, "state": "running", **node}}})
        frames.append(preview)
        text("progress", {"value": step + 1, "max": steps, "prompt_id": prompt_id, "node": "3"})
    text("executed", {"node": "3", "display_node": "3", "output": {"images": [{"filename": "x.png", "subfolder": "", "type": "output"}]}, "prompt_id": prompt_id})
    text("execution_success", {"prompt_id": prompt_id, "timestamp": 2})
    text("status", {"status": {"exec_info": {"queue_remaining": 0}}})
    text("executing", {"node": None, "prompt_id": prompt_id})
    return frames


def reader_benchmark(steps: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Events per second of each reader, by wall clock and per CPU-second of the reading thread."""
    prompt_id = str(uuid.uuid4())
    frames = sampling_stream(prompt_id, steps)
    count = len(frames)
    stream = b"".join(frames)

    def play(peer: Peer) -> None:
        peer.receive(10.0)  # every client speaks first (ours: feature_flags), so timing starts equal
        peer.send_raw(stream)
        peer.wait_closed(30.0)

    def bare(tuned: bool) -> Callable[[str], tuple[float, float]]:
        def run(url: str) -> tuple[float, float]:
            started = time.perf_counter()
            ws = websocket.create_connection(url, skip_utf8_validation=tuned, suppress_origin=True)
            ws.send("go")
            cpu = time.thread_time()
            receive = ws.recv_data if tuned else ws.recv
            for _ in range(count):
                receive()
            cpu = time.thread_time() - cpu
            elapsed = time.perf_counter() - started
            ws.close()
            return elapsed, cpu

        return run

    def ours(with_jobs: bool) -> Callable[[str], tuple[float, float]]:
        def run(url: str) -> tuple[float, float]:
            finished = threading.Event()
            seen = [0]
            cpu = [0.0]
            route: Callable[[object], None] | None = None
            if with_jobs:
                tracker = JobTracker(None, "ComfyUI", 1.0, 60.0, events_live=lambda: True)  # type: ignore[arg-type]
                job = tracker.track(prompt_id, GRAPH, frozenset(GRAPH))
                job.submitted(0)
                route = tracker.on_event  # type: ignore[assignment]

            def on_event(event: object) -> None:  # on the reader thread: its CPU clock is the reader's
                if seen[0] == 0:
                    cpu[0] = time.thread_time()
                seen[0] += 1
                if route is not None:
                    route(event)
                if seen[0] == count:
                    cpu[0] = time.thread_time() - cpu[0]
                    finished.set()

            session = WebSocketSession(SocketOptions(url), "bench", on_event)
            started = time.perf_counter()
            session.connect()
            finished.wait(120)
            elapsed = time.perf_counter() - started
            session.close()
            if seen[0] != count or (with_jobs and not job.done):
                raise RuntimeError(f"our reader saw {seen[0]} of {count} events")
            return elapsed, cpu[0]

        return run

    readers = {
        BARE: bare(False),
        TUNED: bare(True),
        "our reader (decode)": ours(False),
        "our reader + job tracking": ours(True),
    }
    results: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in readers}
    with ScriptedWebSocketServer(play) as server:
        for _ in range(rounds):
            for name, run in readers.items():
                gc.collect()
                wall, cpu = run(server.url + "/ws")
                results[name]["wall"].append(count / wall)
                results[name]["cpu"].append(count / max(cpu, 1e-9))
    return results


def submit_benchmark(submits: int) -> dict[str, list[float]]:
    """Milliseconds per submit against the stand-in process."""
    from movie_director_testing.comfyui_standin import launch

    server = launch(node_delay=0).start()
    try:
        client = ComfyUIClient(adhoc_service(server.url, "comfyui"))
        session = requests.Session()
        session.trust_env = False
        body = {"prompt": GRAPH, "client_id": client.client_id}
        client.submit(GRAPH).wait(30)  # warm: socket open, node list cached
        calls: dict[str, Callable[[], object]] = {
            "bare requests.post (new connection)": lambda: requests.post(server.url + "/prompt", json=body, timeout=10),
            "bare requests.Session().post": lambda: session.post(server.url + "/prompt", json=body, timeout=10),
            "ComfyUIClient.submit": lambda: client.submit(GRAPH),
        }
        results: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(submits):
            for name, send in calls.items():
                started = time.perf_counter()
                send()
                results[name].append((time.perf_counter() - started) * 1000)
        client.close()
        session.close()
        return results
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10000, help="sampling steps in the stream (3 frames each)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--submits", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    readers = reader_benchmark(args.steps, args.rounds)
    submits = submit_benchmark(args.submits)
    bare_submit = statistics.median(submits["bare requests.Session().post"])

    def ratio(name: str, baseline: str, clock: str) -> float:
        return round(statistics.median(readers[name][clock]) / statistics.median(readers[baseline][clock]), 2)

    report = {
        "events": {
            name: {
                "wall_best_per_s": round(max(values["wall"])),
                "wall_median_per_s": round(statistics.median(values["wall"])),
                "cpu_median_per_s": round(statistics.median(values["cpu"])),
                "vs_bare_recv": {"wall": ratio(name, BARE, "wall"), "cpu": ratio(name, BARE, "cpu")},
                "vs_tuned_recv_data": {"wall": ratio(name, TUNED, "wall"), "cpu": ratio(name, TUNED, "cpu")},
            }
            for name, values in readers.items()
        },
        "submit_ms": {
            name: {
                "median": round(statistics.median(values), 3),
                "p90": round(sorted(values)[int(len(values) * 0.9) - 1], 3),
                "vs_session_post": round(statistics.median(values) / bare_submit, 2),
            }
            for name, values in submits.items()
        },
        "frames_per_round": len(sampling_stream("x", args.steps)),
        "rounds": args.rounds,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Event throughput: {report['frames_per_round']} frames a round, {args.rounds} rounds; ratios of medians (wall clock / CPU of the reading thread)")
    print(f"  {'reader':34} {'best/s':>8} {'median/s':>9} {'CPU/s':>8} {'÷bare':>11} {'÷tuned':>11}")
    for name, row in report["events"].items():
        bare_ratio = f"{row['vs_bare_recv']['wall']}/{row['vs_bare_recv']['cpu']}"
        tuned_ratio = f"{row['vs_tuned_recv_data']['wall']}/{row['vs_tuned_recv_data']['cpu']}"
        print(f"  {name:34} {row['wall_best_per_s']:>8} {row['wall_median_per_s']:>9} {row['cpu_median_per_s']:>8} {bare_ratio:>11} {tuned_ratio:>11}")
    full = report["events"]["our reader + job tracking"]
    meets = full["vs_tuned_recv_data"]["cpu"] >= 0.8 and full["vs_bare_recv"]["cpu"] >= 0.8 and full["wall_median_per_s"] >= 10_000
    print(
        f"  goal ≥ 0.8× a bare loop and ≥ 10k events/s: {'met' if meets else 'NOT met'} "
        f"(reader + jobs: {full['vs_bare_recv']['cpu']}× bare recv(), {full['vs_tuned_recv_data']['cpu']}× tuned recv_data() per CPU-second; "
        f"{full['wall_median_per_s']} events/s)"
    )
    bare, tuned = report["events"][BARE], report["events"][TUNED]
    for label, baseline, row, key in (("bare", BARE, bare, "vs_bare_recv"), ("tuned", TUNED, tuned, "vs_tuned_recv_data")):
        ratio_cpu = full[key]["cpu"]
        print(result_line(f"events per CPU-second, reader + jobs vs {label}", full["cpu_median_per_s"], "events/s", row["cpu_median_per_s"], baseline, "≥ 0.8×", ratio_cpu >= 0.8, ratio=ratio_cpu))
    print(result_line("events/s wall clock, reader + jobs", full["wall_median_per_s"], "events/s", bare["wall_median_per_s"], BARE, "≥ 10,000 events/s", full["wall_median_per_s"] >= 10_000))
    print(f"Submit latency ({args.submits} each, interleaved):")
    print(f"  {'call':36} {'median ms':>9} {'p90 ms':>9} {'÷session':>8}")
    for name, row in report["submit_ms"].items():
        print(f"  {name:36} {row['median']:>9} {row['p90']:>9} {row['vs_session_post']:>8}")
    print(result_line("submit latency, median", report["submit_ms"]["ComfyUIClient.submit"]["median"], "ms", bare_submit, "bare requests.Session().post"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
