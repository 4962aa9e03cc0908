"""Running the stand-in: in-process on a background event loop, or as a child process.

The aiohttp app gets its own event loop in a named thread, next to the worker thread,
so a test can use it in-process (`with StandIn() as comfy:`) or as a real process to
kill and restart (`launch()`), with identical behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import tempfile
import threading
from typing import Any, Self

from aiohttp import web

import movie_director

from ..processes import LOOPBACK, ServerProcess, http_ready
from .controls import Controls
from .executor import Executor
from .folders import Folders
from .hub import Hub
from .prompt_queue import PromptQueue
from .server import ComfyServer

log = logging.getLogger("comfyui_standin")

DEFAULT_VERSION = "0.3.64"
LAUNCH_OPTIONS = ("node_delay", "steps", "no_websocket", "base_dir", "comfyui_version", "extra_node")


class StandIn:
    """A ComfyUI stand-in server on `host:port` (port 0 picks a free one).

    `base_dir` holds input/, output/, temp/ and models/; without one a temporary
    directory is used and removed on stop. Single use: start once, stop once.
    """

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 0,
        *,
        node_delay: float = 0.05,
        steps: int | None = None,
        websocket: bool = True,
        base_dir: str | None = None,
        comfyui_version: str = DEFAULT_VERSION,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._tempdir = None if base_dir else tempfile.TemporaryDirectory(prefix="comfyui-standin-")
        self.folders = Folders(base_dir or self._tempdir.name)  # type: ignore[union-attr]
        self.controls = Controls(node_delay=node_delay, steps=steps)
        self.hub = Hub(queue_info=lambda: {"exec_info": {"queue_remaining": self.queue.remaining()}})
        self.queue = PromptQueue(on_change=lambda: self.hub.send_sync("status", {"status": self.hub.queue_info()}))
        self.executor = Executor(self.hub, self.queue, self.folders, self.controls)
        self.server = ComfyServer(
            self.hub, self.queue, self.executor, self.folders, self.controls, version=comfyui_version, websocket=websocket
        )
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._publisher: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the stand-in is not started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Bind, serve, start the worker; returns once the port accepts connections."""
        self.folders.prepare()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._port = int(sock.getsockname()[1])
        self.server.listen = (self.host, self._port)
        self._loop = asyncio.new_event_loop()
        opened = asyncio.run_coroutine_threadsafe(self._open(sock), self._loop)
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"comfyui-standin-http-{self._port}", daemon=True)
        self._thread.start()
        try:
            opened.result(timeout=30)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()
            self._loop = self._thread = None
            raise
        self.executor.start()
        log.info("To see the GUI go to: %s", self.url)
        return self

    async def _open(self, sock: socket.socket) -> None:
        assert self._loop is not None
        self.hub.bind(self._loop)
        self._publisher = self._loop.create_task(self.hub.publish_loop())
        self._runner = web.AppRunner(self.server.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        """Stop like a killed ComfyUI: sockets are dropped without a close frame. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        self.executor.stop()
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    async def _close(self) -> None:
        self.hub.abort_all()
        if self._publisher is not None:
            self._publisher.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def launch(port: int | None = None, **options: Any) -> ServerProcess:
    """An unstarted ServerProcess running `python -m movie_director_testing.comfyui_standin`.

    `options` are the CLI flags in snake_case: node_delay, steps, no_websocket,
    base_dir, comfyui_version, extra_node (one custom node's name) (and `host`). Without base_dir one temporary directory is
    created here and kept across restart() (files survive as they would with ComfyUI);
    it goes with the ServerProcess (see its `private_dir`).
    """
    host = options.pop("host", LOOPBACK)
    unknown = set(options) - set(LAUNCH_OPTIONS)
    if unknown:
        raise TypeError(f"unknown stand-in option(s): {', '.join(sorted(unknown))}")
    private_dir = None if options.get("base_dir") else tempfile.mkdtemp(prefix="comfyui-standin-")
    options["base_dir"] = options.get("base_dir") or private_dir
    argv = [sys.executable, "-m", __package__ or "movie_director_testing.comfyui_standin", "--host", "{host}", "--port", "{port}"]
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value).replace("{", "{{").replace("}", "}}")]
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(movie_director.__file__)))
    python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return ServerProcess(
        "comfyui-standin", argv, port=port, host=host, env={"PYTHONPATH": python_path}, ready=http_ready("/system_stats"), private_dir=private_dir
    )
