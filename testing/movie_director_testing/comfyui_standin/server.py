"""The aiohttp application: ComfyUI's HTTP routes (each also under /api) plus /_standin/ controls.

Handlers let unexpected input raise, exactly where ComfyUI's do, so aiohttp answers
`500 Internal Server Error\\n\\nServer got itself in trouble` in the same cases
(malformed JSON, a list as the prompt, a bogus upload type...).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import mimetypes
import os
import sys
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .controls import Controls
from .executor import Executor
from .folders import MODEL_FOLDERS, Folders
from .hub import SERVER_FEATURES, Hub
from .nodes import CATALOGUE
from .prompt_queue import PromptQueue
from .validation import validate_prompt

log = logging.getLogger("comfyui_standin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
MAX_UPLOAD_SIZE = SERVER_FEATURES["max_upload_size"]
VRAM_TOTAL = 8 * 1024**3
NO_DOWNLOAD_TYPES = {"text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"}


def _is_loopback(hostname: str | None) -> bool:
    """ComfyUI resolves names; the stand-in never does DNS and treats only *localhost names as loopback."""
    if not hostname:
        return False
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return hostname == "localhost" or hostname.endswith(".localhost")


def _cross_origin(host: str, origin: str) -> bool:
    """True when a browser-style Origin names another host than the loopback Host header.

    Ports are compared only when both sides carry one, as in ComfyUI.
    """
    host_domain: str | None = host.lower()
    parsed_origin = urllib.parse.urlparse(origin)
    origin_domain: str | None = parsed_origin.netloc.lower()
    parsed_host = urllib.parse.urlsplit("//" + host.lower())
    if parsed_origin.port is None:
        host_domain = parsed_host.hostname
    if parsed_host.port is None:
        origin_domain = parsed_origin.hostname
    return _is_loopback(parsed_host.hostname) and bool(host_domain) and bool(origin_domain) and host_domain != origin_domain


@web.middleware
async def origin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 with an empty body for a cross-origin request to a loopback server; OPTIONS gets 200."""
    host, origin = request.headers.get("Host"), request.headers.get("Origin")
    if host is not None and origin is not None and _cross_origin(host, origin):
        log.warning("WARNING: request with non matching host and origin %s != %s, returning 403", host, origin)
        return web.Response(status=403)
    if request.method == "OPTIONS":
        return web.Response()
    return await handler(request)


def _clear_or_delete(body: Any, clear: Callable[[], None], delete: Callable[[str], object]) -> web.Response:
    """``POST /queue`` and ``POST /history``: ``{"clear": true}`` and/or ``{"delete": [prompt ids]}``."""
    if "clear" in body and body["clear"]:  # noqa: RUF019 - `in` first, so any JSON value works as in ComfyUI
        clear()
    if "delete" in body:
        for prompt_id in body["delete"]:
            delete(prompt_id)
    return web.Response(status=200)


class ComfyServer:
    """Route handlers over the shared queue, hub, executor and folders."""

    def __init__(
        self,
        hub: Hub,
        queue: PromptQueue,
        executor: Executor,
        folders: Folders,
        controls: Controls,
        *,
        version: str,
        websocket: bool,
    ) -> None:
        self.hub = hub
        self.queue = queue
        self.executor = executor
        self.folders = folders
        self.controls = controls
        self.version = version
        self.websocket = websocket
        self.listen: tuple[str, int] = ("127.0.0.1", 8188)
        """Host and port for /system_stats argv; set by the runner once the port is known."""
        self.number = 0

    def app(self) -> web.Application:
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/system_stats", self.system_stats),
            ("GET", "/queue", self.get_queue),
            ("POST", "/queue", self.post_queue),
            ("GET", "/prompt", self.get_prompt),
            ("POST", "/prompt", self.post_prompt),
            ("GET", "/history", self.get_history),
            ("GET", "/history/{prompt_id}", self.get_history_item),
            ("POST", "/history", self.post_history),
            ("POST", "/interrupt", self.interrupt),
            ("POST", "/free", self.free),
            ("GET", "/object_info", self.object_info),
            ("GET", "/object_info/{node_class}", self.object_info_node),
            ("GET", "/embeddings", self.embeddings),
            ("GET", "/models", self.models),
            ("GET", "/models/{folder}", self.models_in_folder),
            ("GET", "/features", self.features),
            ("GET", "/view", self.view),
            ("POST", "/upload/image", self.upload_image),
        ]
        if self.websocket:
            routes.append(("GET", "/ws", self.ws))
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE, middlewares=[origin_guard])
        for method, path, handler in routes:
            app.router.add_route(method, "/api" + path, handler)
            app.router.add_route(method, path, handler)
        app.router.add_post("/_standin/control", self.control)
        app.router.add_get("/_standin/state", self.state)
        return app

    async def ws(self, request: web.Request) -> web.StreamResponse:
        if self.controls.refuse_websockets:
            raise web.HTTPForbidden()
        return await self.hub.serve(request)

    async def system_stats(self, request: web.Request) -> web.Response:
        page = os.sysconf("SC_PAGE_SIZE")
        host, port = self.listen
        system = {
            "os": os.name,
            "ram_total": page * os.sysconf("SC_PHYS_PAGES"),
            "ram_free": page * os.sysconf("SC_AVPHYS_PAGES"),
            "comfyui_version": self.version,
            "required_frontend_version": "1.27.10",
            "installed_templates_version": "0.1.95",
            "required_templates_version": "0.1.95",
            "python_version": sys.version,
            "pytorch_version": "2.9.1+cu128",
            "embedded_python": False,
            "argv": ["main.py", "--listen", host, "--port", str(port)],
        }
        device = {
            "name": "cuda:0 NVIDIA Stand-in",
            "type": "cuda",
            "index": 0,
            "vram_total": VRAM_TOTAL,
            "vram_free": VRAM_TOTAL - 512 * 1024**2,
            "torch_vram_total": 0,
            "torch_vram_free": 0,
        }
        return web.json_response({"system": system, "devices": [device]})

    async def get_queue(self, request: web.Request) -> web.Response:
        running, pending = self.queue.snapshot()
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        return _clear_or_delete(await request.json(), self.queue.wipe, self.queue.delete)

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self.hub.queue_info())

    async def post_prompt(self, request: web.Request) -> web.Response:
        log.info("got prompt")
        body = await request.json()
        if "number" in body:
            number: float = float(body["number"])
        else:
            number = -self.number if "front" in body and body["front"] else self.number  # noqa: RUF019
            self.number += 1
        if "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}}
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        verdict = validate_prompt(prompt, body.get("partial_execution_targets"), self.folders)
        extra_data = body.get("extra_data", {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        if not verdict.ok:
            log.warning("invalid prompt: %s", verdict.error)
            return web.json_response({"error": verdict.error, "node_errors": verdict.node_errors}, status=400)
        for key in SENSITIVE_EXTRA_DATA_KEYS:
            extra_data.pop(key, None)
        self.queue.put((number, prompt_id, prompt, extra_data, verdict.outputs))
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": verdict.node_errors})

    async def get_history(self, request: web.Request) -> web.Response:
        max_items = request.query.get("max_items")
        offset = request.query.get("offset")
        entries = self.queue.history(
            max_items=int(max_items) if max_items is not None else None,
            offset=int(offset) if offset is not None else -1,
        )
        return web.json_response(entries)

    async def get_history_item(self, request: web.Request) -> web.Response:
        return web.json_response(self.queue.history(prompt_id=request.match_info["prompt_id"]))

    async def post_history(self, request: web.Request) -> web.Response:
        return _clear_or_delete(await request.json(), self.queue.wipe_history, self.queue.delete_history)

    async def interrupt(self, request: web.Request) -> web.Response:
        """Global without a prompt_id; targeted only fires if that prompt is running (200 either way)."""
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        prompt_id = body.get("prompt_id")
        if not prompt_id:
            log.info("Global interrupt (no prompt_id specified)")
            self.executor.interrupt.set()
        elif prompt_id in self.queue.running_ids():
            log.info("Interrupting prompt %s", prompt_id)
            self.executor.interrupt.set()
        else:
            log.info("Prompt %s is not currently running, skipping interrupt", prompt_id)
        return web.Response(status=200)

    async def free(self, request: web.Request) -> web.Response:
        """Flags the worker picks up after its current wait; free_memory empties the output cache."""
        body = await request.json()
        for flag in ("unload_models", "free_memory"):
            if body.get(flag, False):
                self.queue.set_flag(flag, body[flag])
        return web.Response(status=200)

    async def object_info(self, request: web.Request) -> web.Response:
        return web.json_response({name: node.info(self.folders) for name, node in CATALOGUE.items()})

    async def object_info_node(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        node = CATALOGUE.get(name)
        return web.json_response({name: node.info(self.folders)} if node is not None else {})

    async def embeddings(self, request: web.Request) -> web.Response:
        names = self.folders.model_files("embeddings") or []
        return web.json_response([os.path.splitext(name)[0] for name in names])

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(list(MODEL_FOLDERS))

    async def models_in_folder(self, request: web.Request) -> web.Response:
        files = self.folders.model_files(request.match_info["folder"])
        return web.Response(status=404) if files is None else web.json_response(files)

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response(dict(SERVER_FEATURES))

    async def view(self, request: web.Request) -> web.StreamResponse:
        """The stored file as-is: `preview=` and `channel=` are accepted but never re-encode."""
        found = self.folders.view(request.query)
        if isinstance(found, int):
            return web.Response(status=found)
        name = os.path.basename(found)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if content_type in NO_DOWNLOAD_TYPES:
            content_type = "application/octet-stream"
        headers = {"Content-Disposition": f'filename="{name}"', "Content-Type": content_type}
        return web.FileResponse(found, headers=headers)

    async def upload_image(self, request: web.Request) -> web.Response:
        post = await request.post()
        root, kind = self.folders.upload_root(post.get("type"))  # type: ignore[arg-type]
        image: Any = post.get("image")
        if not image or not image.file or not image.filename:
            return web.Response(status=400)
        subfolder = str(post.get("subfolder", ""))
        overwrite = post.get("overwrite") in ("true", "1")
        name = self.folders.store_upload(root, subfolder, image.filename, image.file.read(), overwrite)
        if name is None:
            return web.Response(status=400)
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    async def control(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            if not isinstance(payload, dict):
                raise TypeError("the body must be a JSON object")
            self.controls.update(payload)
        except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
            return web.json_response({"error": str(error)}, status=400)
        if payload.get("drop_websockets"):
            self.hub.abort_all()
        if payload.get("send_garbage"):
            await self.hub.send_garbage()
        return await self.state(request)

    async def state(self, request: web.Request) -> web.Response:
        running, pending = self.queue.snapshot()
        return web.json_response(
            {
                **self.controls.as_dict(),
                "websocket": self.websocket,
                "sockets": sorted(self.hub.sockets),
                "connections": len(self.hub.live),
                "client_id": self.hub.client_id,
                "last_node_id": self.hub.last_node_id,
                "running": [item[1] for item in running],
                "pending": len(pending),
                "cached_outputs": len(self.executor.cache),
                "base_dir": self.folders.base,
            }
        )
