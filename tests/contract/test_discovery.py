"""Discovery over the targets' ports, as ``movie-director discover`` runs it (capabilities included).

One scan covers every target (they answer side by side, as on an artist's machine); each
target's row says how that target fared in it. The time judged is when the target was
named (its ``on_result``): reading capabilities comes after naming, timed apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from movie_director.discovery import DEFAULT_TIMEOUT, DiscoveryResult, DiscoveryRun
from movie_director_testing.contract import KINDS, Target

pytestmark = pytest.mark.timeout(120)

#: Issue 15's goal: with ComfyUI and Wan2GP's web UI and MCP server up, Discover names them all within this.
VIDEO_BACKENDS_GOAL_S = 0.5
VIDEO_BACKENDS = {"comfyui", "wan2gp_ui", "wan2gp_mcp"}


@dataclass(frozen=True)
class Scan:
    """One discovery over the targets' ports: its results by port, when each was named, and the run's two timings."""

    elapsed: float
    capabilities_elapsed: float
    found: dict[int | None, DiscoveryResult]
    arrived: dict[int | None, float]

    def describe(self, target: Target) -> str:
        result = self.found.get(target.port)
        named = f"named {result.kind if result else 'nothing'} after {self.arrived.get(target.port, float('inf')):.2f} s"
        return f"{named} of a {self.elapsed:.2f} s scan, capabilities read in {self.capabilities_elapsed:.2f} s"


def scan(targets: list[Target]) -> Scan:
    arrived: dict[int | None, float] = {}
    started = time.perf_counter()

    def on_result(result: DiscoveryResult) -> None:
        arrived[urlsplit(result.url).port] = time.perf_counter() - started

    run = DiscoveryRun(ports=sorted({target.port for target in targets}), include_default_ports=False, on_result=on_result)
    found = {urlsplit(result.url).port: result for result in run.run()}
    return Scan(run.scan_elapsed, run.capabilities_elapsed, found, arrived)


@pytest.fixture(scope="module")
def scans(request: pytest.FixtureRequest) -> tuple[Scan, list[Scan]]:
    """The first scan after the servers started, and two more.

    The first is only reported, not judged: a LiteLLM proxy answers its first unknown
    route slowly (~1 s, seen on 1.108.7), which can use up that port's probe timeout.
    The next two are what an artist's next clicks get; the faster one is the time
    judged (on a shared machine one scan can be slowed by others' work, as in timeit).
    """
    targets = request.getfixturevalue("targets")  # looked up here: each scenario row is about its own target
    return scan(targets), [scan(targets), scan(targets)]


@pytest.fixture(params=list(KINDS))
def discovered(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue(f"{request.param}_target")


def test_discovery_time(discovered: Target, scans: tuple[Scan, list[Scan]], record_property) -> None:
    """Named with its kind and capabilities in every scan; within the probe timeout, ComfyUI and Wan2GP within the goal."""
    first, again = scans
    limit = VIDEO_BACKENDS_GOAL_S if discovered.kind in VIDEO_BACKENDS else DEFAULT_TIMEOUT
    best = min(again, key=lambda one: one.arrived.get(discovered.port, float("inf")))
    record_property("note", f"{best.describe(discovered)} (best of 2, limit {limit} s); first scan: {first.describe(discovered)}")
    for one in again:
        result = one.found.get(discovered.port)
        assert result is not None and result.kind == discovered.probe.kind, f"named {result.kind if result else 'nothing'}"
        assert result.capabilities, f"no capabilities: {result.details.get('capabilities_error')}"
    assert best.arrived[discovered.port] <= limit, f"named after {best.arrived[discovered.port]:.2f} s"
