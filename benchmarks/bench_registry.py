"""Registry ``find`` against a linear search over every instance's capabilities, in one run.

    python -m benchmarks.bench_registry [--seconds 1.0] [--json] [--strict]

The registry holds a studio's worth of services: three ComfyUI GPU boxes (500 node
classes each, plus image generation), two Wan2GP boxes and a LiteLLM proxy with four
models, with different loads. Each query kind is run for ``--seconds`` by our
:meth:`Registry.find` (indexed, lock-free) and by the baseline: the same answer computed
by scanning every capability of every instance under a lock, as a registry without an
index would. Goal: ≥ 100,000 ``find`` queries per second for every query kind, also
while a writer thread updates health 1,000 times a second.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.run import result_line
from movie_director.backend import Capability, Status
from movie_director.capabilities import (
    IMAGE_GENERATE,
    LLM_CHAT,
    VIDEO_GENERATE,
    limits_of,
    standard,
)
from movie_director.registry import Instance, Registry

GOAL_QPS = 100_000
QUERIES: dict[str, tuple[str, dict[str, Any]]] = {
    "image.generate": (IMAGE_GENERATE, {}),
    "llm.chat id=mock-gpt": (LLM_CHAT, {"id": "mock-gpt"}),
    "video.generate 1280×720, 81 frames": (VIDEO_GENERATE, {"width": 1280, "height": 720, "frames": 81}),
    "comfyui.node id=KSampler": ("comfyui.node", {"id": "KSampler"}),
}


def studio() -> list[Instance]:
    nodes = tuple(Capability("comfyui.node", name) for name in ["KSampler", *(f"Node{number}" for number in range(499))])
    image = standard(IMAGE_GENERATE, id="KSampler", details={"models": ["sdxl.safetensors", "flux.safetensors"]})
    comfy = [
        Instance(f"gpu-{letter}", "comfyui", f"http://10.0.0.{number}:8188", status=Status.ONLINE, queue_depth=queue, latency_ms=latency, capabilities=(image, *nodes))
        for number, (letter, queue, latency) in enumerate([("a", 3, 12.0), ("b", 1, 30.0), ("c", 1, 18.0)], start=1)
    ]
    video = [
        Instance(f"wan-{number}", "wan2gp", f"http://10.0.1.{number}:7860", status=status, capabilities=(standard(VIDEO_GENERATE, id="t2v", details={"mode": "t2v"}),))
        for number, status in [(1, Status.DEGRADED), (2, Status.ONLINE)]
    ]
    llm = Instance(
        "llm", "litellm", "http://127.0.0.1:4000", status=Status.ONLINE,
        capabilities=tuple(standard(LLM_CHAT, id=model, limits={"max_tokens": (1, 16384)}) for model in ["mock-gpt", "mock-story", "gpt-4o", "llama"]),
    )
    return [*comfy, *video, llm]


class LinearRegistry:
    """The baseline: the same routing rule, answered by scanning everything under a lock.

    Limits are worked out once, up front, so the baseline pays only for the scan.
    """

    def __init__(self, instances: list[Instance]) -> None:
        self.lock = threading.Lock()
        self.instances = [(instance, [(offered, limits_of(offered)) for offered in instance.capabilities]) for instance in instances]

    def find(self, capability: str, **requirements: Any) -> Instance | None:
        wanted_id = requirements.pop("id", None)
        best = None
        with self.lock:
            for instance, offers in self.instances:
                if instance.status is Status.OFFLINE:
                    continue
                for offered, limits in offers:
                    if offered.name != capability or (wanted_id is not None and offered.id != wanted_id):
                        continue
                    if all(key in limits and not limits[key].problem(value) for key, value in requirements.items()):
                        if best is None or instance.rank < best.rank:
                            best = instance
                        break
        return best


def rate(find: Callable[..., Instance | None], capability: str, requirements: dict[str, Any], seconds: float) -> float:
    """Queries per second of ``find`` over about ``seconds`` (batches of 1,000 between clock reads)."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(1000):
            find(capability, **requirements)
        count += 1000
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def rate_with_health_writer(registry: Registry, capability: str, requirements: dict[str, Any], seconds: float) -> float:
    """:func:`rate` of ``registry.find`` while another thread reports health 1,000 times a second."""
    stop = threading.Event()

    def writer() -> None:
        step = 0
        while not stop.wait(0.001):
            registry.update_health(f"gpu-{'abc'[step % 3]}", Status.ONLINE, queue_depth=step % 4, latency_ms=10.0 + step % 7)
            step += 1

    thread = threading.Thread(target=writer, name="bench-health-writer")
    thread.start()
    try:
        return rate(registry.find, capability, requirements, seconds)
    finally:
        stop.set()
        thread.join(timeout=5)


def run(seconds: float) -> dict[str, Any]:
    rows = []
    for label, (capability, requirements) in QUERIES.items():
        registry, linear = Registry(studio()), LinearRegistry(studio())  # fresh: the writer below changes loads
        ours_answer, linear_answer = registry.find(capability, **requirements), linear.find(capability, **requirements)
        assert ours_answer is not None and linear_answer is not None and ours_answer.name == linear_answer.name, label
        ours = rate(registry.find, capability, requirements, seconds)
        baseline = rate(linear.find, capability, requirements, seconds)
        contended = rate_with_health_writer(registry, capability, requirements, seconds)
        rows.append({"query": label, "answer": ours_answer.name, "ours_qps": ours, "ours_with_writer_qps": contended, "baseline_qps": baseline})
    return {"seconds_per_measure": seconds, "goal_qps": GOAL_QPS, "queries": rows}


def report(results: dict[str, Any]) -> str:
    lines = [
        (
            f"find() queries per second, {results['seconds_per_measure']:g} s per figure; baseline = linear scan under a lock; "
            f"goal ≥ {results['goal_qps']:,} q/s (also with a 1 kHz health writer):"
        ),
        f"  {'query':<36} {'answer':<7} {'ours':>10} {'+writer':>10} {'baseline':>10} {'ratio':>7}  goal",
    ]
    for row in results["queries"]:
        verdict = "meets" if min(row["ours_qps"], row["ours_with_writer_qps"]) >= results["goal_qps"] else "MISSES"
        lines.append(
            f"  {row['query']:<36} {row['answer']:<7} {row['ours_qps']:>10,.0f} {row['ours_with_writer_qps']:>10,.0f} "
            f"{row['baseline_qps']:>10,.0f} {row['ours_qps'] / row['baseline_qps']:>6.1f}×  {verdict}"
        )
    for row in results["queries"]:
        worst = min(row["ours_qps"], row["ours_with_writer_qps"])
        lines.append(result_line(f"find() {row['query']}, worst of alone / with writer", worst, "q/s", row["baseline_qps"], "linear scan under a lock", f"≥ {results['goal_qps']:,} q/s", worst >= results["goal_qps"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per figure (default 1)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args(argv)
    results = run(args.seconds)
    print(json.dumps(results, indent=2) if args.json else report(results))
    missed = [row for row in results["queries"] if min(row["ours_qps"], row["ours_with_writer_qps"]) < GOAL_QPS]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
