"""``comfyui run --repeat N`` over 1, 2 and 3 ComfyUI instances, and with one killed mid-batch.

    python -m benchmarks.bench_fleet [--runs 12 48] [--node-delay 0.3] [--json]

Three ComfyUI stand-ins run as real processes with slow nodes (``--node-delay 0.3``: the
stand-in's two-step text-to-image workflow takes about 1.5 s). The real command, ``movie-director comfyui
run WF --repeat N --json``, runs against the first one, two, then three of them (the
instances passed as one comma-separated ``--url``); the figure is the throughput ratio
against one instance in the same run, the baseline. Every instance runs one warm-up
batch first, so its model loaders are cached as they would be on a working server.

Then the same batch of 12 over three instances, with the third SIGKILLed 1 s in (and
once a run executes on it, so that there is a sent run to move): how
many runs completed, how many were moved off the dead instance, and how many prompts
the survivors' histories hold twice (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from benchmarks.run import result_line
from movie_director_testing.comfyui_standin import launch
from movie_director_testing.comfyui_standin.workflows import txt2img
from movie_director_testing.processes import ServerProcess, wait_until

INSTANCES = (1, 2, 3)
GOALS = {12: 2.2, 48: 2.6}
KILL_AFTER_S = 1.0
KILL_RUNS = 12


def batch(folder: Path, urls: list[str], runs: int, prefix: str) -> subprocess.Popen[str]:
    """The command as an artist types it, in its own process."""
    workflow = folder / f"{prefix}_api.json"
    workflow.write_text(json.dumps(txt2img(prefix)), encoding="utf-8")
    argv = [sys.executable, "-m", "movie_director.cli", "comfyui", "run", str(workflow), "--repeat", str(runs), "--url", ",".join(urls), "--out", str(folder / prefix), "--json"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MOVIE_DIRECTOR_")}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, "MOVIE_DIRECTOR_DATA_DIR": str(folder / "data"), "HOME": str(folder)})


def finished(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=600)
    if process.returncode != 0:
        raise RuntimeError(f"the batch exited {process.returncode}: {stderr[-2000:]}")
    report: dict[str, Any] = json.loads(stdout)
    return report


def timed(folder: Path, urls: list[str], runs: int, prefix: str) -> float:
    began = time.monotonic()
    report = finished(batch(folder, urls, runs, prefix))
    elapsed = time.monotonic() - began
    used = {run["instance"] for run in report["runs"]}
    if len(report["runs"]) != runs or used != set(urls):
        raise RuntimeError(f"{runs} runs over {len(urls)} instances used {sorted(used)}")
    return elapsed


def executed(server: ServerProcess) -> list[str]:
    history = requests.get(f"{server.url}/history", timeout=5).json()
    return [node["inputs"]["filename_prefix"] for entry in history.values() for node in entry["prompt"][2].values() if node["class_type"] == "SaveImage"]


def killed_mid_batch(folder: Path, servers: list[ServerProcess]) -> dict[str, Any]:
    victim = servers[-1]
    began = time.monotonic()
    process = batch(folder, [server.url for server in servers], KILL_RUNS, "killed")
    # 1 s in, with a run executing on it (on a loaded machine the command may take longer than that to send its first runs)
    wait_until(lambda: requests.get(f"{victim.url}/_standin/state", timeout=5).json()["running"], 30, 0.02)
    wait_until(lambda: time.monotonic() - began >= KILL_AFTER_S, KILL_AFTER_S + 5, 0.01)
    victim.kill()
    report = finished(process)
    elapsed = time.monotonic() - began
    twice = sum(count - 1 for count in Counter(prefix for server in servers[:-1] for prefix in executed(server) if prefix.startswith("killed_")).values())
    return {
        "runs": KILL_RUNS,
        "completed": sum(1 for run in report["runs"] if run["status"] == "succeeded"),
        "distinct_files": len({path for run in report["runs"] for path in run["files"]}),
        "moved": sum(1 for run in report["runs"] if "moved_from" in run),
        "run_twice": twice,
        "seconds": elapsed,
    }


def run(batches: list[int], node_delay: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="md-bench-fleet-") as tmp:
        folder = Path(tmp)
        servers = [launch(node_delay=node_delay, base_dir=str(folder / f"comfyui{index}")) for index in INSTANCES]
        try:
            for server in servers:
                server.start()
            urls = [server.url for server in servers]
            finished(batch(folder, urls, len(urls), "warmup"))
            rows = [{"runs": runs, "instances": count, "seconds": timed(folder, urls[:count], runs, f"b{runs}_{count}")} for runs in batches for count in INSTANCES]
            kill = killed_mid_batch(folder, servers)
        finally:
            for server in servers:
                server.close()
    return {"node_delay": node_delay, "rows": rows, "kill": kill}


def report(results: dict[str, Any]) -> str:
    rows = results["rows"]
    lines = [
        f"`comfyui run --repeat N` over ComfyUI stand-ins (node delay {results['node_delay']:g} s, about 1.5 s a run); wall time of the command:",
        f"  {'runs':>5} {'instances':>9} {'seconds':>8} {'runs/s':>7} {'× one':>6}",
    ]
    one = {row["runs"]: row["seconds"] for row in rows if row["instances"] == 1}
    for row in rows:
        lines.append(f"  {row['runs']:>5} {row['instances']:>9} {row['seconds']:>8.2f} {row['runs'] / row['seconds']:>7.2f} {one[row['runs']] / row['seconds']:>6.2f}")
    kill = results["kill"]
    lines.append(
        f"  killed: {kill['runs']} runs over 3 instances, the third SIGKILLed {KILL_AFTER_S:g} s in: {kill['completed']} completed "
        f"({kill['distinct_files']} distinct files), {kill['moved']} moved off the dead instance, {kill['run_twice']} run twice, {kill['seconds']:.2f} s"
    )
    for row in rows:
        if row["instances"] == 1:
            continue
        ratio = one[row["runs"]] / row["seconds"]
        goal = GOALS.get(row["runs"]) if row["instances"] == 3 else None
        lines.append(
            result_line(
                f"throughput, {row['runs']} runs on {row['instances']} instances",
                row["runs"] / row["seconds"],
                "runs/s",
                row["runs"] / one[row["runs"]],
                "the same batch on one instance",
                f"≥ {goal:g}×" if goal else "-",
                None if goal is None else ratio >= goal,
            )
        )
    whole = kill["completed"] == kill["distinct_files"] == kill["runs"] and kill["run_twice"] == 0 and kill["moved"] >= 1
    lines.append(
        result_line(
            "one instance killed mid-batch: runs completed once",
            kill["completed"] - kill["run_twice"],
            "runs",
            kill["runs"],
            "runs asked",
            "all, none twice, the dead one's moved",
            whole,
        )
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[12, 48], help="batch sizes (default 12 48)")
    parser.add_argument("--node-delay", type=float, default=0.3, help="seconds per stand-in node and sampler step (default 0.3)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    results = run(args.runs, args.node_delay)
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
