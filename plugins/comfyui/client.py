"""``ComfyUIClient``: the connection the pool holds — ComfyUI's HTTP API plus a lazy live socket.

HTTP goes through the project's session (timeouts, loopback without proxies, retries
for idempotent calls only, auth from an env reference). Routes work with or without
the ``/api`` prefix: a URL ending in ``/api`` pins it, otherwise it is detected from
``/system_stats`` on first use. The WebSocket opens on the first submit; if a proxy
refuses upgrades the client polls ``/queue`` + ``/history`` instead, with the same
job API.

``POST /prompt`` is not idempotent, so :meth:`ComfyUIClient.submit` never re-sends
blindly: a caller-chosen ``prompt_id`` is first looked up in ``/queue`` and
``/history``, and a POST cut mid-way is looked up before the error is raised.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import requests

from movie_director.configdata import ServiceConfig
from movie_director.errors import (
    ConnectionLost,
    ConnectionProblem,
    JobLost,
    MalformedResponse,
    MovieDirectorError,
    NotFound,
    Timeout,
    WrongService,
    describe_unexpected,
    map_exception,
    response_error,
    says_nothing_about_kind,
)
from movie_director.http import build_session, call, json_of, probe_json
from movie_director_plugins.comfyui import outputs
from movie_director_plugins.comfyui.jobs import Job, JobTracker
from movie_director_plugins.comfyui.outputs import OutputFile, UploadedFile
from movie_director_plugins.comfyui.session import (
    SocketState,
    WebSocketSession,
    socket_options,
)
from movie_director_plugins.comfyui.workflow import (
    load_workflow,
    nodes_to_run,
    rejection,
)
from movie_director_plugins.comfyui.workflow import validate as validate_graph

log = logging.getLogger(__name__)

LABEL = "ComfyUI"
START_HINT = "Start ComfyUI with `python main.py --listen 127.0.0.1 --port 8188`."
API_PREFIXES = ("", "/api")
SAFETY_INTERVAL = 5.0


@dataclass(frozen=True)
class QueueItem:
    """One ``/queue`` entry: ``[number, prompt_id, prompt, extra_data, outputs_to_execute]``."""

    number: float
    prompt_id: str
    client_id: str | None = None
    graph: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class QueueSnapshot:
    """``/queue`` with the pending items sorted by number (the server lists them in heap order)."""

    running: tuple[QueueItem, ...] = ()
    pending: tuple[QueueItem, ...] = ()

    @property
    def depth(self) -> int:
        return len(self.running) + len(self.pending)

    def find(self, prompt_id: str) -> QueueItem | None:
        return next((item for item in (*self.running, *self.pending) if item.prompt_id == prompt_id), None)

    def is_running(self, prompt_id: str) -> bool:
        return any(item.prompt_id == prompt_id for item in self.running)

    def position(self, prompt_id: str) -> int | None:
        """0 for the next pending prompt to run."""
        return next((index for index, item in enumerate(self.pending) if item.prompt_id == prompt_id), None)


def parse_queue(body: Any) -> QueueSnapshot:
    """Tolerant reading of ``/queue``; items of an unknown shape are skipped."""
    if not isinstance(body, Mapping):
        raise describe_unexpected(body, LABEL, "the queue")

    def items(key: str) -> list[QueueItem]:
        found = []
        for raw in body.get(key) or []:
            if isinstance(raw, list) and len(raw) >= 2 and isinstance(raw[1], str):
                extra = raw[3] if len(raw) > 3 and isinstance(raw[3], Mapping) else {}
                number = raw[0] if isinstance(raw[0], (int, float)) else 0
                found.append(QueueItem(number, raw[1], extra.get("client_id"), raw[2] if len(raw) > 2 and isinstance(raw[2], Mapping) else {}))
        return found

    return QueueSnapshot(tuple(items("queue_running")), tuple(sorted(items("queue_pending"), key=lambda item: item.number)))


def is_system_stats(body: Any) -> bool:
    """The shape of ComfyUI's ``/system_stats`` (not just any JSON that answers 200)."""
    if not isinstance(body, Mapping):
        return False
    system, devices = body.get("system"), body.get("devices")
    return isinstance(system, Mapping) and isinstance(devices, list) and any(key in system for key in ("comfyui_version", "python_version", "os"))


def split_api_root(url: str) -> tuple[str, str | None]:
    """(base URL, pinned prefix): ``http://h:8188/api`` → (``http://h:8188``, ``/api``)."""
    url = url.rstrip("/")
    if url.endswith("/api"):
        return url[: -len("/api")], "/api"
    return url, None


def find_api(session: requests.Session, base_url: str, prefixes: Iterable[str] = API_PREFIXES, service: str = LABEL, start_hint: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """The first prefix whose ``/system_stats`` is ComfyUI's, with that answer; None when none is.

    Network failures and refusals (401/403/407) raise typed errors; an answer of another
    kind just does not match. A busy or broken answer (429, 5xx) does not end the search
    (the other prefix may be the real one), but when no prefix matches it is raised:
    the server's own words, not "a different program".
    """
    busy: MovieDirectorError | None = None
    for prefix in prefixes:
        try:
            found = probe_json(session, f"{base_url}{prefix}/system_stats", service=service, start_hint=start_hint, refusals=(401, 403, 407))
        except MovieDirectorError as error:
            if isinstance(error, ConnectionProblem) or not says_nothing_about_kind(error):
                raise
            busy = busy or error
            continue
        if found is not None and is_system_stats(found[0]):
            return prefix, found[0]
    if busy is not None:
        raise busy
    return None


def device_metrics(stats: Mapping[str, Any]) -> dict[str, float]:
    """VRAM free/total summed over devices, and RAM, from ``/system_stats``."""
    metrics: dict[str, float] = {}
    devices = [device for device in stats.get("devices") or [] if isinstance(device, Mapping)]
    for key in ("vram_total", "vram_free"):
        values = [device[key] for device in devices if isinstance(device.get(key), (int, float))]
        if values:
            metrics[key] = float(sum(values))
    system = found if isinstance(found := stats.get("system"), Mapping) else {}
    for key in ("ram_total", "ram_free"):
        if isinstance(system.get(key), (int, float)):
            metrics[key] = float(system[key])
    metrics["devices"] = float(len(devices))
    return metrics


class ComfyUIClient:
    """HTTP API, jobs and the live socket of one ComfyUI; thread-safe; ``close()`` ends it all."""

    def __init__(
        self,
        service: ServiceConfig,
        *,
        label: str = LABEL,
        start_hint: str = START_HINT,
        pool_size: int = 5,
        poll_interval: float | None = None,
        safety_interval: float = SAFETY_INTERVAL,
        ping_interval: float = 20.0,
    ) -> None:
        self.service = service
        self.label = label
        self.start_hint = start_hint
        self.base_url, self._prefix = split_api_root(service.url)
        self.http = build_session(service, pool_size=pool_size)
        self.client_id = str(uuid.uuid4())
        self.transport = service.transport if service.transport in ("websocket", "polling") else "auto"
        self.events_mode = "polling" if self.transport == "polling" else "websocket"
        #: Why the client polls instead of listening, when a proxy refused the socket.
        self.socket_error: MovieDirectorError | None = None
        self.closed = False
        self._ping_interval = ping_interval
        self._socket: WebSocketSession | None = None
        self._object_info: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self.tracker = JobTracker(
            self,
            label,
            poll_interval if poll_interval is not None else (0.25 if service.is_loopback else 1.0),
            safety_interval,
            events_live=self._events_live,
            on_missed_events=self._recycle_socket,
        )

    def __repr__(self) -> str:
        return f"<ComfyUIClient {self.base_url} client_id={self.client_id} events={self.events_mode}>"

    # -- routes ------------------------------------------------------------------------

    @property
    def api_prefix(self) -> str:
        """``""`` or ``"/api"``: pinned by the URL, else detected once from /system_stats."""
        if self._prefix is None:
            with self._lock:
                if self._prefix is None:
                    found = find_api(self.http, self.base_url, service=self.label, start_hint=self.start_hint)
                    if found is None:
                        raise WrongService(f"Something answers at {self.base_url}, but it is not {self.label}.", service=self.label)
                    self._prefix = found[0]
        return self._prefix

    def url(self, path: str) -> str:
        return f"{self.base_url}{self.api_prefix}{path}"

    def get_json(self, path: str, expected: str, **params: Any) -> Any:
        response = call(self.http, "GET", self.url(path), service=self.label, start_hint=self.start_hint, params=params or None)
        return json_of(response, self.label, expected)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> requests.Response:
        return call(self.http, "POST", self.url(path), service=self.label, start_hint=self.start_hint, json=body)

    def system_stats(self) -> dict[str, Any]:
        body = self.get_json("/system_stats", "system stats")
        if not is_system_stats(body):
            raise describe_unexpected(body, self.label, "ComfyUI's system stats")
        return body

    def queue(self) -> QueueSnapshot:
        return parse_queue(self.get_json("/queue", "the queue"))

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of ``prompt_id``, or None when the server does not know it."""
        body = self.get_json(f"/history/{prompt_id}", "a history entry")
        entry = body.get(prompt_id) if isinstance(body, Mapping) else None
        return entry if isinstance(entry, dict) else None

    def object_info(self, refresh: bool = False) -> dict[str, Any]:
        """Every node class (about 0.5 MB on a stock install): fetched once, then cached."""
        with self._lock:
            if self._object_info is None or refresh:
                body = self.get_json("/object_info", "the node list")
                if not isinstance(body, dict):
                    raise describe_unexpected(body, self.label, "the node list")
                self._object_info = body
            return self._object_info

    def models(self) -> list[str]:
        """Model folder names (``/models``); empty on versions without the route."""
        return self._optional_list("/models")

    def model_files(self, folder: str) -> list[str]:
        return self._optional_list(f"/models/{folder}")

    def embeddings(self) -> list[str]:
        return self._optional_list("/embeddings")

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Interrupt ``prompt_id`` if it is the one running (everything running when None)."""
        self.post("/interrupt", {"prompt_id": prompt_id} if prompt_id else None)

    def delete_queued(self, prompt_ids: Iterable[str]) -> None:
        """Remove pending prompts (running ones are untouched: interrupt them)."""
        self.post("/queue", {"delete": list(prompt_ids)})

    def upload(
        self,
        source: str | os.PathLike[str] | bytes | IO[bytes],
        name: str | None = None,
        *,
        type: str = "input",
        subfolder: str = "",
        overwrite: bool = False,
    ) -> UploadedFile:
        """Upload an input image or video; use the result's ``reference`` in LoadImage-like inputs."""
        return outputs.upload(self.http, self.url("/upload/image"), source, name, type=type, subfolder=subfolder, overwrite=overwrite, service=self.label)

    def download(self, files: Iterable[OutputFile], directory: str | Path, max_bytes: int | None = None) -> list[Path]:
        return outputs.download(self.http, self.url("/view"), files, directory, service=self.label, max_bytes=max_bytes)

    # -- jobs --------------------------------------------------------------------------

    def submit(
        self,
        workflow: Mapping[str, Any] | str | os.PathLike[str],
        prompt_id: str | None = None,
        *,
        validate: bool = True,
        extra_data: Mapping[str, Any] | None = None,
        front: bool = False,
    ) -> Job:
        """Queue an API-format workflow and return its handle; safe to repeat with one ``prompt_id``.

        With ``prompt_id`` given, a prompt the server already has (queued, running or in
        its history) is picked up instead of posted again, so a replay after a cut never
        runs a job twice. The graph is checked against ``/object_info`` first unless
        ``validate`` is False.
        """
        self._check_open()
        if prompt_id is not None and (known := self.tracker.get(prompt_id)) is not None:
            return known
        graph = load_workflow(workflow, self.label)
        info = self._object_info_for(graph) if validate else None
        if info is not None:
            validate_graph(graph, info, self.label)
        to_run = nodes_to_run(graph, info)
        self._ensure_events()
        if prompt_id is not None and (adopted := self._adopt(prompt_id, graph, to_run)) is not None:
            return adopted
        prompt_id = prompt_id or str(uuid.uuid4())
        job = self.tracker.track(prompt_id, graph, to_run)
        body: dict[str, Any] = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id}
        if extra_data:
            body["extra_data"] = dict(extra_data)
        if front:
            body["front"] = True
        try:
            answer = self._post_prompt(body)
        except (ConnectionLost, Timeout):
            # The POST may have reached ComfyUI before the link broke: look before anyone re-sends it.
            if not self._found_after_cut(job):
                self.tracker.forget(prompt_id)
                raise
            return job
        except BaseException:
            self.tracker.forget(prompt_id)
            raise
        job.submitted(answer.get("number") if isinstance(answer.get("number"), (int, float)) else None)
        self.tracker.start_watching()
        return job

    def job(self, prompt_id: str) -> Job | None:
        """The handle of a job this client submitted or picked up."""
        return self.tracker.get(prompt_id)

    def attach(self, prompt_id: str) -> Job:
        """A handle on a prompt queued earlier (by any client); JobLost when the server does not know it."""
        self._check_open()
        if (known := self.tracker.get(prompt_id)) is not None:
            return known
        self._ensure_events()
        job = self._adopt(prompt_id)
        if job is None:
            raise JobLost(f"{self.label} does not know the job {prompt_id}: it restarted, or the job was removed.", service=self.label, details={"prompt_id": prompt_id})
        return job

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def socket_state(self) -> SocketState:
        return self._socket.state if self._socket is not None else SocketState.IDLE

    def is_usable(self) -> bool:
        return not self.closed

    def close(self) -> None:
        """Stop watching jobs, close the socket (joining its reader) and the HTTP session."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            socket = self._socket
        self.tracker.close()
        if socket is not None:
            socket.close()
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _post_prompt(self, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.post(self.url("/prompt"), json=body)
        except Exception as exc:
            raise map_exception(exc, service=self.label, start_hint=self.start_hint) from exc
        if response.status_code == 400:
            try:
                payload = response.json()
            except ValueError:
                payload = None
            raise rejection(payload, self.label)
        if response.status_code >= 400:
            raise response_error(response, service=self.label)
        answer = json_of(response, self.label, "the queued prompt")
        if not isinstance(answer, dict) or "prompt_id" not in answer:
            raise MalformedResponse(f"{self.label} accepted the workflow but its answer has no prompt id.", service=self.label)
        return answer

    def _adopt(self, prompt_id: str, graph: Mapping[str, Any] | None = None, to_run: frozenset[str] | None = None) -> Job | None:
        """A handle on a prompt the server already knows (replay after a cut), else None."""
        location = self.tracker.locate([prompt_id])[prompt_id]
        if location.where == "absent":
            return None
        log.info("%s already has prompt %s (%s): not sending it again", self.label, prompt_id, location.where)
        graph = graph or location.graph or {}
        if to_run is None:
            to_run = nodes_to_run(dict(graph), self._object_info)
        # Events may have been missed while nobody tracked it: poll it rather than trust the socket.
        job = self.tracker.track(prompt_id, graph, to_run, bound=False)
        job.submitted(None)
        job.observe(location)
        self.tracker.start_watching()
        return job

    def _found_after_cut(self, job: Job) -> bool:
        try:
            location = self.tracker.locate([job.prompt_id])[job.prompt_id]
        except MovieDirectorError:
            return False
        if location.where == "absent":
            return False
        job.bound = False
        job.submitted(None)
        job.observe(location)
        self.tracker.start_watching()
        return True

    def _object_info_for(self, graph: Mapping[str, Any]) -> dict[str, Any] | None:
        """The node list to check ``graph`` against, refreshed once if it lacks a class; None if unavailable."""
        try:
            info = self.object_info()
            if any(node["class_type"] not in info for node in graph.values()):
                info = self.object_info(refresh=True)  # nodes may have been installed since
        except (NotFound, MalformedResponse) as error:
            log.info("%s node list unavailable (%s): sending without checking", self.label, error.message)
            return None
        return info

    def _ensure_events(self) -> None:
        """Open the live socket if it is not open; fall back to polling when a proxy refuses it."""
        with self._lock:
            if self.events_mode == "polling" or self.closed:
                return
            if self._socket is None:
                self._socket = WebSocketSession(
                    socket_options(self.service, self.base_url + self.api_prefix, self._ping_interval),
                    self.client_id,
                    self.tracker.on_event,
                    self._on_socket_state,
                    service=self.label,
                    start_hint=self.start_hint,
                )
            if self._socket.state is not SocketState.IDLE:
                return
            try:
                self._socket.connect()
            except MovieDirectorError as error:
                if "handshake_status" not in error.details or self.transport == "websocket":
                    raise
                self._use_polling(error)

    def _use_polling(self, error: MovieDirectorError) -> None:
        log.warning("%s: %s Polling /queue and /history instead.", self.label, error.message)
        self.socket_error = error
        self.events_mode = "polling"
        self.tracker.request_reconcile()

    def _on_socket_state(self, state: SocketState, error: MovieDirectorError | None) -> None:
        if state is SocketState.UNAVAILABLE and error is not None and self.transport == "auto":
            self._use_polling(error)
        else:
            self.tracker.on_socket_state(reconnected=state is SocketState.OPEN)

    def _events_live(self) -> bool:
        socket = self._socket
        return self.events_mode == "websocket" and socket is not None and socket.is_open

    def _recycle_socket(self) -> None:
        socket = self._socket
        if socket is not None and socket.is_open and time.monotonic() - socket.opened_at > 2.0:
            socket.recycle()

    def _optional_list(self, path: str) -> list[str]:
        try:
            body = self.get_json(path, "a list")
        except NotFound:
            return []
        return [str(item) for item in body] if isinstance(body, list) else []

    def _check_open(self) -> None:
        if self.closed:
            raise ConnectionLost(f"This connection to {self.label} is closed; open a new one.", service=self.label)


__all__ = [
    "API_PREFIXES",
    "LABEL",
    "START_HINT",
    "ComfyUIClient",
    "QueueItem",
    "QueueSnapshot",
    "device_metrics",
    "find_api",
    "is_system_stats",
    "parse_queue",
    "split_api_root",
]
