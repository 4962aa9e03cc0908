"""Reconnect delay after a service returns, and replay of the work queued while it was down.

    python -m benchmarks.bench_reconnect [--rounds 5] [--max-downtime 9] [--budget 80] [--json]

The ComfyUI stand-in runs as a real process; a :class:`ServiceManager` watches it with a
1 s health interval (the loopback backoff cap stays the default 5 s). Each round kills
the stand-in (SIGKILL), waits for the manager to report it gone, queues three
``comfyui.submit`` operations, stays down for a while and starts again on the same
port. The downtimes are spread evenly over ``[0, --max-downtime)`` s so that the port
opens at different points of the backoff schedule (1, 2, 4, 5, 5 … s), as a ComfyUI
restarted by hand would.

1. Reconnect delay: from the moment the port accepts again (a reference poller trying a
   TCP connect every millisecond) to the manager's state event "connected". Beside it:
   a bare loop polling TCP connect every 50 ms (its delay from the same moment), and
   the bound: the backoff step the manager was waiting out (≤ 5 s, the loopback cap).
   Goal: every round within the 5 s cap.
2. Replay: from "connected" to the last of the three queued operations done, beside
   the same three ``POST /prompt`` sent directly by a fresh ``requests.Session`` once
   the server is up (no queue, no validation). The issue sets no goal for it.

The run stops starting rounds when the ``--budget`` of seconds would be overrun.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from benchmarks.run import result_line
from movie_director import events as ev
from movie_director.config import load_config
from movie_director.events import Event
from movie_director.manager import ServiceManager
from movie_director.operations import OpState
from movie_director.plugins import get_plugin_manager
from movie_director_plugins.comfyui.operations import SUBMIT
from movie_director_testing.comfyui_standin import launch
from movie_director_testing.processes import ServerProcess, port_accepts

NAME = "comfyui"
HEALTH_INTERVAL_S = 1
REFERENCE_POLL_S = 0.001
BASELINE_POLL_S = 0.05
QUEUED = 3
ROUND_OVERHEAD_S = 15.0
WAITING_STATES = {"disconnected", "failed", "suspended"}
GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench-reconnect"}},
}


class PortPoller:
    """A thread trying a TCP connect every ``interval`` until one succeeds; records when (wall clock).

    The port opened between the start of the last refused try and the end of the
    successful one: ``opened_at - refused_at`` is how exactly this poller knows the
    moment, a millisecond or two on an idle machine, more when other processes hold the
    CPU and its thread wakes late.
    """

    def __init__(self, host: str, port: int, interval: float) -> None:
        self.opened_at: float | None = None
        self.refused_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(host, port, interval), name=f"bench-poll-{interval * 1000:g}ms", daemon=True)
        self._thread.start()

    def _poll(self, host: str, port: int, interval: float) -> None:
        while not self._stop.is_set():
            trying_since = time.time()
            if port_accepts(host, port, timeout=0.2):
                self.opened_at = time.time()
                return
            self.refused_at = trying_since
            self._stop.wait(interval)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Recorder:
    """The manager's events for one service, as they are published (their own timestamps)."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._changed = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    def wait_for(self, matches: Callable[[Event], bool], since: float, timeout: float, what: str) -> Event:
        """The first event after ``since`` that ``matches``; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((event for event in self._events if event.timestamp >= since and matches(event)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what} not seen within {timeout:g} s")
                self._changed.wait(remaining)

    def before(self, moment: float, matches: Callable[[Event], bool]) -> Event | None:
        with self._changed:
            return next((event for event in reversed(self._events) if event.timestamp <= moment and matches(event)), None)


def state_is(*states: str) -> Callable[[Event], bool]:
    return lambda event: event.kind == ev.STATE and event.service == NAME and event.new in states


def operation_done(op_id: int) -> Callable[[Event], bool]:
    return lambda event: event.kind == ev.OPERATION and event.new == OpState.DONE.value and event.details.get("id") == op_id


def bench_config(directory: Path) -> Path:
    """Only ComfyUI, at the stand-in's URL, checked every second; nothing of the user's read or written."""
    file = directory / "config.json"
    file.write_text(json.dumps({"version": 1, "services": {NAME: {"health_interval": HEALTH_INTERVAL_S}}}), encoding="utf-8")
    return file


def direct_sends(url: str) -> float:
    """Seconds for a fresh ``requests.Session`` to POST the same prompts, as a script would once the server is up."""
    session = requests.Session()
    session.trust_env = False
    try:
        started = time.perf_counter()
        for _ in range(QUEUED):
            response = session.post(url + "/prompt", json={"prompt": GRAPH, "client_id": uuid.uuid4().hex}, timeout=10)
            response.raise_for_status()
        return time.perf_counter() - started
    finally:
        session.close()


def one_round(manager: ServiceManager, server: ServerProcess, recorder: Recorder, cap: float, downtime: float) -> dict[str, Any]:
    killed_at = time.time()
    server.kill()
    gone = recorder.wait_for(state_is(*WAITING_STATES), killed_at, HEALTH_INTERVAL_S + 10, "the manager noticing the kill")

    keys = [f"bench-{uuid.uuid4()}" for _ in range(QUEUED)]
    handles = [manager.submit(NAME, SUBMIT, {"workflow": GRAPH}, idempotency_key=key) for key in keys]
    if any(handle.state is not OpState.QUEUED for handle in handles):
        raise RuntimeError(f"work submitted while ComfyUI is down should wait in the queue: {[h.state.value for h in handles]}")

    time.sleep(downtime)  # the outage itself: how long the service stays away is what the rounds vary
    if port_accepts(server.host, server.port):
        raise RuntimeError(f"another program took port {server.port} while the stand-in was down; the delays would mean nothing")
    reference = PortPoller(server.host, server.port, REFERENCE_POLL_S)
    baseline = PortPoller(server.host, server.port, BASELINE_POLL_S)
    try:
        server.start()
        connected = recorder.wait_for(state_is("connected"), killed_at, cap + 30, "the manager reconnecting")
        results = [handle.wait(30) for handle in handles]
        done_at = max(recorder.wait_for(operation_done(handle.id), killed_at, 5, "operation done").timestamp for handle in handles)
    finally:
        reference.close()
        baseline.close()
    if reference.opened_at is None or reference.refused_at is None or baseline.opened_at is None:
        raise RuntimeError("the port pollers never saw the port open")
    if [result["prompt_id"] for result in results] != keys:
        raise RuntimeError(f"the queued operations did not run as submitted: {results}")
    waited = recorder.before(connected.timestamp, state_is(*WAITING_STATES))
    if waited is None:
        raise RuntimeError("no failed check was recorded before the reconnect")
    step = float(waited.details.get("next_attempt_in") or 0.0)
    return {
        "downtime_s": downtime,
        "detected_s": gone.timestamp - killed_at,
        "reconnect_s": connected.timestamp - reference.opened_at,
        "poller_50ms_s": baseline.opened_at - reference.opened_at,
        "reference_window_s": reference.opened_at - reference.refused_at,
        "backoff_step_s": step,
        # The last failed check came before the port opened: the first attempt after it reconnected,
        # so the delay was at most that one backoff step plus the successful check itself.
        "first_attempt": waited.timestamp <= reference.opened_at,
        "check_s": connected.timestamp - (waited.timestamp + step),
        "failed_checks": waited.details.get("attempt"),
        "replay_s": done_at - connected.timestamp,
        "open_to_done_s": done_at - reference.opened_at,
        "direct_s": direct_sends(server.url),
    }


def run(rounds: int, max_downtime: float, budget: float) -> dict[str, Any]:
    began = time.monotonic()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="md-bench-reconnect-") as tmp, launch(node_delay=0, base_dir=str(Path(tmp) / "comfyui")) as server:
        environ = {"MOVIE_DIRECTOR_COMFYUI_URL": server.url, "MOVIE_DIRECTOR_DATA_DIR": tmp, "MOVIE_DIRECTOR_CONFIG": str(bench_config(Path(tmp)))}
        config = load_config(environ=environ, kinds={NAME: get_plugin_manager().backends[NAME]})
        cap = config.services[NAME].backoff_cap
        recorder = Recorder()
        with ServiceManager(config) as manager:
            manager.subscribe(recorder)
            if not manager.wait_checked(30) or manager.snapshot().service(NAME).state != "connected":
                raise RuntimeError(f"the manager did not connect to the stand-in: {manager.snapshot().service(NAME).to_dict()}")
            for downtime in (max_downtime * number / rounds for number in range(rounds)):
                if time.monotonic() - began + downtime + cap + ROUND_OVERHEAD_S > budget:
                    break
                rows.append(one_round(manager, server, recorder, cap, downtime))
    return {"rounds_asked": rounds, "rounds": rows, "cap_s": cap, "health_interval_s": HEALTH_INTERVAL_S, "seconds": time.monotonic() - began}


def report(results: dict[str, Any]) -> str:
    rows, cap = results["rounds"], results["cap_s"]
    lines = [
        f"ComfyUI stand-in killed and restarted {len(rows)} times (of {results['rounds_asked']} asked, {results['seconds']:.0f} s); "
        f"health interval {results['health_interval_s']} s, loopback backoff cap {cap:g} s; times from the port accepting again (1 ms reference poller):",
        f"  {'round':>5} {'noticed':>8} {'down':>5} {'failed':>6} {'step':>6} {'check':>6} {'ours':>7} {'50ms poll':>9} {'ref ±':>6} {'1st try':>7} {'replay':>7} {'direct':>7} {'open→done':>9}",
    ]
    for number, row in enumerate(rows, 1):
        lines.append(
            f"  {number:>5} {row['detected_s']:>7.2f}s {row['downtime_s']:>4.1f}s {row['failed_checks']:>6} {row['backoff_step_s']:>5.2f}s {row['check_s']:>5.3f}s {row['reconnect_s']:>6.3f}s "
            f"{row['poller_50ms_s']:>8.3f}s {row['reference_window_s'] * 1000:>4.0f}ms {'yes' if row['first_attempt'] else 'NO':>7} {row['replay_s']:>6.3f}s {row['direct_s']:>6.3f}s {row['open_to_done_s']:>8.3f}s"
        )
    lines.append(
        "  noticed: kill → manager state not connected; down: how much longer the stand-in stayed away before its restart began;\n"
        "  failed: checks failed in a row; step: the backoff wait after the last of them; check: from the end of that wait to\n"
        "  state 'connected'; ours: port open → 'connected' (≤ step + check when the 1st try after the port opened succeeded);\n"
        "  50ms poll: port open → a bare TCP poller noticing; ref ±: how exactly the reference knows when the port opened (its\n"
        "  last refused try → its first accepted one): wider on a loaded machine, where both pollers may wake late together and\n"
        "  the 50 ms poller then looks as quick as the reference; replay: 'connected' → the 3 queued operations done (a new\n"
        f"  connection, /object_info validation, the persisted queue); direct: {QUEUED} POST /prompt from a fresh requests.Session\n"
        "  once up (none of that); open→done: port open → the last queued operation done."
    )
    if not rows:
        return "\n".join([*lines, "no round fitted in the time budget"])
    delays, polls = [row["reconnect_s"] for row in rows], [row["poller_50ms_s"] for row in rows]
    replays, directs = [row["replay_s"] for row in rows], [row["direct_s"] for row in rows]
    poll = f"bare TCP connect poll every {BASELINE_POLL_S * 1000:g} ms"
    lines.append(result_line(f"reconnect delay, worst of {len(rows)}", max(delays), "s", max(polls), poll, f"≤ {cap:g} s (one backoff step, loopback cap)", max(delays) <= cap))
    lines.append(result_line("reconnect delay, median", statistics.median(delays), "s", statistics.median(polls), poll))
    lines.append(result_line(f"replay of {QUEUED} queued ops, median", statistics.median(replays), "s", statistics.median(directs), f"{QUEUED} direct POST /prompt once up"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="kill/restart rounds (default 5)")
    parser.add_argument("--max-downtime", type=float, default=9.0, help="longest extra outage, in seconds (default 9)")
    parser.add_argument("--budget", type=float, default=80.0, help="start no round that could end after this many seconds (default 80)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    results = run(args.rounds, args.max_downtime, args.budget)
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
