"""Discovery against a plain sequential ``socket.connect_ex`` scan of the same ports, in one run.

    python -m benchmarks.bench_discovery [--rounds 5] [--json] [--strict]

The ComfyUI stand-in, the Wan2GP web-UI app (Gradio 5.29), the Wan2GP MCP stand-in as
costly as the real 12.60 (217 models, list pages capped at 10, 20–70 ms a tool call) and
the real LiteLLM proxy are started on their default ports (8188, 7860, 8765, 4000) when
those are free on this machine, else on free ports that are added to the scan (the report
says which). Three scans:

- the default candidates (every backend's default ports, IPv4 and IPv6 loopback):
  goal ≤ 0.3 s to find and name the four services;
- the same as `movie-director discover` runs it, capabilities read after naming (the
  217-model catalogue included): goal ≤ 0.5 s for the scan (its "found in … s"), and the
  capabilities time as its own figure (no goal: a catalogue takes what it takes);
- a 1,000-port range (7400–8399, both loopbacks): goal ≤ 2 s.

Discovery does more than the baseline: it also probes every open port to name what
answers there (and sniffs one no backend claims); the baseline only connects. A scan's
figure is the time to name every open port; each figure is the median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from benchmarks.run import result_line
from movie_director.configdata import AuthRef
from movie_director.discovery import Candidate, DiscoveryRun
from movie_director_testing.comfyui_standin import launch as launch_comfyui
from movie_director_testing.gradio_apps import launch_wan2gp_webui
from movie_director_testing.litellm_proxy import (
    DEFAULT_MASTER_KEY,
    launch_litellm_proxy,
)
from movie_director_testing.processes import ServerProcess, port_accepts
from movie_director_testing.wan2gp_mcp import launch_wan2gp_mcp

KEY_ENV = "MOVIE_DIRECTOR_LITELLM_API_KEY"
RANGE = range(7400, 8400)
GOALS = {"defaults": 0.3, "defaults + capabilities": 0.5, "range": 2.0}
#: name → (default port, launcher, the kind discovery must name it, the URL path it reports)
LAUNCHERS: dict[str, tuple[int, Callable[..., ServerProcess], str, str]] = {
    "comfyui": (8188, launch_comfyui, "comfyui", ""),
    "wan2gp": (7860, launch_wan2gp_webui, "wan2gp", ""),
    "wan2gp-mcp": (8765, partial(launch_wan2gp_mcp, realistic=True), "wan2gp", "/mcp"),
    "litellm": (4000, launch_litellm_proxy, "litellm", ""),
}


def port_free(port: int) -> bool:
    """Nobody listens on ``port`` on either loopback, and we may bind it."""
    if port_accepts("127.0.0.1", port) or port_accepts("::1", port):
        return False
    try:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no obstacle
            sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


@contextmanager
def services() -> Iterator[dict[str, ServerProcess]]:
    with ExitStack() as stack:
        started = {}
        for kind, (port, launch, _, _) in LAUNCHERS.items():
            server = launch(port=port if port_free(port) else None)
            started[kind] = stack.enter_context(server)
        yield started


def sequential_scan(candidates: list[Candidate], timeout: float) -> int:
    """The baseline: one blocking ``connect_ex`` after the other."""
    open_ports = 0
    for candidate in candidates:
        family = socket.AF_INET6 if ":" in candidate.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            open_ports += sock.connect_ex((candidate.host, candidate.port)) == 0
    return open_ports


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def scenario(name: str, make_run: Callable[[], DiscoveryRun], rounds: int, wanted: dict[str, str]) -> dict[str, Any]:
    """Median times of discovery (naming; capabilities apart) and of the sequential baseline over the same candidates, alternating."""
    ours, capabilities, baseline, found_all = [], [], [], True
    results: list[Any] = []
    for _ in range(rounds):
        run = make_run()
        results = run.run()
        ours.append(run.scan_elapsed)
        capabilities.append(run.capabilities_elapsed)
        found = {result.url: result.kind for result in results}
        found_all &= all(found.get(url) == kind for url, kind in wanted.items())
        base_seconds, _ = timed(partial(sequential_scan, run.candidates, run.connect_timeout))
        baseline.append(base_seconds)
    return {
        "name": name,
        "candidates": len(run.candidates),
        "open_ports": len(results),
        "recognized": sorted(
            f"{result.kind} {result.url}" + ("" if result.capabilities is None else f" ({len(result.capabilities)} capabilities)")
            for result in results
            if result.recognized
        ),
        "named_expected": found_all,
        "ours_s": statistics.median(ours),
        "capabilities_s": statistics.median(capabilities) if run.with_capabilities else None,
        "baseline_s": statistics.median(baseline),
    }


def run_benchmark(rounds: int) -> dict[str, Any]:
    os.environ[KEY_ENV] = DEFAULT_MASTER_KEY
    auth = {"litellm": AuthRef(KEY_ENV)}
    with services() as started:
        wanted = {server.url + LAUNCHERS[name][3]: LAUNCHERS[name][2] for name, server in started.items()}
        on_default = {kind: server.port == LAUNCHERS[kind][0] for kind, server in started.items()}
        extra = [server.port for kind, server in started.items() if not on_default[kind]]
        in_range = [port for port in extra if port not in RANGE]
        rows = [
            scenario("defaults", lambda: DiscoveryRun(ports=extra, with_capabilities=False), rounds, wanted),
            scenario("defaults + capabilities", lambda: DiscoveryRun(ports=extra, auth=auth), rounds, wanted),
            scenario(
                "range",
                lambda: DiscoveryRun(ports=[*RANGE, *in_range], include_default_ports=False, with_capabilities=False),
                rounds,
                {url: kind for url, kind in wanted.items() if urlsplit(url).port in RANGE or urlsplit(url).port in in_range},
            ),
        ]
    for row in rows:
        goal = GOALS.get(row["name"])
        row["goal_s"] = goal
        row["meets_goal"] = None if goal is None else row["ours_s"] <= goal
        row["ratio"] = row["ours_s"] / row["baseline_s"] if row["baseline_s"] else float("inf")
    return {"rounds": rounds, "on_default_ports": on_default, "scenarios": rows}


def report(results: dict[str, Any]) -> str:
    placed = ", ".join(f"{kind} {'on its default port' if default else 'on a free port (default taken)'}" for kind, default in results["on_default_ports"].items())
    lines = [f"Services: {placed}. Median of {results['rounds']} rounds; baseline = sequential socket.connect_ex of the same candidates."]
    lines.append(f"  {'scan':<24} {'candidates':>10} {'open':>5} {'ours s':>8} {'baseline s':>11} {'ratio':>7}  goal")
    for row in results["scenarios"]:
        goal = "-" if row["goal_s"] is None else f"≤ {row['goal_s']:g} s: {'meets' if row['meets_goal'] else 'MISSES'}"
        lines.append(
            f"  {row['name']:<24} {row['candidates']:>10} {row['open_ports']:>5} {row['ours_s']:>8.3f} {row['baseline_s']:>11.3f} {row['ratio']:>6.2f}×  {goal}"
        )
        lines.append(f"    named every stand-in scanned: {row['named_expected']}; recognised: {', '.join(row['recognized']) or '-'}")
        met = None if row["goal_s"] is None else bool(row["meets_goal"] and row["named_expected"])
        goal_text = "-" if row["goal_s"] is None else f"≤ {row['goal_s']:g} s, every stand-in named"
        lines.append(result_line(f"scan {row['name']}, {row['candidates']} candidates", row["ours_s"], "s", row["baseline_s"], "sequential connect_ex, no probing", goal_text, met))
        if row["capabilities_s"] is not None:
            lines.append(result_line(f"capabilities read after the scan {row['name']}", row["capabilities_s"], "s", None, "no baseline: read in parallel after naming"))
    lines.append("  (ours also probes every open port, and sniffs one no backend names; the baseline only connects)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per scan (default 5)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed or a service is not named")
    args = parser.parse_args(argv)
    results = run_benchmark(args.rounds)
    print(json.dumps(results, indent=2) if args.json else report(results))
    missed = [row for row in results["scenarios"] if row["meets_goal"] is False or not row["named_expected"]]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
