"""Liveness on DEFAULT settings: how fast a killed backend is seen, and a restarted one is back.

    python -m benchmarks.bench_liveness [--rounds 5] [--idle-seconds 30] [--only comfyui,gradio] [--json]

Each backend runs as a real process (the ComfyUI stand-in, a Gradio 6 app, the MCP
server shaped like Wan2GP's headless mode, the LiteLLM proxy) and a ServiceManager
watches it with the configuration a new user gets: no config file, default health
intervals (30–60 s), only the URL set. Each round, measured in the same run beside the
physical floor:

1. kill → seen: SIGKILL the server; from the kill to the manager's state event leaving
   "connected", beside a bare TCP socket (a request line sent, blocked in ``recv``)
   seeing the close. Goals: ≤ 0.5 s for streams (ComfyUI, Gradio, MCP), ≤ 1.5 s for
   LiteLLM (no stream: a TCP check each second).
2. restart → connected: start it again on the same port; from the port opening (a 1 ms
   reference poller) to the "connected" event, beside a bare 20 ms TCP poll seeing the
   port open. Goal: ≤ 0.5 s.

Medians of ``--rounds``. Then idle CPU: one manager watching the ComfyUI stand-in (its
``/ws`` monitor socket), the MCP server (its event stream) and LiteLLM (a TCP check each
second) for ``--idle-seconds``, process CPU ÷ wall time beside a bare ``time.sleep``.
Goal: < 1 %.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_reconnect import PortPoller, Recorder
from benchmarks.run import result_line
from movie_director.config import load_config
from movie_director.configdata import Config
from movie_director.events import STATE, Event
from movie_director.manager import ServiceManager
from movie_director.plugins import get_plugin_manager
from movie_director_testing.processes import ServerProcess
from movie_director_testing.pytest_plugin import BackendServers

#: test backend → (service name, goal for kill → seen in s)
BACKENDS = {
    "comfyui": ("comfyui", 0.5),
    "gradio": ("gradio", 0.5),
    "wan2gp_mcp": ("wan2gp", 0.5),
    "litellm": ("litellm", 1.5),
}
GOAL_BACK_S = 0.5
GOAL_IDLE_CPU = 0.01
REFERENCE_POLL_S = 0.001
BASELINE_POLL_S = 0.02


def default_config(data_dir: Path, urls: dict[str, str]) -> Config:
    """A new user's configuration with only these services, at these URLs."""
    environ = {"MOVIE_DIRECTOR_DATA_DIR": str(data_dir), "XDG_CONFIG_HOME": str(data_dir / "no-config")}
    environ.update({f"MOVIE_DIRECTOR_{name.upper()}_URL": url for name, url in urls.items()})
    config = load_config(environ=environ)
    return dataclasses.replace(config, services={name: config.services[name] for name in urls})


class BareSocket:
    """The floor for "seen": a TCP connection with half a request sent, blocked in recv until the server dies."""

    def __init__(self, host: str, port: int) -> None:
        self.closed_at: float | None = None
        self._sock = socket.create_connection((host, port), timeout=5)
        self._sock.sendall(b"GET / HTTP/1.1\r\n")  # headers never finished: the server waits, the link stays
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, name="bench-bare-socket", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while self._sock.recv(4096):
                pass
        except OSError:
            pass
        self.closed_at = time.time()

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(5)
        self._sock.close()


def left_connected(event: Event) -> bool:
    return event.kind == STATE and event.old == "connected"


def became_connected(event: Event) -> bool:
    return event.kind == STATE and event.new == "connected"


def one_round(server: ServerProcess, recorder: Recorder) -> dict[str, float]:
    bare = BareSocket(server.host, server.port)
    time.sleep(0.2)  # let the bare socket's thread block in recv
    killed_at = time.time()
    server.kill()
    gone = recorder.wait_for(left_connected, killed_at, 30, "the manager noticing the kill")
    bare.close()
    reference = PortPoller(server.host, server.port, REFERENCE_POLL_S)
    baseline = PortPoller(server.host, server.port, BASELINE_POLL_S)
    try:
        server.start()
        back = recorder.wait_for(became_connected, killed_at, 30, "the manager reconnecting")
        time.sleep(0.05)  # the 20 ms poller may still be sleeping its turn
    finally:
        reference.close()
        baseline.close()
    if reference.opened_at is None or baseline.opened_at is None or bare.closed_at is None:
        raise RuntimeError("a baseline never saw its event")
    return {
        "seen_s": gone.timestamp - killed_at,
        "bare_socket_s": bare.closed_at - killed_at,
        "back_s": back.timestamp - reference.opened_at,
        "poll_20ms_s": baseline.opened_at - reference.opened_at,
    }


def measure(name: str, rounds: int) -> dict[str, Any]:
    service, _ = BACKENDS[name]
    servers = BackendServers()
    server = servers.start(name)
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            config = default_config(Path(data_dir), {service: server.url})
            recorder = Recorder()
            with ServiceManager(config, get_plugin_manager()) as manager:
                manager.subscribe(recorder)
                recorder.wait_for(became_connected, 0, 60, "the first connection")
                time.sleep(1.0)  # the watch opens after "connected"
                results = [one_round(server, recorder) for _ in range(rounds)]
                interval = config.services[service].health_interval
    finally:
        servers.stop_all()
    return {"rounds": results, "health_interval_s": interval, **{key: statistics.median(r[key] for r in results) for key in results[0]}}


def idle_cpu(seconds: float) -> dict[str, float]:
    began_cpu, began = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    baseline = (time.process_time() - began_cpu) / (time.perf_counter() - began)
    launched = BackendServers()
    servers = {service: launched.start(name) for name, service in (("comfyui", "comfyui"), ("wan2gp_mcp", "wan2gp"), ("litellm", "litellm"))}
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            config = default_config(Path(data_dir), {service: server.url for service, server in servers.items()})
            with ServiceManager(config, get_plugin_manager()) as manager:
                manager.wait_checked(30)
                time.sleep(2.0)  # first checks, capabilities and watches settle
                watching = sorted(t.name for t in threading.enumerate() if t.name.startswith("md-watch-"))
                began_cpu, began = time.process_time(), time.perf_counter()
                time.sleep(seconds)
                ours = (time.process_time() - began_cpu) / (time.perf_counter() - began)
                states = {s.name: s.state for s in manager.snapshot().services}
    finally:
        launched.stop_all()
    return {"ours": ours, "sleep_baseline": baseline, "watch_threads": len(watching), "states": states}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--only", default=",".join(BACKENDS), help="comma-separated test backends")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {}
    ok = True
    for name in [n for n in args.only.split(",") if n]:
        figures = measure(name, args.rounds)
        report[name] = figures
        goal_seen = BACKENDS[name][1]
        print(f"{name} (default health interval {figures['health_interval_s']:g} s), median of {args.rounds}:")
        print(f"  kill → seen         ours {figures['seen_s'] * 1000:7.1f} ms   bare socket {figures['bare_socket_s'] * 1000:7.1f} ms   (goal ≤ {goal_seen:g} s)")
        print(f"  port open → back    ours {figures['back_s'] * 1000:7.1f} ms   20 ms poll  {figures['poll_20ms_s'] * 1000:7.1f} ms   (goal ≤ {GOAL_BACK_S:g} s)")
        ok &= figures["seen_s"] <= goal_seen and figures["back_s"] <= GOAL_BACK_S
        print(result_line(f"{name} kill → seen, defaults", figures["seen_s"] * 1000, "ms", figures["bare_socket_s"] * 1000, "bare socket seeing the close", f"≤ {goal_seen * 1000:g} ms", figures["seen_s"] <= goal_seen))
        print(result_line(f"{name} port open → connected, defaults", figures["back_s"] * 1000, "ms", figures["poll_20ms_s"] * 1000, "bare 20 ms TCP poll", f"≤ {GOAL_BACK_S * 1000:g} ms", figures["back_s"] <= GOAL_BACK_S))
    if args.idle_seconds > 0:
        idle = idle_cpu(args.idle_seconds)
        report["idle"] = idle
        ok &= idle["ours"] < GOAL_IDLE_CPU
        print(f"idle CPU over {args.idle_seconds:g} s, 3 services watched ({idle['watch_threads']} watch threads, {idle['states']}):")
        print(f"  ours {idle['ours']:.3%}   bare time.sleep {idle['sleep_baseline']:.3%}   (goal < {GOAL_IDLE_CPU:.0%})")
        print(result_line(f"idle CPU, 3 real services watched, {args.idle_seconds:g} s", idle["ours"] * 100, "%", idle["sleep_baseline"] * 100, "bare time.sleep", f"< {GOAL_IDLE_CPU:.0%}", idle["ours"] < GOAL_IDLE_CPU))
    if args.json:
        print(json.dumps(report, default=str))
    print("goals met" if ok else "GOAL MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
