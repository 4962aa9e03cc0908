"""``comfyui run --repeat N`` over several ComfyUI stand-in processes: spread, failover, capability routing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from movie_director_testing.comfyui_standin.workflows import txt2img
from movie_director_testing.processes import ENDED_BY_CTRL_C, ServerProcess, interruptible, wait_until

pytestmark = pytest.mark.timeout(90)

CUSTOM_NODE = "StandinMysteryUpscale"


def through(node: str, prefix: str) -> dict[str, Any]:
    """EmptyImage → ``node`` → SaveImage."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 7}},
        "2": {"class_type": node, "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


@pytest.fixture(scope="module")
def trio() -> Iterator[list[ServerProcess]]:
    """Three stand-ins with slow nodes; only the second has the custom node."""
    from movie_director_testing.comfyui_standin import launch

    servers = [launch(node_delay=0.3, extra_node=CUSTOM_NODE if index == 1 else None) for index in range(3)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.close()


def environment(tmp_path: Path, urls: list[str]) -> dict[str, str]:
    """A private data dir and no config file, the instances as the comfyui service's comma list."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MOVIE_DIRECTOR_")}
    (tmp_path / "home").mkdir(exist_ok=True)
    return {**env, "HOME": str(tmp_path / "home"), "MOVIE_DIRECTOR_DATA_DIR": str(tmp_path / "data"), "MOVIE_DIRECTOR_COMFYUI_URL": ",".join(urls)}


def start_batch(tmp_path: Path, urls: list[str], graph: dict[str, Any], repeat: int, *extra: str) -> subprocess.Popen[str]:
    workflow = tmp_path / "wf_api.json"
    workflow.write_text(json.dumps(graph), encoding="utf-8")
    argv = [sys.executable, "-m", "movie_director.cli", "comfyui", "run", str(workflow), "--repeat", str(repeat), "--out", str(tmp_path / "out"), *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=environment(tmp_path, urls), preexec_fn=interruptible)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return process.returncode, stdout, stderr


def history_prefixes(server: ServerProcess) -> list[str]:
    """The SaveImage filename_prefix of every prompt in the server's history (one per run it executed)."""
    history = requests.get(f"{server.url}/history", timeout=5).json()
    return [node["inputs"]["filename_prefix"] for entry in history.values() for node in entry["prompt"][2].values() if node["class_type"] == "SaveImage"]


def test_twelve_runs_spread_over_three_instances_each_distinct(trio: list[ServerProcess], tmp_path: Path) -> None:
    code, stdout, stderr = finish(start_batch(tmp_path, [server.url for server in trio], txt2img("spread"), 12, "--json"))
    assert code == 0, stderr
    report = json.loads(stdout)
    runs = report["runs"]
    assert report["ok"] and len(runs) == 12 and [run["run"] for run in runs] == list(range(1, 13))
    assert {run["instance"] for run in runs} == {server.url for server in trio}, "every instance took runs"
    files = [Path(path) for run in runs for path in run["files"]]
    assert len(files) == 12 and len({path.name for path in files}) == 12 and all(path.read_bytes().startswith(b"\x89PNG") for path in files)
    assert len({run["prompt_id"] for run in runs}) == 12 and all(run["status"] == "succeeded" and "moved_from" not in run for run in runs)
    assert {path.name.split("_r")[1][:2] for path in files} == {f"{index:02}" for index in range(1, 13)}


@pytest.mark.parametrize(("runs", "no_websocket"), [(12, False), (6, True)], ids=["websocket", "polling"])
def test_an_instance_killed_mid_batch_loses_no_run_and_runs_none_twice(backend_servers: Any, tmp_path: Path, runs: int, no_websocket: bool) -> None:
    servers = [backend_servers.start("comfyui", node_delay=0.3, no_websocket=no_websocket) for _ in range(3)]
    victim = servers[2]
    started = time.monotonic()
    process = start_batch(tmp_path, [server.url for server in servers], txt2img("failover"), runs, "--json")
    wait_until(lambda: requests.get(f"{victim.url}/_standin/state", timeout=5).json()["running"], 20, message="a run executing on the victim")
    wait_until(lambda: time.monotonic() - started >= 1.0, 5, message="1 s into the batch")
    victim.kill()
    code, stdout, stderr = finish(process)

    assert code == 0, stderr
    outcomes = json.loads(stdout)["runs"]
    files = [Path(path) for run in outcomes for path in run["files"]]
    assert len(outcomes) == runs and len({path.name for path in files}) == runs and all(path.is_file() for path in files)
    moved = [run for run in outcomes if "moved_from" in run]
    assert moved and all(run["moved_from"]["instance"] == victim.url and run["instance"] != victim.url for run in moved)
    for run in moved:
        assert f"prompt {run['moved_from']['prompt_id']}" in stderr, "a moved run is reported, never silent"
    executed = Counter(prefix for server in servers[:2] for prefix in history_prefixes(server))
    assert max(executed.values()) == 1, f"a run executed twice: {executed}"
    on_victim = {run["run"] for run in outcomes if run["instance"] == victim.url}
    assert not {f"failover_r{index:02}" for index in on_victim} & set(executed), "a run finished on the victim ran again"


def test_a_node_only_one_instance_has_sends_every_run_there(trio: list[ServerProcess], tmp_path: Path) -> None:
    for server in trio:
        requests.post(f"{server.url}/_standin/control", json={"node_delay": 0.02}, timeout=5).raise_for_status()
    try:
        code, stdout, stderr = finish(start_batch(tmp_path, [server.url for server in trio], through(CUSTOM_NODE, "custom"), 3, "--json"))
    finally:
        for server in trio:
            requests.post(f"{server.url}/_standin/control", json={"node_delay": 0.3}, timeout=5).raise_for_status()
    assert code == 0, stderr
    runs = json.loads(stdout)["runs"]
    assert [run["instance"] for run in runs] == [trio[1].url] * 3 and all(run["files"] for run in runs)


def test_a_node_no_instance_has_is_refused_naming_it_and_the_instances(trio: list[ServerProcess], tmp_path: Path) -> None:
    code, stdout, stderr = finish(start_batch(tmp_path, [server.url for server in trio], through("NowhereInstalled", "none"), 3, "--json"))
    assert code == 2, stderr
    error = json.loads(stdout)["error"]
    assert error["code"] == "workflow_invalid" and "NowhereInstalled" in error["message"]
    assert all(server.url in error["message"] for server in trio) and error["details"]["missing_nodes"] == ["NowhereInstalled"]
    assert all("none_r01" not in history_prefixes(server) for server in trio), "nothing was sent"


def test_no_reachable_instance_exits_3(tmp_path: Path) -> None:
    code, stdout, _ = finish(start_batch(tmp_path, ["http://127.0.0.1:9", "http://127.0.0.1:7"], through("ImageInvert", "x"), 2, "--json"))
    assert code == 3 and json.loads(stdout)["error"]["category"] == "Connection"


def test_ctrl_c_interrupts_the_runs_on_every_instance(backend_servers: Any, tmp_path: Path) -> None:
    """Slow nodes (a first run takes ~9 s): on a loaded machine no first run may end between the check and the signal."""
    servers = [backend_servers.start("comfyui", node_delay=1.5) for _ in range(2)]
    process = start_batch(tmp_path, [server.url for server in servers], txt2img("ctrl-c"), 6)

    def running_everywhere() -> bool:
        return all(requests.get(f"{server.url}/_standin/state", timeout=5).json()["running"] for server in servers)

    wait_until(running_everywhere, 20, message="a run executing on each instance")
    process.send_signal(signal.SIGINT)
    code, _, stderr = finish(process, timeout=30)
    assert code == ENDED_BY_CTRL_C, stderr
    for server in servers:
        wait_until(lambda server=server: not requests.get(f"{server.url}/queue", timeout=5).json()["queue_running"], 10, message="interrupted")
        endings = [entry["status"]["messages"][-1][0] for entry in requests.get(f"{server.url}/history", timeout=5).json().values()]
        assert endings == ["execution_interrupted"], endings


def test_a_run_whose_link_dropped_on_a_live_instance_is_waited_for_there_not_moved(trio: list[ServerProcess], tmp_path: Path) -> None:
    process = start_batch(tmp_path, [server.url for server in trio], txt2img("dropped"), 6, "--json")
    wait_until(lambda: requests.get(f"{trio[0].url}/_standin/state", timeout=5).json()["running"], 20, message="a run executing on the first instance")
    requests.post(f"{trio[0].url}/_standin/control", json={"drop_websockets": True}, timeout=5).raise_for_status()
    code, stdout, stderr = finish(process)
    assert code == 0, stderr
    runs = json.loads(stdout)["runs"]
    assert len({path for run in runs for path in run["files"]}) == 6 and not any("moved_from" in run for run in runs)
    executed = Counter(prefix for server in trio for prefix in history_prefixes(server) if prefix.startswith("dropped_"))
    assert sorted(executed) == [f"dropped_r{index:02}" for index in range(1, 7)] and max(executed.values()) == 1, executed
