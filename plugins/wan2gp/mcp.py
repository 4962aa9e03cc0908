"""Drive Wan2GP headless: its own job API, served as MCP tools over plain HTTP.

``python wgp.py --mcp --mcp-transport streamable-http --mcp-port N`` runs Wan2GP without
its web UI and offers ``wangp_*`` tools (FastMCP, stateless, JSON answers). This is the
robust way to drive it from a tool: real job ids, events, cancel, model discovery and
media transfer. A generation here is:

1. validate the settings against the server's models and ranges (``wangp_list_models``,
   ``wangp_get_model_schema``) — the same :class:`Wan2GPSettings` checks as the web UI;
2. upload local media (``wangp_create_gallery_upload`` + ``PUT``) and send gallery ids,
   since the server refuses file paths;
3. ``wangp_generate(wait=False)`` — never ``wait=True``, which blocks the whole server —
   and hand the job id to the caller at once (``on_submitted``) so a restarted caller
   can :meth:`MCPTransport.resume` it instead of submitting it again;
4. poll ``wangp_get_job`` with backoff, turning its events into :class:`Progress`;
   a dropped connection is waited out for a while, the job keeps its id;
5. download every result through ``wangp_create_gallery_download`` + ``GET``.

A failed generation is not a tool error on this server: the job ends ``done`` with
``result.success: false`` and the reason in ``result.errors``; we raise
:class:`JobFailed` (or :class:`JobCancelled`) with that reason.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

from movie_director.backend import Capability, HealthSample, ProbeResult
from movie_director.configdata import ServiceConfig
from movie_director.errors import (
    ConnectionProblem,
    InvalidSetting,
    JobCancelled,
    JobFailed,
    JobLost,
    MalformedResponse,
    MovieDirectorError,
    OperationTimeout,
    RequestRejected,
    UnsupportedVersion,
    describe_unexpected,
    says_nothing_about_kind,
)
from movie_director.http import call, json_of, probe_session
from movie_director.progress import Phase, Progress, ProgressCallback, notify
from movie_director.reconnect import Backoff
from movie_director_plugins.gradio.files import download as download_file
from movie_director_plugins.wan2gp.mcp_client import MCPClient, endpoint_of
from movie_director_plugins.wan2gp.settings import DEFAULT_LIMITS, GALLERY_FIELDS, SERVICE, GenerationResult, Wan2GPSettings

log = logging.getLogger(__name__)

NAME = "mcp"
START_HINT = "Start Wan2GP headless: python wgp.py --mcp --mcp-transport streamable-http --mcp-host 127.0.0.1 --mcp-port 8765."
#: The tools a generation needs; a server with ``wangp_*`` tools but not these is too old.
REQUIRED_TOOLS = (
    "wangp_list_models",
    "wangp_get_model_schema",
    "wangp_create_gallery_upload",
    "wangp_create_gallery_download",
    "wangp_generate",
    "wangp_get_job",
    "wangp_cancel_job",
)
DEFAULT_GENERATE_TIMEOUT = 3600.0
#: Events asked for per poll (the server keeps the last 500; a poll never misses 100).
EVENT_LIMIT = 100
POLL_FIRST = 0.1
POLL_MAX = 1.0
#: How long a lost connection is waited out while a job runs before giving up (the job
#: id is in the error's details, to resume it later).
RECONNECT_GRACE = 60.0
MODELS_TTL = 60.0
#: Models asked for per ``wangp_list_models`` call. Wan2GP 12.60 answers at most 10 whatever
#: we ask (its own cap), so we page on; a server without the cap answers in one call.
MODELS_PER_CALL = 1000
#: Pages of the catalogue at most (12.60 lists ~217 models: 22 pages of 10).
MAX_MODEL_PAGES = 200
_BUSY = "already has a generation in progress"
_UNKNOWN_JOB = "unknown wangp job_id"


def service_url(url: str) -> str:
    """The URL to store for a headless server: its MCP endpoint, without the trailing slash."""
    return endpoint_of(url).rstrip("/")


def probe(url: str, timeout: float) -> ProbeResult | None:
    """Wan2GP's MCP server at ``url`` (or ``url/mcp``), told apart from other MCP servers by its ``wangp_*`` tools.

    LiteLLM proxies answer ``/mcp`` too (401 without a key; with one, their gateway's
    tools) and plain web apps answer 404: both are "not mine". Raises only when
    the address cannot be reached.
    """
    endpoint = endpoint_of(url)
    started = time.perf_counter()
    with MCPClient(endpoint, probe_session(endpoint, timeout), service=SERVICE) as client:
        try:
            tools = client.list_tools()
        except MovieDirectorError as error:
            if says_nothing_about_kind(error):
                raise
            log.debug("no Wan2GP MCP server at %s: %s", endpoint, error)
            return None
    names = {str(tool["name"]) for tool in tools}
    wangp = sorted(name for name in names if name.startswith("wangp_"))
    if not wangp:
        return None
    details = {"tools": len(wangp), "missing_tools": [name for name in REQUIRED_TOOLS if name not in names]}
    if client.server_info:
        details["server"] = client.server_info
    return ProbeResult("wan2gp", service_url(url), latency_ms=(time.perf_counter() - started) * 1000, details=details, transport=NAME)


def connect(service: ServiceConfig) -> MCPTransport:
    return MCPTransport(service)


class EventCursor:
    """Which events of a job snapshot are new since the last one.

    A snapshot holds only the last N events, so we remember the newest timestamp seen
    and how many events carried it (coarse clocks give equal timestamps).
    """

    def __init__(self) -> None:
        self._newest = float("-inf")
        self._at_newest = 0

    def advance(self, events: Sequence[Any]) -> list[Mapping[str, Any]]:
        stamped = [(float(event["timestamp"]), event) for event in events if isinstance(event, Mapping) and _is_number(event.get("timestamp"))]
        fresh: list[Mapping[str, Any]] = []
        ties = 0
        for stamp, event in stamped:
            if stamp < self._newest:
                continue
            if stamp == self._newest:
                ties += 1
                if ties <= self._at_newest:
                    continue
            fresh.append(event)
        if fresh:
            newest = max(stamp for stamp, _ in stamped)
            self._newest, self._at_newest = newest, sum(1 for stamp, _ in stamped if stamp == newest)
        return fresh


def progress_of(event: Mapping[str, Any]) -> Progress | None:
    """One job event as our progress event; ``None`` for kinds that say nothing to an artist."""
    kind, data = event.get("kind"), event.get("data")
    if kind == "started":
        tasks = data.get("tasks") if isinstance(data, Mapping) else None
        return Progress(Phase.RUNNING, message=f"started ({tasks} task{'s' if tasks != 1 else ''})" if isinstance(tasks, int) else "started")
    if kind == "status" and isinstance(data, str):
        return Progress(Phase.RUNNING, message=data.strip())
    if kind == "progress" and isinstance(data, Mapping):
        percent = data.get("progress")
        step, total = data.get("current_step"), data.get("total_steps")
        return Progress(
            Phase.RUNNING,
            fraction=min(1.0, max(0.0, float(percent) / 100)) if _is_number(percent) else None,
            step=int(step) if _is_number(step) else None,
            total=int(total) if _is_number(total) else None,
            unit=str(data.get("unit") or "steps"),
            message=str(data.get("status") or data.get("phase") or ""),
        )
    if kind == "stream" and isinstance(data, Mapping):
        log.debug("Wan2GP %s: %s", data.get("stream"), str(data.get("text", "")).rstrip())
    return None


@dataclass(eq=False)
class _Run:
    """One generate/resume call in flight: what abort() and clear_queue() act on."""

    job_id: str | None = None
    cancel_sent: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.cancelled.set()
        self.wake.set()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` or until abort() wakes us, whichever comes first."""
        self.wake.wait(max(0.0, seconds))
        self.wake.clear()


class MCPTransport:
    """The ``wan2gp`` backend's headless transport (see the module doc)."""

    name: ClassVar[str] = NAME

    def __init__(
        self,
        service: ServiceConfig,
        *,
        reconnect_grace: float = RECONNECT_GRACE,
        poll_interval: tuple[float, float] = (POLL_FIRST, POLL_MAX),
    ) -> None:
        """``poll_interval`` is (first, longest) wait between polls; waits grow while nothing happens."""
        self.service = service
        self.reconnect_grace = reconnect_grace
        self.poll_first, self.poll_max = poll_interval
        self.client = MCPClient.for_service(service, endpoint_of(service.url), SERVICE, START_HINT)
        self._runs: set[_Run] = set()
        self._models: tuple[float, list[dict[str, Any]]] | None = None
        self._schemas: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- what the server offers -----------------------------------------------------------

    def models(self) -> list[str]:
        return [record["model_type"] for record in self.model_records()]

    def model_records(self, refresh: bool = False) -> list[dict[str, Any]]:
        """Every model the server lists (with availability), cached for a minute."""
        with self._lock:
            cached = self._models
        if cached is not None and not refresh and time.monotonic() - cached[0] < MODELS_TTL:
            return cached[1]
        records: dict[str, dict[str, Any]] = {}
        page_size = 0  # the server's cap, learnt from the first page
        for page_number in range(MAX_MODEL_PAGES):
            page = self.client.call_tool("wangp_list_models", {"limit": MODELS_PER_CALL, "offset": len(records), "include_availability": True})
            if page is None:
                page = []
            if not isinstance(page, list):
                raise describe_unexpected(page, SERVICE, "a list of models")
            fresh = {str(r["model_type"]): dict(r) for r in page if isinstance(r, Mapping) and r.get("model_type") and str(r["model_type"]) not in records}
            records.update(fresh)
            log.debug("Wan2GP model page %d: %d models", page_number, len(fresh))
            if not fresh or len(page) < page_size:  # a page shorter than the first one is the last
                break
            page_size = page_size or len(page)
        listing = list(records.values())
        with self._lock:
            self._models = (time.monotonic(), listing)
        return listing

    def schema(self, model: str) -> dict[str, Any]:
        """The model's definition, setting ranges and defaults (``wangp_get_model_schema``), cached."""
        with self._lock:
            cached = self._schemas.get(model)
        if cached is not None:
            return cached
        schema = self.client.call_tool("wangp_get_model_schema", {"model_type": model})
        if schema is None:
            raise InvalidSetting(
                f"Wan2GP does not know the model {model!r}.",
                service=SERVICE,
                hints=["Pick a model the server lists (`movie-director check URL --json` shows them)."],
                details={"field": "model", "value": model, "allowed": ", ".join(self.models())},
            )
        if not isinstance(schema, Mapping):
            raise describe_unexpected(schema, SERVICE, "a model schema")
        with self._lock:
            self._schemas[model] = dict(schema)
        return dict(schema)

    def capabilities(self) -> list[Capability]:
        """One capability per model: ``video.generate`` / ``image.generate`` with its inputs and modes.

        Only the model list is read (a few calls): a model's own ranges and resolutions come
        from its schema, read when the model is used (:meth:`schema`, cached). Reading ~200
        schemas here made discovery take seconds on a real server.
        """
        capabilities = []
        for record in self.model_records():
            model = record["model_type"]
            base = str(record.get("base_model_type") or model)
            output = (record.get("main_output") or ["video"])[0]
            inputs = [str(name) for name in record.get("inputs") or ()]
            availability = found if isinstance(found := record.get("availability"), Mapping) else {}
            details = {
                "transport": NAME,
                "name": record.get("name", ""),
                "family": record.get("family", ""),
                "base_model_type": base,
                "finetune": bool(record.get("finetune")),
                "inputs": inputs,
                "modes": modes_of(inputs, str(output)),
                "available": availability.get("available"),
                "availability": availability.get("status", ""),
            }
            capabilities.append(Capability(f"{'image' if output == 'image' else 'video'}.generate", id=model, limits=dict(DEFAULT_LIMITS), details=details))
        return capabilities

    def health(self) -> HealthSample:
        """A JSON-RPC ``ping`` (never a generation); raises our typed error when it fails."""
        started = time.perf_counter()
        self.client.ping(timeout=(self.service.connect_timeout, min(self.service.timeout, 10.0)))
        with self._lock:
            active = sum(1 for run in self._runs if run.job_id)
        return HealthSample(ok=True, latency_ms=(time.perf_counter() - started) * 1000, metrics={"active_jobs": float(active)})

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        settings: Wan2GPSettings,
        out_dir: Path,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        *,
        on_submitted: Callable[[str], None] | None = None,
    ) -> GenerationResult:
        """Generate once; the files land in ``out_dir``.

        ``on_submitted(job_id)`` is called as soon as the server accepted the job: keep
        the id to :meth:`resume` the job if this process dies before it ends.
        """
        started = time.monotonic()
        deadline = started + (timeout or DEFAULT_GENERATE_TIMEOUT)
        with self._running() as run:
            try:
                notify(on_progress, Progress(Phase.CONNECTING, message="reading Wan2GP's models"))
                source, model, uploads = self._prepare(settings, run, on_progress)
                job_id = self._submit(source, run, deadline, on_progress)
                if on_submitted is not None:
                    try:
                        on_submitted(job_id)
                    except Exception:  # noqa: BLE001 - the job runs on the server either way
                        log.exception("on_submitted callback failed for Wan2GP job %s", job_id)
                files, details = self._finish(run, Path(out_dir), on_progress, deadline, resumed=False)
            except KeyboardInterrupt:  # Ctrl-C in the CLI stops the job on the server too
                self._cancel_run(run)
                raise
        details.update(model=model, uploads=uploads)
        return GenerationResult(files=files, transport=NAME, elapsed_s=time.monotonic() - started, sent=source, details=details)

    def resume(
        self,
        job_id: str,
        out_dir: Path,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> GenerationResult:
        """Pick up a job submitted earlier (maybe by another process) by its id, and download its output.

        Unlike :meth:`generate`, an interrupt here only stops watching: the job keeps running.
        """
        started = time.monotonic()
        with self._running() as run:
            run.job_id = job_id
            files, details = self._finish(run, Path(out_dir), on_progress, started + (timeout or DEFAULT_GENERATE_TIMEOUT), resumed=True)
        return GenerationResult(files=files, transport=NAME, elapsed_s=time.monotonic() - started, details={**details, "resumed": True})

    def cancel(self, job_id: str) -> None:
        """Ask the server to stop job ``job_id`` (it stops at its next step)."""
        try:
            self.client.call_tool("wangp_cancel_job", {"job_id": job_id, "event_limit": 0})
        except RequestRejected as error:
            raise _lost_or(error, job_id) from error

    def upload(self, path: Path) -> str:
        """Copy a local file into the server's gallery; returns its gallery id (``visual:…``)."""
        ticket = self.client.call_tool("wangp_create_gallery_upload", {"filename": path.name})
        if not isinstance(ticket, Mapping) or not isinstance(ticket.get("upload_url"), str):
            raise describe_unexpected(ticket, SERVICE, "an upload address")
        size = path.stat().st_size
        limit = ticket.get("max_bytes")
        if isinstance(limit, int) and size > limit:
            raise InvalidSetting(
                f"The file {path.name} is {size} bytes, more than the {limit} bytes Wan2GP accepts.",
                service=SERVICE,
                hints=["Use a smaller file (fewer frames, a lower resolution)."],
                details={"field": "media", "value": str(path), "allowed": f"at most {limit} bytes"},
            )
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as handle:
            response = call(
                self.client.transfer_session,
                str(ticket.get("method") or "PUT").upper(),
                self.client.url_for(ticket["upload_url"]),
                service=SERVICE,
                start_hint=START_HINT,
                data=handle,
                headers={"Content-Type": content_type, "Content-Length": str(size)},
            )
        body = json_of(response, SERVICE, "the uploaded file's gallery id")
        if not isinstance(body, Mapping) or not isinstance(body.get("gallery_id"), str):
            raise MalformedResponse(f"Wan2GP accepted the upload of {path.name} but did not say where it went.", service=SERVICE)
        return body["gallery_id"]

    def download(self, gallery_id: str, out_dir: Path) -> Path:
        """Copy one gallery item (an output, or an upload) into ``out_dir`` under a safe, unused name."""
        ticket = self.client.call_tool("wangp_create_gallery_download", {"gallery_id": gallery_id})
        if not isinstance(ticket, Mapping) or not isinstance(ticket.get("download_url"), str):
            raise describe_unexpected(ticket, SERVICE, "a download address")
        url = self.client.url_for(ticket["download_url"])
        name = str(ticket.get("filename") or gallery_id.replace(":", "_"))
        file_data = {"path": name, "orig_name": name, "url": url, "size": ticket.get("size")}
        return download_file(self.client.transfer_session, file_data, url, out_dir, service=SERVICE)

    def abort(self) -> None:
        """Cancel every job this transport runs or is about to submit."""
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            self._cancel_run(run)

    def clear_queue(self) -> None:
        """Drop our generations still waiting for the server to be free.

        Wan2GP's headless server keeps no queue (one job at a time, others are refused),
        so what waits is ours: those calls end with :class:`JobCancelled`; a running job
        is left alone (use :meth:`abort`).
        """
        with self._lock:
            waiting = [run for run in self._runs if run.job_id is None]
        for run in waiting:
            run.stop()

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"<MCPTransport {self.client.endpoint}>"

    # -- steps --------------------------------------------------------------------------------

    def _cancel_run(self, run: _Run) -> None:
        """Stop ``run`` here and, once it has a job, on the server (best effort: the poll loop tries again)."""
        run.stop()
        if run.job_id and not run.cancel_sent:
            try:
                self.cancel(run.job_id)
                run.cancel_sent = True
            except MovieDirectorError as error:
                log.warning("cancelling Wan2GP job %s failed: %s", run.job_id, error)

    @contextmanager
    def _running(self) -> Iterator[_Run]:
        """A :class:`_Run` that abort() and clear_queue() can reach while the call is in flight."""
        run = _Run()
        with self._lock:
            self._runs.add(run)
        try:
            yield run
        finally:
            with self._lock:
                self._runs.discard(run)

    def _prepare(self, settings: Wan2GPSettings, run: _Run, on_progress: ProgressCallback | None) -> tuple[dict[str, Any], str, dict[str, list[str]]]:
        """Validated settings as ``wangp_generate``'s source, with media uploaded as gallery ids."""
        records = self.model_records()
        models = [record["model_type"] for record in records]
        model = settings.model or self._default_model(records)
        limits, resolutions = ranges_of(self.schema(model)) if model in models else ({}, [])
        settings.validate(limits=limits, choices={"model": models, "resolution": resolutions})
        source = settings.to_save_inputs()
        uploads: dict[str, list[str]] = {}
        media = settings.media()
        total = sum(len(paths) for paths in media.values())
        done = 0
        for name, paths in media.items():
            for path in paths:
                if run.cancelled.is_set():
                    raise JobCancelled("The generation was cancelled before it reached Wan2GP.", service=SERVICE)
                notify(on_progress, Progress(Phase.UPLOADING, fraction=done / total, step=done, total=total, unit="files", message=path.name))
                uploads.setdefault(name, []).append(self.upload(path))
                done += 1
            source[name] = uploads[name] if name in GALLERY_FIELDS else uploads[name][0]
        source["model_type"] = model
        return source, model, uploads

    def _default_model(self, records: Sequence[Mapping[str, Any]]) -> str:
        """The service's preferred model, else the first video model with weights, else the first listed."""
        listed = [str(record["model_type"]) for record in records]
        for preferred in self.service.models:
            if preferred in listed:
                return preferred
        for record in records:
            availability = record.get("availability")
            if "video" in (record.get("main_output") or ()) and (not isinstance(availability, Mapping) or availability.get("available", True)):
                return str(record["model_type"])
        if listed:
            return listed[0]
        raise UnsupportedVersion("Wan2GP lists no models.", service=SERVICE, hints=["Check Wan2GP's console window: its model definitions may have failed to load."])

    def _submit(self, source: Mapping[str, Any], run: _Run, deadline: float, on_progress: ProgressCallback | None) -> str:
        """``wangp_generate(wait=False)``; while another job runs, wait (queued) and try again."""
        busy = Backoff(initial=self.poll_max / 2, factor=1.5, cap=self.poll_max * 5)
        for attempt in range(100_000):  # bounded by the deadline; the count only guards against a stuck clock
            if run.cancelled.is_set():
                raise JobCancelled("The generation was cancelled before it started on Wan2GP.", service=SERVICE)
            try:
                snapshot = self.client.call_tool("wangp_generate", {"source": dict(source), "wait": False, "event_limit": 0}, repeatable=False)
            except RequestRejected as error:
                if _BUSY not in error.message.lower():
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise OperationTimeout(
                        "Wan2GP stayed busy with another generation for the whole time allowed.",
                        service=SERVICE,
                        hints=["Wan2GP runs one generation at a time: wait for the other one, or cancel it.", "Raise the timeout."],
                    ) from error
                notify(on_progress, Progress(Phase.QUEUED, message="Wan2GP is busy with another generation; waiting"))
                run.pause(min(busy.delay(attempt), remaining))
                continue
            job_id = snapshot.get("job_id") if isinstance(snapshot, Mapping) else None
            if not isinstance(job_id, str) or not job_id:
                raise describe_unexpected(snapshot, SERVICE, "a job with a job_id")
            with self._lock:
                run.job_id = job_id
            notify(on_progress, Progress(Phase.QUEUED, message=f"submitted as job {job_id}"))
            return job_id
        raise OperationTimeout("Wan2GP stayed busy with another generation.", service=SERVICE)

    def _finish(
        self, run: _Run, out_dir: Path, on_progress: ProgressCallback | None, deadline: float, resumed: bool
    ) -> tuple[tuple[Path, ...], dict[str, Any]]:
        job_id = str(run.job_id)
        snapshot = self._wait(run, deadline, on_progress, resumed)
        result = _outcome(snapshot, job_id)
        items = self._gallery_items(result)
        if not items:
            raise JobFailed(
                "Wan2GP finished without producing a file.",
                service=SERVICE,
                hints=["Look at Wan2GP's console window for the reason.", *JobFailed.default_hints],
                details={"job_id": job_id},
            )
        files = []
        for index, item in enumerate(items):
            notify(on_progress, Progress(Phase.DOWNLOADING, fraction=index / len(items), step=index, total=len(items), unit="files", message=str(item.get("filename", ""))))
            files.append(self.download(str(item["gallery_id"]), out_dir))
        notify(on_progress, Progress(Phase.DONE, fraction=1.0))
        return tuple(files), {"job_id": job_id, "gallery_ids": [str(item["gallery_id"]) for item in items]}

    def _wait(self, run: _Run, deadline: float, on_progress: ProgressCallback | None, resumed: bool) -> Mapping[str, Any]:
        """Poll the job until it is done; report its new events; wait out a lost connection."""
        job_id = str(run.job_id)
        cursor = EventCursor()
        lost = Backoff(initial=self.poll_first, cap=self.poll_max * 4)
        idle = Backoff(initial=self.poll_first, factor=1.5, cap=self.poll_max, jitter=0.0)
        lost_attempts = quiet_polls = 0
        lost_since: float | None = None
        first = True
        while True:
            if run.cancelled.is_set() and not run.cancel_sent:
                try:
                    self.cancel(job_id)
                    run.cancel_sent = True
                except ConnectionProblem as error:
                    log.warning("cancelling Wan2GP job %s failed (%s); trying again", job_id, error)
            now = time.monotonic()
            if now >= deadline:
                raise OperationTimeout(
                    f"The Wan2GP job {job_id} did not finish within the time allowed; it may still be running.",
                    service=SERVICE,
                    hints=["Resume it later by its job id, or cancel it.", *OperationTimeout.default_hints],
                    details={"job_id": job_id},
                )
            try:
                snapshot = self._get_job(job_id, deadline - now)
            except ConnectionProblem as error:
                lost_since = lost_since if lost_since is not None else now
                if lost_since == now:
                    notify(on_progress, Progress(Phase.CONNECTING, message="lost the connection to Wan2GP; the job keeps running there, reconnecting"))
                if now - lost_since >= self.reconnect_grace:
                    error.details["job_id"] = job_id
                    error.hints.append(f"The job keeps its id ({job_id}): it can be resumed once Wan2GP answers again.")
                    raise
                run.pause(min(lost.delay(lost_attempts), deadline - now))
                lost_attempts += 1
                continue
            if lost_since is not None:
                notify(on_progress, Progress(Phase.RUNNING, message="reconnected to Wan2GP"))
                lost_since = None
                lost_attempts = 0
            fresh = cursor.advance(snapshot.get("events") or [])
            events = [p for p in (progress_of(event) for event in fresh) if p is not None]
            for event in events[-1:] if (first and resumed) else events:
                notify(on_progress, event)
            first = False
            if snapshot.get("done"):
                return snapshot
            quiet_polls = 0 if fresh else quiet_polls + 1
            run.pause(min(idle.delay(quiet_polls), max(0.0, deadline - time.monotonic())))

    def _get_job(self, job_id: str, remaining: float) -> Mapping[str, Any]:
        read = max(0.5, min(self.service.timeout, remaining))
        try:
            snapshot = self.client.call_tool("wangp_get_job", {"job_id": job_id, "event_limit": EVENT_LIMIT}, timeout=(self.service.connect_timeout, read))
        except RequestRejected as error:
            raise _lost_or(error, job_id) from error
        if not isinstance(snapshot, Mapping) or "done" not in snapshot:
            raise describe_unexpected(snapshot, SERVICE, "a job snapshot")
        return snapshot

    def _gallery_items(self, result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The job's outputs as gallery records; looked up by file name when the result lacks them."""
        items = [item for item in result.get("gallery_items") or () if isinstance(item, Mapping) and item.get("gallery_id")]
        generated = [str(path).replace("\\", "/").rsplit("/", 1)[-1] for path in result.get("generated_files") or ()]
        if items or not generated:
            return items
        listing = self.client.call_tool("wangp_list_gallery", {"media_type": "all", "limit": 500}) or []
        by_name = {str(item.get("filename")): item for item in listing if isinstance(item, Mapping) and item.get("gallery_id")}
        return [by_name[name] for name in generated if name in by_name]



def ranges_of(schema: Mapping[str, Any]) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """The limits (for :data:`DEFAULT_LIMITS` names) and resolutions a model schema reports."""
    values = found if isinstance(found := schema.get("setting_values"), Mapping) else {}
    limits = {}
    for name in DEFAULT_LIMITS:
        entry = values.get(name)
        if isinstance(entry, Mapping) and _is_number(entry.get("min")) and _is_number(entry.get("max")):
            limits[name] = (entry["min"], entry["max"])
    resolution = values.get("resolution")
    choices = resolution.get("choices") if isinstance(resolution, Mapping) else None
    return limits, [str(choice) for choice in choices or ()]


def modes_of(inputs: Sequence[str], output: str) -> list[str]:
    """What a model can be asked to do, from the inputs it takes: "text-to-video", "image-to-video"…"""
    modes = []
    if "text" in inputs:
        modes.append(f"text-to-{output}")
    if "image_start" in inputs:
        modes.append(f"image-to-{output}")
    if "image_refs" in inputs:
        modes.append(f"references-to-{output}")
    if "video_guide" in inputs:
        modes.append(f"video-to-{output}")
    return modes


def _outcome(snapshot: Mapping[str, Any], job_id: str) -> Mapping[str, Any]:
    """The finished job's result, or the typed error it ended with."""
    result = snapshot.get("result")
    if not isinstance(result, Mapping):
        raise describe_unexpected(result, SERVICE, "the finished job's result")
    errors = [error for error in result.get("errors") or () if isinstance(error, Mapping)]
    details = {"job_id": job_id, "errors": errors}
    if result.get("cancelled"):
        raise JobCancelled("The generation on Wan2GP was cancelled.", service=SERVICE, details=details)
    if not result.get("success"):
        messages = list(dict.fromkeys(str(error.get("message", "")).strip() for error in errors if error.get("message"))) or ["no reason given"]
        raise JobFailed(
            f"Wan2GP could not finish the generation: {'; '.join(messages)}",
            service=SERVICE,
            hints=[*_failure_hints(" ".join(messages)), "Look at Wan2GP's console window for the full error."],
            details=details,
        )
    return result


def _failure_hints(text: str) -> list[str]:
    lowered = text.lower()
    hints = []
    if "locate the file on the hub" in lowered or "cannot find the requested files" in lowered:
        hints.append("Wan2GP could not load the model's weights: let it download them once with internet access, or copy them into its ckpts folder.")
    if "'nonetype' object has no attribute 'get'" in lowered:
        hints.append("This usually means Wan2GP does not know the model type: pick one it lists.")
    return hints


def _lost_or(error: RequestRejected, job_id: str) -> MovieDirectorError:
    """"Unknown job id" from the server means it restarted and forgot the job."""
    if _UNKNOWN_JOB not in error.message.lower():
        return error
    return JobLost(
        f"Wan2GP no longer knows the job {job_id}: it restarted since the job was submitted.",
        service=SERVICE,
        hints=["Submit the generation again.", "Wan2GP keeps no jobs across restarts."],
        cause=error,
        details={"job_id": job_id},
    )


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


__all__ = [
    "REQUIRED_TOOLS",
    "START_HINT",
    "EventCursor",
    "MCPTransport",
    "connect",
    "modes_of",
    "probe",
    "progress_of",
    "ranges_of",
    "service_url",
]
