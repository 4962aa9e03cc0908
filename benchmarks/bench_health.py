"""Health checking at scale and the idle cost of the ServiceManager, each beside a baseline.

    python -m benchmarks.bench_health [--services 100] [--check-ms 50] [--workers 16]
                                      [--idle-seconds 60] [--json] [--strict]

1. One cycle of 100 simulated services (in-process fakes whose check takes
   ``--check-ms``, as a loopback or LAN round trip would) through the real manager:
   scheduler thread, bounded executor (≤ 16 threads), pools, rules, history, events.
   Baselines: the same checks one after another (what a naive loop costs), and a bare
   ``ThreadPoolExecutor(16).map`` over them (the floor for 16 threads).
   Goal: < 1 s with ≤ 16 threads.
2. Idle CPU: a started manager with the three default services (fakes, default health
   intervals of 30 and 60 s) for ``--idle-seconds``, measured as process CPU time
   ÷ wall time, beside a bare ``time.sleep`` of the same length. Goal: < 1 %.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from benchmarks.run import result_line
from movie_director.manager import ManagerOptions, ServiceManager
from movie_director_testing.fake_backend import FakeBackend, fake_config, fake_plugins

GOAL_CYCLE_S = 1.0
GOAL_IDLE_CPU = 0.01


def fleet(count: int, check_ms: float) -> tuple[FakeBackend, dict[str, str]]:
    backend = FakeBackend()
    names = {f"svc{n:03d}": f"http://127.0.0.1:{20000 + n}" for n in range(count)}
    for url in names.values():
        backend.service_at(url).check_seconds = check_ms / 1000
    return backend, names


def one_cycle(count: int, check_ms: float, workers: int) -> dict[str, float]:
    backend, names = fleet(count, check_ms)
    with tempfile.TemporaryDirectory() as data_dir:
        manager = ServiceManager(fake_config(data_dir, names, health_interval=30.0), fake_plugins(backend), options=ManagerOptions(check_workers=workers))
        began = time.perf_counter()
        manager.start()
        if not manager.wait_checked(60):
            raise RuntimeError("not every service was checked within 60 s")
        ours = time.perf_counter() - began
        threads = sum(thread.name.startswith("md-health-check") for thread in threading.enumerate())
        online = sum(service.status == "online" for service in manager.snapshot().services)
        manager.close()
    connections = [backend.connect(fake_config(".", {"x": url}).services["x"]) for url in names.values()]
    began = time.perf_counter()
    for connection in connections:
        backend.health(connection)
    sequential = time.perf_counter() - began
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(backend.health, connections))
    bare_pool = time.perf_counter() - began
    for connection in connections:
        connection.close()
    return {"ours_s": ours, "sequential_s": sequential, "bare_executor_s": bare_pool, "check_threads": threads, "online": online}


def idle_cpu(seconds: float) -> dict[str, float]:
    def cpu() -> float:
        return time.process_time()

    began_cpu, began = cpu(), time.perf_counter()
    time.sleep(seconds)
    baseline = (cpu() - began_cpu) / (time.perf_counter() - began)

    backend = FakeBackend()
    names = {"comfyui": "http://127.0.0.1:8188", "wan2gp": "http://127.0.0.1:7860", "litellm": "http://127.0.0.1:4000"}
    intervals = {"comfyui": 30.0, "wan2gp": 60.0, "litellm": 60.0}
    with tempfile.TemporaryDirectory() as data_dir:
        config = fake_config(data_dir, names)
        config = replace(config, services={name: replace(entry, health_interval=intervals[name]) for name, entry in config.services.items()})
        with ServiceManager(config, fake_plugins(backend)) as manager:
            manager.wait_checked(10)
            checks_before = sum(service.checks for service in backend.services.values())
            began_cpu, began = cpu(), time.perf_counter()
            time.sleep(seconds)
            ours = (cpu() - began_cpu) / (time.perf_counter() - began)
            checks = sum(service.checks for service in backend.services.values()) - checks_before
    return {"ours": ours, "sleep_baseline": baseline, "checks_during": checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--check-ms", type=float, default=50.0, help="simulated duration of one check")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    cycle = one_cycle(args.services, args.check_ms, args.workers)
    ok = cycle["ours_s"] < GOAL_CYCLE_S and cycle["check_threads"] <= 16
    print(f"one check cycle of {args.services} services, {args.check_ms:.0f} ms per check (goal < {GOAL_CYCLE_S:.0f} s, ≤ 16 threads):")
    print(f"  ours (manager, {cycle['check_threads']} check threads)   {cycle['ours_s']:.3f} s   ({cycle['online']} online)")
    print(f"  bare ThreadPoolExecutor({args.workers}).map  {cycle['bare_executor_s']:.3f} s   ratio {cycle['ours_s'] / cycle['bare_executor_s']:.2f}")
    print(f"  sequential loop                {cycle['sequential_s']:.3f} s")
    print(result_line(
        f"check cycle, {args.services} services × {args.check_ms:g} ms", cycle["ours_s"], "s", cycle["bare_executor_s"], f"bare ThreadPoolExecutor({args.workers}).map",
        f"< {GOAL_CYCLE_S:g} s, ≤ 16 threads", cycle["ours_s"] < GOAL_CYCLE_S and cycle["check_threads"] <= 16,
    ))
    idle = idle_cpu(args.idle_seconds)
    ok &= idle["ours"] < GOAL_IDLE_CPU
    print(f"idle CPU over {args.idle_seconds:.0f} s, 3 services (goal < {GOAL_IDLE_CPU:.0%}):")
    print(f"  ours {idle['ours']:.3%} ({idle['checks_during']} checks ran)   bare time.sleep {idle['sleep_baseline']:.3%}")
    print(result_line(f"idle CPU, 3 services, {args.idle_seconds:g} s", idle["ours"] * 100, "%", idle["sleep_baseline"] * 100, "bare time.sleep", f"< {GOAL_IDLE_CPU:.0%}", idle["ours"] < GOAL_IDLE_CPU))
    if args.json:
        print(json.dumps({"cycle": cycle, "idle": idle}))
    print("goals met" if ok else "GOAL MISSED")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
