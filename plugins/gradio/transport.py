"""Talk to any Gradio app through ``gradio_client``, with our timeouts, errors and progress.

We never speak Gradio's queue protocol ourselves; we shape how ``gradio_client`` is used:

- **One session per job.** Gradio's cancel scope is (session_hash, event): a cancel
  sent on a shared session also kills other jobs on the same endpoint. Every job (or
  every Wan2GP generate chain, whose hidden ``gr.State`` lives in the session) gets its
  own :class:`GradioSession`.
- **Cheap sessions.** ``/config`` and ``/info`` are fetched once per app start (the
  ``app_id`` tells restarts apart) and each session's client is built from a copy cut
  down to the events it calls: milliseconds instead of ~0.8 s for Wan2GP.
- **Every wait bounded.** Job waits poll against a deadline; the client's streams carry
  a read timeout longer than Gradio's 15 s heartbeat, so a silent server cannot hold a
  thread (or interpreter exit) for ever; abandoned sessions are released.
- **"Server went away" vs "cancelled".** gradio_client raises ``CancelledError`` for
  both; we ask the server (``app_id``, short timeout) to tell them apart.
- **No telemetry, no Hugging Face token** sent to a local app.
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # the client flag alone is not enough (PROTOCOLS.md)

from movie_director.configdata import ServiceConfig  # noqa: E402 - the variable must be set before gradio_client loads
from movie_director.errors import (  # noqa: E402
    AuthenticationFailed,
    ConnectionLost,
    ConnectionProblem,
    JobCancelled,
    JobFailed,
    JobLost,
    MovieDirectorError,
    NotFound,
    OperationTimeout,
    RateLimited,
    RequestRejected,
    UnsupportedVersion,
    WrongService,
    map_exception,
    response_error,
)
from movie_director.http import build_session, call, json_of, probe_session  # noqa: E402
from movie_director.progress import Phase, Progress, ProgressCallback, notify  # noqa: E402
from movie_director_plugins.gradio import files  # noqa: E402
from movie_director_plugins.gradio.api import AppInfo, Endpoint, check_arguments, is_gradio_config, parse_app, wrap_files  # noqa: E402

log = logging.getLogger(__name__)

#: Gradio sends a heartbeat every 15 s on its streams; three missed ones mean a dead link.
STREAM_READ_TIMEOUT = 45.0
#: How long a plain call may run when the caller gives no timeout.
DEFAULT_JOB_TIMEOUT = 600.0
POLL_INTERVAL = 0.05
#: How long a cancel sent before the server named the job waits to be sent again.
LATE_CANCEL_S = 15.0
#: "Is it still up?" must answer fast: it decides between "went away" and "cancelled".
ALIVE_TIMEOUT = 2.0
SUPPORTED_PROTOCOLS = ("sse_v1", "sse_v2", "sse_v2.1", "sse_v3")

_apps: dict[tuple[str, str], AppInfo] = {}
_app_locks: dict[tuple[str, str], threading.Lock] = {}
_apps_lock = threading.Lock()


def forget_app(url: str | None = None) -> None:
    """Drop cached ``/config``+``/info`` (of one URL, or all): the next call fetches them again."""
    with _apps_lock:
        for key in [key for key in _apps if url is None or key[0] == url.rstrip("/")]:
            del _apps[key]


@dataclass(frozen=True)
class CallResult:
    """One endpoint call: its outputs (files replaced by local paths) and the files copied."""

    endpoint: str
    data: Any
    files: tuple[Path, ...] = ()
    elapsed_s: float = 0.0
    session_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "data": self.data,
            "files": [str(path) for path in self.files],
            "elapsed_s": round(self.elapsed_s, 3),
            "session_hash": self.session_hash,
        }


class GradioTransport:
    """Everything we do with one Gradio app: discover, open sessions, call, fetch files.

    Thread-safe; share one per service. ``label`` names the app in messages ("Wan2GP").
    """

    def __init__(self, service: ServiceConfig, label: str | None = None, start_hint: str = "") -> None:
        self.service = service
        self.url = service.url.rstrip("/")
        self.label = label or f"The Gradio app at {self.url}"
        self.start_hint = start_hint
        self._http = build_session(service, pool_size=8, retry_methods=frozenset({"GET"}))
        self._quick = probe_session(self.url, min(service.timeout, ALIVE_TIMEOUT))
        self._quick.headers.update(self._http.headers)
        self._key = (self.url, f"{service.auth.type}:{service.auth.env}" if service.auth else "")
        self._sessions: set[GradioSession] = set()
        self._lock = threading.Lock()

    # -- discovery -------------------------------------------------------------------------

    def app(self, check: bool = True) -> AppInfo:
        """The app's endpoints, from cache when the same process still serves it.

        ``check`` asks the server for its ``app_id`` (a few bytes) and refetches when it
        restarted, so a restarted server works without restarting us.
        """
        with _apps_lock:
            lock = _app_locks.setdefault(self._key, threading.Lock())
        with lock:
            cached = _apps.get(self._key)
            if cached is not None and check:
                current = self.app_id(cached)
                if current is not None and cached.app_id is not None and current != cached.app_id:
                    log.info("%s restarted (app_id changed): reading its API again", self.label)
                    cached = None
            if cached is None:
                cached = self._fetch_app()
                with _apps_lock:
                    _apps[self._key] = cached
            return cached

    def _fetch_app(self) -> AppInfo:
        response = self._get(self.url + "/config")
        config = json_of(response, self.label, "Gradio's /config")
        if not is_gradio_config(config):
            raise WrongService(f"Something answers at {self.url}, but it is not a Gradio app.", service=self.label)
        protocol = config.get("protocol", "ws")
        if protocol not in SUPPORTED_PROTOCOLS:
            raise UnsupportedVersion(
                f"{self.label} runs Gradio {config.get('version', '?')} (protocol {protocol}); Gradio 4 or newer is needed.",
                service=self.label,
                hints=["Update Gradio in the app's environment (pip install -U gradio)."],
            )
        prefix = "/" + str(config.get("api_prefix", "")).strip("/") if config.get("api_prefix") else ""
        info = json_of(self._get(f"{self.url}{prefix}/info", params={"serialize": "False", "all_endpoints": "True"}), self.label, "Gradio's /info")
        return parse_app(self.url, config, info)

    def _get(self, url: str, **kwargs: Any) -> Any:
        try:
            return call(self._http, "GET", url, service=self.label, start_hint=self.start_hint, **kwargs)
        except AuthenticationFailed:
            if not self._login():
                raise
            return call(self._http, "GET", url, service=self.label, start_hint=self.start_hint, **kwargs)

    def _login(self) -> bool:
        """Gradio's own ``auth=(user, password)``: log in with a ``user:password`` basic secret."""
        auth = self.service.auth
        secret = os.environ.get(auth.env, "") if auth is not None and auth.type == "basic" else ""
        if ":" not in secret:
            return False
        user, password = secret.split(":", 1)
        call(self._http, "POST", self.url + "/login", service=self.label, data={"username": user, "password": password})
        return True

    def app_id(self, app: AppInfo) -> int | None:
        """The running process's ``app_id`` (None when this Gradio has no such route).

        No retries and a short timeout: it answers "is it still up?". Raises our typed
        errors when the server cannot be reached.
        """
        self._quick.cookies.update(self._http.cookies)
        try:
            response = self._quick.get(f"{app.api_root}/app_id")
        except Exception as exc:  # noqa: BLE001 - map_exception sorts them
            raise map_exception(exc, service=self.label, start_hint=self.start_hint) from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise response_error(response, service=self.label)
        body = json_of(response, self.label, "an app id")
        value = body.get("app_id") if isinstance(body, Mapping) else None
        return value if isinstance(value, int) else None

    def server_state(self, app: AppInfo) -> str:
        """``"down"``, ``"restarted"`` or ``"same"``: what became of the process that ran our job."""
        try:
            current = self.app_id(app)
        except ConnectionProblem:
            forget_app(self.url)
            return "down"
        except MovieDirectorError:
            return "same"
        if current is not None and app.app_id is not None and current != app.app_id:
            forget_app(self.url)
            return "restarted"
        return "same"

    def health(self) -> tuple[float, dict[str, float], str]:
        """(latency ms, metrics, Gradio version) from ``/queue/status``: cheap, never runs a job."""
        app = self.app(check=False)
        started = time.perf_counter()
        body = json_of(self._get(f"{app.api_root}/queue/status"), self.label, "queue status")
        latency = (time.perf_counter() - started) * 1000
        metrics = {"queue_size": float(body["queue_size"])} if isinstance(body, Mapping) and isinstance(body.get("queue_size"), int) else {}
        return latency, metrics, app.version

    # -- jobs ------------------------------------------------------------------------------

    def open_session(self, endpoints: Iterable[Endpoint], app: AppInfo | None = None) -> GradioSession:
        """A fresh Gradio session able to call ``endpoints`` (close it, or use ``with``)."""
        app = app or self.app()
        session = GradioSession(self, app, list(endpoints))
        with self._lock:
            self._sessions.add(session)
        return session

    def call(
        self,
        endpoint: str,
        arguments: Mapping[str, Any] | None = None,
        out_dir: Path | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> CallResult:
        """Call one endpoint by name with keyword arguments, in a session of its own.

        Local paths given to file parameters are uploaded; result files are copied into
        ``out_dir`` (left as Gradio FileData when it is None).
        """
        started = time.monotonic()
        deadline = started + (timeout or DEFAULT_JOB_TIMEOUT)
        app = self.app()
        target = app.endpoint(endpoint, service=self.label)
        arguments = dict(arguments or {})
        check_arguments(target, arguments, service=self.label)
        with self.open_session([target], app) as session:
            data = session.run(target, arguments, deadline=deadline, on_progress=on_progress)
            hash_ = session.session_hash
        data, copied = self.fetch_files(data, out_dir, on_progress) if out_dir is not None else (data, [])
        notify(on_progress, Progress(Phase.DONE, fraction=1.0))
        return CallResult(target.api_name, data, tuple(copied), time.monotonic() - started, hash_)

    def fetch_files(self, data: Any, out_dir: Path, on_progress: ProgressCallback | None = None) -> tuple[Any, list[Path]]:
        """Copy every file in ``data`` into ``out_dir``; ``data`` comes back with local paths."""
        found = files.find_files(data)
        local: dict[int, Path] = {}
        app = self.app(check=False)
        for number, file_data in enumerate(found, 1):
            notify(on_progress, Progress(Phase.DOWNLOADING, step=number, total=len(found), unit="files"))
            local[id(file_data)] = files.download(self._http, file_data, app.api_root, Path(out_dir), service=self.label)
        return files.replace_files(data, local), list(local.values())

    def cancel_all(self) -> None:
        """Cancel every job this transport started (and only those)."""
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.cancel()

    def _closed(self, session: GradioSession) -> None:
        with self._lock:
            self._sessions.discard(session)

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()
        self._http.close()
        self._quick.close()

    def __repr__(self) -> str:
        return f"<GradioTransport {self.url}>"


class GradioSession:
    """One Gradio session (one ``session_hash``): hidden ``gr.State`` lives in it and a cancel
    stays inside it. Calls run one after another, as a browser tab makes them."""

    def __init__(self, transport: GradioTransport, app: AppInfo, endpoints: list[Endpoint]) -> None:
        self.transport = transport
        self.app = app
        self._client = _new_client(transport, app, [e.fn_index for e in endpoints])
        self.session_hash: str = self._client.session_hash
        self._jobs: list[Any] = []
        self._cancelled = threading.Event()
        self._closed = False

    def __enter__(self) -> GradioSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def label(self) -> str:
        return self.transport.label

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def submit(self, endpoint: Endpoint, arguments: Mapping[str, Any]) -> Any:
        """Start a call; returns gradio_client's Job. Files given as local paths are uploaded."""
        if self._cancelled.is_set():
            raise JobCancelled(f"The job on {self.label} was cancelled.", service=self.label)
        handle_file = _gradio().handle_file
        prepared = {}
        for name, value in arguments.items():
            parameter = endpoint.parameter(name)
            prepared[name] = wrap_files(parameter, value, handle_file) if parameter is not None else value
        try:
            job = self._client.submit(api_name="/" + endpoint.api_name, **prepared)
        except Exception as exc:  # noqa: BLE001 - sorted below
            raise self.error_of(exc, endpoint, started=False) from exc
        self._jobs.append(job)
        return job

    def run(
        self,
        endpoint: Endpoint,
        arguments: Mapping[str, Any],
        deadline: float,
        on_progress: ProgressCallback | None = None,
        message: Callable[[], str] | None = None,
    ) -> Any:
        """Submit and wait (see :meth:`wait`)."""
        return self.wait(self.submit(endpoint, arguments), endpoint, deadline, on_progress, message)

    def wait(
        self,
        job: Any,
        endpoint: Endpoint,
        deadline: float,
        on_progress: ProgressCallback | None = None,
        message: Callable[[], str] | None = None,
    ) -> Any:
        """The job's outputs, waiting until ``deadline`` (``time.monotonic()``) at most.

        Progress events (queue rank, then steps) go to ``on_progress`` as they change;
        ``message`` adds a status text of the caller's (Wan2GP's status line).
        """
        tracker = ProgressTracker(on_progress)
        updates = getattr(getattr(job, "communicator", None), "updates", None)  # every status, in order (client 2.x)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abandon()
                raise OperationTimeout(
                    f"/{endpoint.api_name} on {self.label} did not finish in time; it was cancelled.",
                    service=self.label,
                    details={"endpoint": endpoint.api_name},
                )
            done, _ = concurrent.futures.wait([job.future], timeout=min(POLL_INTERVAL, remaining))
            text = message() if message else ""
            for status in _drain(updates) if updates is not None else [job.status()]:
                tracker.update(status, text)
            if done:
                break
        try:
            return job.result(timeout=0)
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt is not raised by a finished future
            raise self.error_of(exc, endpoint, started=True) from exc

    def error_of(self, exc: BaseException, endpoint: Endpoint, started: bool) -> MovieDirectorError:
        """gradio_client's exception → ours (see :func:`job_error`)."""
        return job_error(
            exc,
            endpoint.api_name,
            self.label,
            cancelled=self._cancelled.is_set(),
            server_state=(lambda: self.transport.server_state(self.app)) if started else (lambda: "same"),
            start_hint=self.transport.start_hint,
        )

    def cancel(self) -> None:
        """Cancel this session's unfinished jobs (Gradio's cancel; other sessions are untouched)."""
        self._cancelled.set()
        for job in list(self._jobs):
            if not job.future.done():
                try:
                    job.cancel()
                except Exception:  # noqa: BLE001 - best effort: the server may be gone already
                    log.debug("cancel failed", exc_info=True)
                if getattr(getattr(job, "communicator", None), "event_id", "known") is None:
                    _cancel_once_named(job)

    def wait_idle(self, timeout: float) -> bool:
        """True once every job of this session has finished, waiting ``timeout`` at most."""
        pending = [job.future for job in self._jobs if not job.future.done()]
        _, still_running = concurrent.futures.wait(pending, timeout=timeout)
        return not still_running

    def _abandon(self) -> None:
        self.cancel()
        _release(self._client)

    def close(self) -> None:
        """Cancel what still runs and free the session's threads (never blocks for long)."""
        if self._closed:
            return
        self._closed = True
        if any(not job.future.done() for job in self._jobs):
            self.cancel()
        _release(self._client)
        _retire(self._client)
        self.transport._closed(self)  # noqa: SLF001 - the transport owns the registry


def job_error(
    exc: BaseException,
    endpoint: str,
    label: str,
    cancelled: bool,
    server_state: Callable[[], str],
    start_hint: str = "",
) -> MovieDirectorError:
    """gradio_client's exceptions → ours.

    ``CancelledError`` means a cancel *or* a dead server: unless we cancelled, ``server_state``
    (``"down"``, ``"restarted"`` or ``"same"``, asked only then) decides which.
    """
    if isinstance(exc, MovieDirectorError):
        return exc
    name, text = type(exc).__name__, str(exc)
    details = {"endpoint": endpoint}
    if name == "AppError":
        return JobFailed(f"{label} reported an error: {text}", service=label, details={**details, "app_message": text}, cause=exc)
    ended_early = (
        isinstance(exc, concurrent.futures.CancelledError)
        or (isinstance(exc, KeyError) and "Could not find 'data'" in text)  # a cancel racing the result
        or (isinstance(exc, ValueError) and "Server stopped" in text)
    )
    if ended_early:
        if cancelled:
            return JobCancelled(f"The job on {label} was cancelled.", service=label, details=details)
        state = server_state()
        if state == "down":
            return _went_away(label, endpoint, start_hint, exc)
        if state == "restarted":
            return JobLost(f"{label} restarted while /{endpoint} was running; the job is lost.", service=label, details=details, cause=exc)
        return JobCancelled(f"{label} stopped /{endpoint} before it finished.", service=label, details=details, cause=exc)
    if name == "QueueError":
        return RateLimited(f"{label}'s queue is full.", service=label, details=details, cause=exc)
    if name == "ValidationError" or (isinstance(exc, TypeError) and "argument" in text):
        return RequestRejected(f"{label} refused the values for /{endpoint}: {text}", service=label, details=details, cause=exc)
    if isinstance(exc, ValueError) and "Cannot find a function" in text:
        return NotFound(f"{label} has no endpoint /{endpoint} (any more).", service=label, details=details, cause=exc)
    response = getattr(exc, "response", None)
    if name == "HTTPStatusError" and response is not None:
        return response_error(response, service=label, cause=exc)
    if server_state() == "down":
        return _went_away(label, endpoint, start_hint, exc)
    return map_exception(exc, service=label, start_hint=start_hint)


def _went_away(label: str, endpoint: str, start_hint: str, exc: BaseException) -> ConnectionLost:
    return ConnectionLost(
        f"{label} went away while /{endpoint} was running.",
        service=label,
        hints=[*([start_hint] if start_hint else []), *ConnectionLost.default_hints, "Run the job again once it is back: nothing needs restarting here."],
        details={"endpoint": endpoint},
        cause=exc,
    )


class ProgressTracker:
    """Turns gradio_client status updates into :class:`Progress` events, each sent once."""

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self.on_progress = on_progress
        self.current: Progress | None = None

    def update(self, status: Any, message: str = "") -> None:
        event = progress_of(status, self.current, message)
        if event is not None and event != self.current:
            self.current = event
            notify(self.on_progress, event)


def progress_of(status: Any, previous: Progress | None = None, message: str = "") -> Progress | None:
    """One gradio_client ``StatusUpdate`` as a Progress (None while nothing is known yet)."""
    code = getattr(getattr(status, "code", None), "value", "")
    message = message or (previous.message if previous else "")
    if code == "IN_QUEUE":
        return Progress(Phase.QUEUED, queue_rank=status.rank, queue_size=status.queue_size, eta=status.eta, message=message)
    if code == "PROGRESS" and status.progress_data:
        unit = status.progress_data[0]
        total = int(unit.length) if unit.length else None
        step = int(unit.index) if unit.index is not None else None
        fraction = unit.progress if unit.progress is not None else (step / total if step is not None and total else None)
        return Progress(Phase.RUNNING, fraction=fraction, step=step, total=total, unit=unit.unit or "", message=message)
    if code in ("PROCESSING", "ITERATING", "LOG", "PROGRESS"):
        if previous is not None and previous.phase is Phase.RUNNING:
            return replace(previous, message=message)
        return Progress(Phase.RUNNING, message=message)
    return None


# -- gradio_client plumbing ------------------------------------------------------------------


@functools.cache
def _gradio() -> Any:
    """gradio_client, imported on first use (it costs ~0.3 s; probes and the CLI's check never need it)."""
    import gradio_client

    return gradio_client


@functools.cache
def _client_class() -> type:
    Client = _gradio().Client

    class SessionClient(Client):  # type: ignore[misc, valid-type]
        """A gradio_client ``Client`` built from cached ``/config``/``/info``: no download, new session."""

        def __init__(self, src: str, cached: tuple[dict[str, Any], Mapping[str, Any]], **kwargs: Any) -> None:
            self._cached = cached
            super().__init__(src, **kwargs)

        def _get_config(self) -> dict[str, Any]:
            return self._cached[0]

        def _get_api_info(self) -> Mapping[str, Any]:
            return self._cached[1]

    return SessionClient


@functools.cache
def _token_argument() -> str:
    """``token`` in gradio_client 2.x, ``hf_token`` in 1.x."""
    return "token" if "token" in inspect.signature(_gradio().Client.__init__).parameters else "hf_token"


def _new_client(transport: GradioTransport, app: AppInfo, fn_indices: list[int]) -> Any:
    import httpx

    service = transport.service
    httpx_kwargs: dict[str, Any] = {
        "timeout": httpx.Timeout(connect=service.connect_timeout, read=max(STREAM_READ_TIMEOUT, service.timeout), write=service.timeout, pool=service.connect_timeout),
        "trust_env": not service.is_loopback and service.proxy is None,
        "cookies": transport._http.cookies.get_dict(),  # noqa: SLF001 - Gradio login cookies
    }
    if service.proxy and not service.is_loopback:
        httpx_kwargs["proxy"] = service.proxy
    headers = {key: value for key, value in transport._http.headers.items() if key.lower() not in ("accept", "accept-encoding", "connection")}  # noqa: SLF001
    try:
        return _client_class()(
            app.url + "/",
            (app.session_config(fn_indices), app.info),
            verbose=False,
            download_files=False,
            headers=headers,
            httpx_kwargs=httpx_kwargs,
            ssl_verify=service.ca_bundle or service.verify_tls,
            max_workers=4,
            analytics_enabled=False,
            **{_token_argument(): False},  # never send the user's Hugging Face token to an app
        )
    except Exception as exc:  # noqa: BLE001
        raise map_exception(exc, service=transport.label, start_hint=transport.start_hint) from exc


def _drain(updates: Any, limit: int = 10_000) -> list[Any]:
    """The status updates gradio_client queued since the last look (its outputs are skipped)."""
    found = []
    for _ in range(limit):
        try:
            update = updates.get_nowait()
        except Exception:  # noqa: BLE001 - asyncio.QueueEmpty: nothing more for now
            break
        if getattr(update, "code", None) is not None:
            found.append(update)
    return found


def _cancel_once_named(job: Any) -> None:
    """Cancel ``job`` again as soon as the server has named it (its event id).

    A cancel sent while the queue join is still under way carries no event id; Gradio
    refuses it (HTTP 422) and the job would run on — holding a worker of the app and our
    stream, hence interpreter exit, for as long as it runs. A daemon thread waits for the
    name, bounded by :data:`LATE_CANCEL_S`, and sends the cancel again.
    """

    def resend() -> None:
        deadline = time.monotonic() + LATE_CANCEL_S
        while time.monotonic() < deadline and not job.future.done():
            if job.communicator.event_id is not None:
                try:
                    job.cancel()
                except Exception:  # noqa: BLE001 - best effort, as the first cancel
                    log.debug("late cancel failed", exc_info=True)
                return
            time.sleep(POLL_INTERVAL)

    threading.Thread(target=resend, name="md-gradio-late-cancel", daemon=True).start()


def _release(client: Any) -> None:
    """Wake gradio_client's helper threads that still wait for a message that will never come."""
    lock = getattr(client, "pending_lock", None)
    pending = getattr(client, "pending_messages_per_event", None)
    if lock is None or pending is None:
        return
    with lock:
        queues = list(pending.values())
    for messages in queues:
        messages.append(None)  # what gradio_client itself appends when its stream closes


def _retire(client: Any) -> None:
    """Stop a session's heartbeat and executors without waiting (their threads end by themselves)."""
    kill = getattr(client, "_kill_heartbeat", None)
    if kill is not None:
        kill.set()  # Client.close() would join the heartbeat for up to 1 s; it is a daemon
    for name in ("executor", "helper_executor", "stream_executor"):
        executor = getattr(client, name, None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["CallResult", "GradioSession", "GradioTransport", "ProgressTracker", "forget_app", "progress_of"]
