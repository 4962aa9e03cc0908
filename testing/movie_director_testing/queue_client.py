"""A client process for reconnection tests: it queues work, can be SIGKILLed, and the next one replays it.

    python -m movie_director_testing.queue_client --data-dir DIR --url URL --submit 20
        queue 20 ComfyUI prompts (``http.request`` ``POST /prompt`` with a client-chosen
        ``prompt_id``), then keep running (checking, replaying) until killed
    ... --block-after-send K
        the K-th prompt (0-based) is sent, then its executor hangs before recording the
        result: kill the process there and the prompt reached the server unrecorded
    ... --drain --timeout 60
        replay whatever the database holds, print one JSON line per operation, exit 0

The services are spoken to by :class:`HttpCheckBackend`, a minimal HTTP backend (one
session per connection, a GET as health check), so these tests depend only on the
stand-ins, not on the protocol plugins.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

from movie_director.backend import Backend, Capability, HealthSample
from movie_director.configdata import AuthRef, Config, ServiceConfig
from movie_director.errors import ConnectionLost
from movie_director.http import build_session, call
from movie_director.manager import ServiceManager
from movie_director.operations import OperationContext, http_request, register_operation

GATED_SUBMIT = "test.gated_submit"
#: A tiny valid ComfyUI graph (the stand-in validates prompts like ComfyUI).
GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "md-queue"}},
}
#: Checks that prove a prompt reached ComfyUI before a cut (history, or still queued).
COMFYUI_DEDUPE = [{"path": "/history/{key}"}, {"path": "/queue", "contains_key": True}]


class HttpConnection:
    """A requests session bound to one service URL."""

    def __init__(self, service: ServiceConfig) -> None:
        self.url = service.url
        self.session = build_session(service, pool_size=2)

    def close(self) -> None:
        self.session.close()


class HttpCheckBackend(Backend[HttpConnection]):
    """Health is one GET of ``health_path``; operations use the generic ``http.request``."""

    health_path: ClassVar[str] = "/"

    def connect(self, service: ServiceConfig) -> HttpConnection:
        return HttpConnection(service)

    def health(self, connection: HttpConnection) -> HealthSample:
        started = time.perf_counter()
        call(connection.session, "GET", connection.url + self.health_path, service=self.display_name, start_hint=self.start_hint, timeout=(1.0, 2.0))
        return HealthSample(ok=True, latency_ms=(time.perf_counter() - started) * 1000)

    def capabilities(self, connection: HttpConnection) -> list[Capability]:
        return [Capability("http.request")]


class ComfyUICheck(HttpCheckBackend):
    kind = "comfyui"
    display_name = "ComfyUI"
    health_path = "/system_stats"
    critical = True
    pool_max = 5
    pool_min = 1


class LiteLLMCheck(HttpCheckBackend):
    kind = "litellm"
    display_name = "LiteLLM"
    health_path = "/health/liveliness"


PLUGINS = SimpleNamespace(backends={"comfyui": ComfyUICheck(), "litellm": LiteLLMCheck()})


def service(name: str, url: str, health_interval: float = 2.0, auth_env: str | None = None) -> ServiceConfig:
    """A service entry as tests want it: no urllib3 retries (the manager reconnects), short checks."""
    return ServiceConfig(
        name=name, kind=name, url=url, health_interval=health_interval, retries=0, timeout=10.0, connect_timeout=1.0,
        auth=AuthRef(auth_env) if auth_env else None,
    )


def config_for(data_dir: Path | str, *services: ServiceConfig) -> Config:
    return Config({entry.name: entry for entry in services}, "Local", ("Local",), None, Path(data_dir))


def prompt_payload(key: str) -> dict[str, Any]:
    return {"method": "POST", "path": "/prompt", "json": {"prompt": GRAPH, "prompt_id": key}, "dedupe": COMFYUI_DEDUPE}


def chat_payload(n: int) -> dict[str, Any]:
    return {"method": "POST", "path": "/v1/chat/completions", "json": {"model": "mock-gpt", "messages": [{"role": "user", "content": f"shot {n}"}]}}


class Gate:
    """Holds one operation of ``test.gated_submit`` (by payload ``n``) before or after it is sent.

    With ``cut``, the first attempt fails with ``ConnectionLost`` right after sending,
    as if the answer was lost on the way back.
    """

    def __init__(self) -> None:
        self.n: int | None = None
        self.after_send = self.cut = False
        self.reached = threading.Event()
        self.release = threading.Event()

    def set(self, n: int, after_send: bool = False, cut: bool = False) -> None:
        self.n, self.after_send, self.cut = n, after_send or cut, cut
        self.reached.clear()
        self.release.clear()

    def hold(self, ctx: OperationContext, after_send: bool) -> None:
        if ctx.payload.get("n") != self.n or after_send != self.after_send or ctx.is_replay:
            return
        self.reached.set()
        if self.cut:
            raise ConnectionLost(service=ctx.backend.display_name)
        self.release.wait(120)


GATE = Gate()


def gated_submit(ctx: OperationContext) -> dict[str, Any]:
    """``http.request`` with :data:`GATE` able to hold one operation before or after sending."""
    GATE.hold(ctx, after_send=False)
    result = http_request(ctx)
    GATE.hold(ctx, after_send=True)
    return result


register_operation(GATED_SUBMIT, gated_submit, replace=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movie_director_testing.queue_client", description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--url", required=True, help="the ComfyUI stand-in")
    parser.add_argument("--submit", type=int, default=0, help="queue this many prompts, then run until killed")
    parser.add_argument("--block-after-send", type=int, default=None, metavar="N", help="hang after sending prompt N")
    parser.add_argument("--drain", action="store_true", help="replay the queue, print the operations, exit")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.block_after_send is not None:
        GATE.set(args.block_after_send, after_send=True)
    manager = ServiceManager(config_for(args.data_dir, service("comfyui", args.url, health_interval=1.0)), PLUGINS)
    with manager:
        for n in range(args.submit):
            manager.submit("comfyui", GATED_SUBMIT, {**prompt_payload(f"client-{n:02d}"), "n": n}, idempotency_key=f"client-{n:02d}")
        print("submitted", args.submit, flush=True)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            if args.drain and manager.queue.depth("comfyui") == 0:
                for operation in manager.queue.database.query("SELECT id FROM operations ORDER BY id"):
                    stored = manager.queue.get(operation["id"])
                    if stored is not None:  # just listed: only a concurrent purge could take it
                        print(json.dumps(stored.to_dict()), flush=True)
                return 0
            manager.queue.wait_for_change(0.2)
    return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["COMFYUI_DEDUPE", "GATE", "GATED_SUBMIT", "GRAPH", "PLUGINS", "chat_payload", "config_for", "prompt_payload", "service"]
