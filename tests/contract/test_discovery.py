"""Discovery over the targets' ports, as ``movie-director discover`` runs it (capabilities included)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from movie_director.discovery import DEFAULT_TIMEOUT, DiscoveryResult, DiscoveryRun
from movie_director.testing.contract import Target

pytestmark = pytest.mark.timeout(120)

#: Issue 15's goal: with ComfyUI and Wan2GP's web UI and MCP server up, Discover names them all within this.
VIDEO_BACKENDS_GOAL_S = 0.5
VIDEO_BACKENDS = {"comfyui", "wan2gp_ui", "wan2gp_mcp"}


def scan(targets: list[Target]) -> tuple[DiscoveryRun, dict[int | None, DiscoveryResult], dict[str, float]]:
    """One discovery over the targets' ports: the run, its results by port, and when each target was named."""
    arrived: dict[int | None, float] = {}
    started = time.perf_counter()

    def on_result(result: DiscoveryResult) -> None:
        arrived[urlsplit(result.url).port] = time.perf_counter() - started

    run = DiscoveryRun(ports=sorted({target.port for target in targets}), include_default_ports=False, on_result=on_result)
    found = {urlsplit(result.url).port: result for result in run.run()}
    return run, found, {target.kind: arrived.get(target.port, float("inf")) for target in targets}


def describe(run: DiscoveryRun, found: dict[int | None, DiscoveryResult], each: dict[str, float], targets: list[Target]) -> str:
    named = ", ".join(f"{target.kind} {found[target.port].kind if target.port in found else 'missing'} {each[target.kind]:.2f}" for target in targets)
    return f"{run.elapsed:.2f} s ({named})"


def test_discovery_time(targets: list[Target], record_property) -> None:
    """Every target named with its capabilities within the probe timeout; the video backends within the goal.

    The first scan after the servers started is only reported, not judged: a LiteLLM
    proxy answers its first unknown route slowly (~1 s, seen on 1.108.7), which can use
    up the probe timeout of that port. The second scan is what an artist's next click gets.
    """
    first = scan(targets)
    run, found, each = scan(targets)
    video = max(seconds for kind, seconds in each.items() if kind in VIDEO_BACKENDS)
    record_property(
        "note", f"goal {VIDEO_BACKENDS_GOAL_S} s for ComfyUI + Wan2GP; scan {describe(run, found, each, targets)}; first scan {describe(*first, targets)}"
    )
    for target in targets:
        result = found[target.port]
        assert result.kind == target.probe.kind and result.capabilities, result
    assert run.elapsed <= DEFAULT_TIMEOUT, f"the scan took {run.elapsed:.2f} s, more than the probe timeout"
    assert video <= VIDEO_BACKENDS_GOAL_S, f"ComfyUI and Wan2GP were named after {video:.2f} s"
