"""``movie-director demo``: the whole connectivity layer in one run, against backends it starts itself.

Six acts, one function each, so a test (or a notebook) can run them one by one:

1. :func:`start_local_backends` — the ComfyUI stand-in, the Gradio app shaped like
   Wan2GP's web UI and a real LiteLLM proxy with mock answers, on free loopback ports,
   started in parallel (the proxy takes ~10 s).
2. :func:`discover_backends` — discovery scans exactly those ports (never the default
   ones, where the artist's real services may run) and names what answers.
3. :func:`connect` — a :class:`~movie_director.manager.ServiceManager` on a throw-away
   config and data dir, with the live status table of ``movie-director status``.
4. :func:`comfyui_job`, :func:`wan2gp_job`, :func:`llm_job` — one job on each backend,
   through the manager's pools, with progress bars; files land in ``./demo-output/``.
5. :func:`outage` — ComfyUI is killed; the manager notices, three jobs wait in the
   persisted queue, ComfyUI restarts on its port, and they run exactly once.
6. :func:`health_summary` — latency, uptime and success rate per service.

Everything the demo starts is stopped in a ``finally`` (Ctrl-C included). With
``real=True`` it uses the artist's configuration instead: acts 1 and 5 are skipped,
jobs run only on services that answer, and nothing is ever killed.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO, cast
from urllib.parse import urlsplit

from movie_director.cli.discover_cmd import format_capabilities, format_row
from movie_director.cli.output import ProgressPrinter, table
from movie_director.cli.status_cmd import render, watch
from movie_director.config import exported, load_config
from movie_director.configdata import AuthRef, Config, auth_by_kind
from movie_director.discovery import DiscoveryResult, discover, service_entry
from movie_director.errors import Fix, MovieDirectorError, OperationTimeout, ServiceError, SettingsError, map_exception
from movie_director.events import Event
from movie_director.logs import configure_logging, reset_logging
from movie_director.manager import ServiceManager, SystemSnapshot
from movie_director.plugins import get_plugin_manager
from movie_director.redact import redact, register_secret
from movie_director.store import database_path
from movie_director_plugins.comfyui.cli import follow
from movie_director_plugins.comfyui.client import ComfyUIClient
from movie_director_plugins.comfyui.jobs import Job
from movie_director_plugins.comfyui.operations import SUBMIT
from movie_director_plugins.litellm.cli import summary as llm_summary
from movie_director_plugins.litellm.client import LiteLLMClient
from movie_director_plugins.wan2gp.backend import Wan2GPBackend
from movie_director_plugins.wan2gp.settings import Wan2GPSettings, Wan2GPTransport
from movie_director_testing.processes import LOOPBACK, ServerProcess, port_accepts, wait_until

ACTS = (
    "Start the local backends",
    "Discover them",
    "Connect and watch",
    "One job on each backend",
    "Kill ComfyUI, queue work, restart it",
    "Health summary",
)
KINDS = ("comfyui", "wan2gp", "litellm")
LABELS = {"comfyui": "ComfyUI stand-in", "wan2gp": "Wan2GP web UI (Gradio 5.29)", "litellm": "LiteLLM proxy (mock answers)"}
KEY_ENV = "MOVIE_DIRECTOR_LITELLM_API_KEY"
LLM_MODEL = "mock-story"
LLM_PROMPT = "Pitch the opening shot of a short film in three sentences."
QUEUED_JOBS = 3

# Every wait has a deadline; together they keep a healthy run far below 90 s.
START_TIMEOUT = 120.0  # the launchers give up sooner (60–90 s) with the server's log
START_NOTICE_EVERY = 3.0
DISCOVERY_TIMEOUT = 5.0
CHECK_TIMEOUT = 20.0
STATUS_WATCH = 2.0
JOB_TIMEOUT = 60.0
DETECT_TIMEOUT = 15.0
RECONNECT_TIMEOUT = 30.0

#: Embedded-mode tuning: a check every second, and no urllib3 retries (the manager's reconnect
#: loop is what retries; urllib3's would only delay noticing the outage), so it shows at once.
DEMO_SERVICE_SETTINGS = {"health_interval": 1, "retries": 0, "timeout": 30}
COMFYUI_OPTIONS: dict[str, Any] = {"node_delay": 0.08}
WAN2GP_OPTIONS: dict[str, Any] = {"step_seconds": 0.25}
SAMPLER_STEPS = 12


@dataclass(frozen=True)
class DemoOptions:
    out_dir: Path = Path("demo-output")
    #: Use the artist's configuration and services; start and kill nothing.
    real: bool = False
    job_timeout: float = JOB_TIMEOUT


@dataclass
class LocalBackends:
    """The three embedded servers (by kind) and the proxy's master key."""

    servers: dict[str, ServerProcess]
    litellm_key: str

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers.values()]


@dataclass
class DemoReport:
    """What happened, for ``--json`` and for tests."""

    mode: str
    servers: dict[str, str] = field(default_factory=dict)
    discovered: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    outage: dict[str, Any] | None = None
    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, **asdict(self)}


class Console:
    """Where the demo talks: the story on ``stream`` (progress bars go to stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def say(self, text: str = "") -> None:
        print(redact(text), file=self.stream, flush=True)

    def write(self, text: str) -> None:
        self.stream.write(redact(text))
        self.stream.flush()

    def files(self, paths: Iterable[str | Path]) -> None:
        """One line per written file, relative to the current folder when inside it."""
        for path in paths:
            resolved = Path(path).resolve()
            self.say(f"  → {resolved.relative_to(Path.cwd()) if resolved.is_relative_to(Path.cwd()) else resolved}")

    def events(self, events: Iterable[Event], since: float) -> None:
        """Manager events with their time since ``since`` (wall clock, as events carry)."""
        for event in events:
            self.say(f"  {event.timestamp - since:+6.1f} s  {event.describe()}")

    @contextmanager
    def act(self, number: int, title: str = "") -> Iterator[None]:
        """A numbered heading; a failure inside names the act and becomes one of our typed errors."""
        title = title or ACTS[number - 1]
        self.say(f"\n━━ Act {number}/{len(ACTS)} · {title} ━━")
        try:
            yield
        except MovieDirectorError:
            self.say(f"✗ Act {number} ({title}) failed.")
            raise
        except Exception as exc:
            self.say(f"✗ Act {number} ({title}) failed.")
            raise map_exception(exc, service="The demo") from exc


# -- act 1: start ------------------------------------------------------------------------


def _launch(kind: str, workdir: Path, litellm_key: str) -> ServerProcess:
    """Start one embedded backend on a free loopback port (blocks until it answers)."""
    if kind == "comfyui":
        from movie_director_testing.comfyui_standin import launch

        return launch(base_dir=str(workdir / "comfyui"), **COMFYUI_OPTIONS).start()
    if kind == "wan2gp":
        from movie_director_testing.gradio_apps import launch_wan2gp_webui

        return launch_wan2gp_webui(**WAN2GP_OPTIONS)
    from movie_director_testing.litellm_proxy import launch_litellm_proxy

    return launch_litellm_proxy(master_key=litellm_key)


def check_server_envs() -> None:
    """Fail at once when a server environment is missing, rather than build it for minutes inside a start-up deadline."""
    from movie_director_testing import envs
    from movie_director_testing.gradio_apps import WAN2GP_WEBUI

    missing = [name for name in (WAN2GP_WEBUI.env, "litellm") if not envs.is_built(name)]
    if missing:
        command = f"python -m movie_director_testing.envs build {' '.join(missing)}"
        raise SettingsError(
            f"The demo's server environments are not built yet ({', '.join(missing)}).",
            hints=[f"Build them once (a few minutes, from the package registry): {command}", "Or run the demo as the README says: tox -e demo builds them first."],
            fix=Fix("Build the server environments", "server environments", missing, command=command),
        )


def start_local_backends(console: Console, stack: ExitStack, workdir: Path) -> LocalBackends:
    """Start the three backends in parallel, saying what happens meanwhile.

    Their clean-up is registered on ``stack`` before the first one starts, so an
    interrupted start-up still stops every server (after it finished starting).
    """
    check_server_envs()
    key = "sk-demo-" + secrets.token_urlsafe(12)
    pool = ThreadPoolExecutor(max_workers=len(KINDS), thread_name_prefix="md-demo-start")
    futures = {kind: pool.submit(_launch, kind, workdir, key) for kind in KINDS}
    pool.shutdown(wait=False)
    stack.callback(_stop_started, console, futures)
    for kind in KINDS:
        console.say(f"… starting the {LABELS[kind]}")
    started = time.monotonic()
    waiting = dict(futures)
    while waiting:
        elapsed = time.monotonic() - started
        if elapsed > START_TIMEOUT:
            raise OperationTimeout(f"The {', '.join(LABELS[kind] for kind in waiting)} did not start within {START_TIMEOUT:g} s.")
        done, _ = wait(waiting.values(), timeout=START_NOTICE_EVERY, return_when=FIRST_COMPLETED)
        for kind in [kind for kind, future in waiting.items() if future in done]:
            server = _started(console, kind, waiting.pop(kind))
            console.say(f"✓ {LABELS[kind]} ready at {server.url} ({time.monotonic() - started:.1f} s)")
        if waiting and not done:
            console.say(f"… still starting: {', '.join(LABELS[kind] for kind in waiting)} ({time.monotonic() - started:.0f} s)")
    return LocalBackends({kind: future.result() for kind, future in futures.items()}, key)


def _started(console: Console, kind: str, future: Future[ServerProcess]) -> ServerProcess:
    """The started server, or a typed error (after showing the server's last log lines)."""
    try:
        return future.result()
    except Exception as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        for line in lines[1:]:
            console.say(f"  | {line}")
        raise ServiceError(
            f"The {LABELS[kind]} did not start: {lines[0]}",
            service=LABELS[kind],
            hints=[
                "Build the server environments first: python -m movie_director_testing.envs build (tox -e demo does it).",
                "Its last log lines are shown above.",
            ],
            cause=exc,
        ) from exc


def _stop_started(console: Console, futures: Mapping[str, Future[ServerProcess]]) -> None:
    """Stop every server that started (waiting for ones still starting), then check their ports are free."""
    stopped = []
    for kind, future in futures.items():
        if not future.done():
            console.say(f"… waiting for the {LABELS[kind]} to finish starting, to stop it")
        try:
            server = future.result(timeout=START_TIMEOUT)
        except Exception:  # noqa: BLE001 - it never started, so there is nothing to stop
            continue
        server.stop()
        Path(server.log_path).unlink(missing_ok=True)
        stopped.append(server)
    still_open = [server.url for server in stopped if port_accepts(server.host, server.port)]
    if still_open:
        console.say(f"✗ still answering after the stop: {', '.join(still_open)}")
    elif stopped:
        console.say(f"✓ stopped everything the demo started: {', '.join(f'{s.name} (port {s.port})' for s in stopped)}")




# -- act 2: discover ---------------------------------------------------------------------


def discover_backends(
    console: Console, ports: list[int], auth: Mapping[str, AuthRef], expected: Mapping[int, str] | None = None
) -> list[DiscoveryResult]:
    """Scan only ``ports`` on loopback; with ``expected`` (port → kind), each must be recognised as that kind.

    ``auth`` (kind → key reference) lets discovery read a found proxy's models.
    """
    started = time.monotonic()
    results = discover(
        (LOOPBACK,),
        ports,
        include_default_ports=False,
        timeout=DISCOVERY_TIMEOUT,
        auth=auth,
        on_result=lambda result: console.say(format_row(result)),
        on_capabilities=lambda result: console.say(format_capabilities(result)),
    )
    console.say(f"{sum(r.recognized for r in results)} service(s) identified in {time.monotonic() - started:.1f} s ({len(ports)} ports scanned).")
    found = {_port_of(result.url): result.kind for result in results if result.recognized}
    for port, kind in (expected or {}).items():
        if found.get(port) != kind:
            raise ServiceError(
                f"Discovery did not recognise the {LABELS[kind]} on port {port} (found: {found.get(port, 'nothing')}).",
                hints=[f"Run `movie-director discover --ports {port}` to see what answers there."],
            )
    return results


def _port_of(url: str) -> int:
    return urlsplit(url).port or 0


# -- act 3: connect ----------------------------------------------------------------------


def demo_config(workdir: Path, found: Mapping[str, DiscoveryResult], litellm_key: str) -> Config:
    """A configuration of exactly the services discovery found, blind to the artist's own.

    The found services are written as ``discover`` would adopt them, into a temporary
    config file; the environment layer is built here instead of read from ``os.environ``.
    So the artist's config file, variables and data dir are never read or written, and
    only the demo's kinds get built-in defaults. The key's value must also be in
    ``os.environ`` (see :func:`exported`): the service keeps only a reference to it.
    """
    services = {name: {**service_entry(result), **DEMO_SERVICE_SETTINGS} for name, result in found.items()}
    file = workdir / "demo-config.json"
    file.write_text(json.dumps({"version": 1, "services": services}), encoding="utf-8")
    environ = {KEY_ENV: litellm_key, "MOVIE_DIRECTOR_DATA_DIR": str(workdir / "data")}
    backends = get_plugin_manager().backends
    return load_config(environ=environ, file=file, kinds={kind: backends[kind] for kind in KINDS})


def connect(console: Console, stack: ExitStack, config: Config, allow_remote: bool) -> ServiceManager:
    """Start the manager, wait (bounded) for the first check of every service, show the live table."""
    manager = stack.enter_context(ServiceManager(config, allow_remote=allow_remote))
    if not manager.wait_checked(CHECK_TIMEOUT):
        console.say(f"… not every service answered its first check within {CHECK_TIMEOUT:g} s; going on with those that did.")
    console.say(f"queue and health history: {database_path(config.data_dir)}")
    watch(manager, interval=0.5, duration=STATUS_WATCH, as_json=False, stream=console.stream)
    return manager


def answering(snapshot: SystemSnapshot, kind: str) -> str | None:
    """The first connected service of ``kind``, by name."""
    return next((s.name for s in snapshot.services if s.kind == kind and s.state == "connected"), None)


# -- act 4: one job on each backend -------------------------------------------------------


def first_checkpoint(object_info: Mapping[str, Any]) -> str | None:
    """A checkpoint the server lists, when it also has the nodes of a small text-to-image chain."""
    needed = ("CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode")
    if not all(name in object_info for name in needed):
        return None
    spec = object_info["CheckpointLoaderSimple"].get("input", {}).get("required", {}).get("ckpt_name", [[]])
    names = spec[0] if spec and isinstance(spec[0], list) else []
    return names[0] if names else None


def demo_workflow(prefix: str, seed: int, checkpoint: str | None = None) -> dict[str, Any]:
    """EmptyImage → ImageInvert → SaveImage, plus checkpoint → KSampler → VAEDecode → SaveImage when a checkpoint is given.

    The seed changes the colour and the sampler's noise, so two jobs never share a cached result.
    """
    graph: dict[str, Any] = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 144, "batch_size": 1, "color": (seed * 2654435761) % 0xFFFFFF}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"{prefix}-inverted"}},
    }
    if checkpoint:
        graph |= {
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
            "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk, film still", "clip": ["4", 1]}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
            "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 256, "height": 144, "batch_size": 1}},
            "8": {"class_type": "KSampler", "inputs": {
                "model": ["4", 0], "seed": seed, "steps": SAMPLER_STEPS, "cfg": 7.0, "sampler_name": "euler",
                "scheduler": "normal", "positive": ["5", 0], "negative": ["6", 0], "latent_image": ["7", 0], "denoise": 1.0,
            }},  # fmt: skip
            "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["4", 2]}},
            "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": f"{prefix}-sampled"}},
        }
    return graph


def follow_and_download(job: Job, out_dir: Path, timeout: float) -> list[Path]:
    """Progress bar until the job ends (its error raised), then its files into ``out_dir``."""
    printer = ProgressPrinter()
    try:
        follow(job, printer, timeout)
    except BaseException:
        printer.finish()
        raise
    return job.download(out_dir)


def comfyui_job(console: Console, manager: ServiceManager, name: str, out_dir: Path, timeout: float, sampler: bool = True) -> dict[str, Any]:
    """One workflow through a pooled connection; its PNGs land in ``out_dir``."""
    with manager.acquire(name) as connection:
        client = cast(ComfyUIClient, connection)
        checkpoint = first_checkpoint(client.object_info()) if sampler else None
        workflow = demo_workflow("md-demo", seed=1, checkpoint=checkpoint)
        job = client.submit(workflow)
        chain = "EmptyImage → ImageInvert → SaveImage" + (f", and {checkpoint} → KSampler ({SAMPLER_STEPS} steps) → VAEDecode → SaveImage" if checkpoint else "")
        console.say(f"ComfyUI: queued prompt {job.prompt_id}: {chain}")
        files = follow_and_download(job, out_dir, timeout)
    console.files(files)
    return {"service": name, "prompt_id": job.prompt_id, "files": [str(path) for path in files]}


def demo_video() -> Wan2GPSettings:
    """A short, cheap generation: few frames, few steps."""
    return Wan2GPSettings(prompt="a paper boat drifting down a rainy street, cinematic", resolution="832x480", video_length=17, num_inference_steps=6, seed=42)


def wan2gp_job(console: Console, manager: ServiceManager, name: str, out_dir: Path, timeout: float) -> dict[str, Any]:
    """One short video through the backend's transport; it lands in ``out_dir``."""
    backend = cast(Wan2GPBackend, get_plugin_manager().backend("wan2gp"))
    settings = demo_video()
    printer = ProgressPrinter()
    console.say(f"Wan2GP: {settings.video_length} frames at {settings.resolution}, {settings.num_inference_steps} steps: {settings.prompt!r}")
    with manager.acquire(name) as connection:
        try:
            result = backend.generate(cast(Wan2GPTransport, connection), settings, out_dir, on_progress=printer, timeout=timeout)
        except BaseException:
            printer.finish()
            raise
    console.files(result.files)
    return {"service": name, "transport": result.transport, "files": [str(path) for path in result.files], "elapsed_s": round(result.elapsed_s, 2)}


def llm_job(console: Console, manager: ServiceManager, name: str, model: str | None) -> dict[str, Any]:
    """One streamed answer, printed as it arrives."""
    console.say(f"LiteLLM: {LLM_PROMPT!r} → {model or 'the service’s default model'}")
    with manager.acquire(name) as connection:
        client = cast(LiteLLMClient, connection)
        started = time.perf_counter()
        first_token_ms: float | None = None
        with client.stream_chat(LLM_PROMPT, model, max_tokens=200) as stream:
            console.write("  ")
            for delta in stream:
                first_token_ms = first_token_ms or (time.perf_counter() - started) * 1000
                console.write(delta)
            result = stream.result()
    console.say()
    console.say(f"  {llm_summary(result)}" + (f" · first token after {first_token_ms:.0f} ms" if first_token_ms else ""))
    return {"service": name, **result.to_dict(), "time_to_first_token_ms": round(first_token_ms or 0.0, 1)}


# -- act 5: outage -------------------------------------------------------------------------


def watch_until(console: Console, manager: ServiceManager, predicate: Callable[[], object], timeout: float, what: str, since: float) -> None:
    """Print the manager's events while waiting for ``predicate``; OperationTimeout at the deadline."""

    def check() -> object:
        console.events(manager.drain_events(), since)
        return predicate()

    try:
        wait_until(check, timeout, interval=0.05, message=what)
    except TimeoutError as exc:
        raise OperationTimeout(f"The demo waited {timeout:g} s for this, in vain: {what}.", hints=["Run it again with -v to see the manager's log."]) from exc


def outage(console: Console, manager: ServiceManager, server: ServerProcess, out_dir: Path, timeout: float) -> dict[str, Any]:
    """Kill ComfyUI, queue jobs while it is down, restart it, and prove each ran exactly once."""
    name = "comfyui"

    def state() -> str:
        return manager.snapshot().service(name).state

    killed_at, killed_wall = time.monotonic(), time.time()
    console.events(manager.drain_events(), killed_wall)  # what happened since act 3, at negative times
    server.kill()
    console.say(f"✗ killed the ComfyUI stand-in (SIGKILL, port {server.port}); the manager checks it every second:")
    watch_until(console, manager, lambda: state() != "connected", DETECT_TIMEOUT, "the manager noticing ComfyUI is gone", killed_wall)
    detected_s = time.monotonic() - killed_at

    keys = [f"demo-{secrets.token_hex(4)}-{n}" for n in range(1, QUEUED_JOBS + 1)]
    handles = [manager.submit(name, SUBMIT, {"workflow": demo_workflow(f"md-demo-queued-{n}", seed=100 + n)}, idempotency_key=key) for n, key in enumerate(keys, 1)]
    console.say(f"→ submitted {QUEUED_JOBS} ComfyUI jobs while it is down: {', '.join(f'#{h.id} {h.state.value}' for h in handles)}")
    console.say(f"  persisted in {database_path(manager.config.data_dir)} ({manager.queue.depth(name)} waiting)")
    console.write(render(manager.snapshot()))

    restart_started = time.monotonic()
    server.start()
    restarted_s = time.monotonic() - restart_started
    console.say(f"↻ restarted the ComfyUI stand-in on port {server.port} in {restarted_s:.1f} s")
    watch_until(console, manager, lambda: state() == "connected", RECONNECT_TIMEOUT, "the manager reconnecting to ComfyUI", killed_wall)
    reconnected_s = time.monotonic() - restart_started - restarted_s

    results = []
    deadline = time.monotonic() + timeout
    for handle in handles:
        results.append(handle.wait(max(0.0, deadline - time.monotonic())))
    console.events(manager.drain_events(), killed_wall)
    prompt_ids = [result["prompt_id"] for result in results]
    files: list[str] = []
    with manager.acquire(name) as connection:
        client = cast(ComfyUIClient, connection)
        for prompt_id in prompt_ids:
            files += [str(path) for path in follow_and_download(client.attach(prompt_id), out_dir, max(1.0, deadline - time.monotonic()))]
        numbers = sent_once_in_order(client, prompt_ids)
    console.say(f"✓ the {QUEUED_JOBS} queued jobs ran exactly once, in order (ComfyUI's prompt numbers since the restart: {numbers})")
    console.files(files)
    return {
        "detected_after_s": round(detected_s, 2),
        "restart_s": round(restarted_s, 2),
        "reconnected_after_s": round(reconnected_s, 2),
        "queued": len(handles),
        "completed": len(results),
        "prompt_ids": prompt_ids,
        "files": files,
    }


def sent_once_in_order(client: ComfyUIClient, prompt_ids: list[str]) -> list[int]:
    """ComfyUI numbers every prompt it receives from 0 after a restart: ours must be exactly 0, 1, 2…"""
    history = client.get_json("/history", "the history")
    numbers = {prompt_id: entry["prompt"][0] for prompt_id, entry in history.items()}
    if sorted(numbers) != sorted(prompt_ids) or [numbers[p] for p in prompt_ids] != list(range(len(prompt_ids))):
        raise ServiceError(
            f"ComfyUI received {len(numbers)} prompt(s) since its restart, not each of the {len(prompt_ids)} queued jobs once and in order.",
            details={"history": numbers, "queued": prompt_ids},
        )
    return [numbers[p] for p in prompt_ids]


# -- act 6: summary ------------------------------------------------------------------------


def health_summary(console: Console, snapshot: SystemSnapshot) -> dict[str, dict[str, Any]]:
    """Average and p95 latency, uptime and success rate per service, from the manager's history."""
    rows, data = [], {}
    for service in snapshot.services:
        history = service.history
        rows.append([
            service.name,
            service.status,
            str(history.samples),
            _ms(history.latency_avg_ms),
            _ms(history.latency_p95_ms),
            "-" if history.uptime_pct is None else f"{history.uptime_pct:.1f} %",
            "-" if history.success_rate is None else f"{100 * history.success_rate:.1f} %",
        ])  # fmt: skip
        data[service.name] = {"url": service.url, "status": service.status, **history.to_dict()}
    table(rows, ["service", "status", "checks", "avg latency", "p95 latency", "uptime", "success rate"], console.stream)
    console.say(f"system: {snapshot.status}")
    return data


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


# -- the whole run -------------------------------------------------------------------------


@contextmanager
def _uninterruptible() -> Iterator[None]:
    """A second Ctrl-C (or a SIGTERM) must not stop the clean-up halfway and leave servers running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(options: DemoOptions, stream: TextIO | None = None, backends: LocalBackends | None = None) -> DemoReport:
    """Play every act; stop everything started, whatever happens (raises the failing act's error).

    ``backends`` lets a caller supply already running embedded servers (they are killed
    and restarted, never stopped); by default the demo starts its own.
    """
    console = Console(stream or sys.stdout)
    options = replace(options, out_dir=options.out_dir.resolve())
    report = DemoReport(mode="real" if options.real else "embedded")
    started = time.monotonic()
    stack = ExitStack()
    try:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="md-demo-")))
        configure_logging(workdir / "data")  # the demo's log stays with its data, out of the artist's
        stack.callback(reset_logging)
        if options.real:
            manager = _real_services(console, stack, report)
        else:
            manager, backends = _embedded_services(console, stack, workdir, report, backends)
        report.timings_s["ready"] = round(time.monotonic() - started, 2)
        _jobs(console, manager, options, report)
        with console.act(5):
            if backends is None:
                console.say("skipped with --real: the demo never kills a service it did not start.")
            else:
                report.outage = outage(console, manager, backends.servers["comfyui"], options.out_dir / "comfyui", options.job_timeout)
        with console.act(6):
            report.health = health_summary(console, manager.snapshot())
    finally:
        with _uninterruptible():
            stack.close()
    report.timings_s["total"] = round(time.monotonic() - started, 2)
    console.say(f"\nDemo finished in {report.timings_s['total']:.0f} s; outputs in {options.out_dir}")
    return report


def _embedded_services(
    console: Console, stack: ExitStack, workdir: Path, report: DemoReport, backends: LocalBackends | None
) -> tuple[ServiceManager, LocalBackends]:
    with console.act(1):
        if backends is None:
            backends = start_local_backends(console, stack, workdir)
        else:
            console.say("using servers that are already running: " + ", ".join(s.url for s in backends.servers.values()))
        report.servers = {kind: server.url for kind, server in backends.servers.items()}
    stack.enter_context(exported(KEY_ENV, backends.litellm_key))
    register_secret(backends.litellm_key)
    with console.act(2):
        expected = {server.port: kind for kind, server in backends.servers.items()}
        results = discover_backends(console, backends.ports, {"litellm": AuthRef(KEY_ENV)}, expected)
        report.discovered = [result.to_row() for result in results]
    with console.act(3):
        config = demo_config(workdir, {result.kind: result for result in results if result.recognized}, backends.litellm_key)
        manager = connect(console, stack, config, allow_remote=False)
        watch_until(console, manager, lambda: all(answering(manager.snapshot(), kind) for kind in KINDS), CHECK_TIMEOUT, "every service connected", time.time())
    return manager, backends


def _real_services(console: Console, stack: ExitStack, report: DemoReport) -> ServiceManager:
    with console.act(1, "Use the configured services"):
        config = load_config()
        services = config.enabled_services()
        for service in services:
            console.say(f"• {service.name:<10} {service.kind:<8} {service.url}")
        if not services:
            raise ServiceError("No service is enabled in your configuration.", hints=["Run `movie-director discover`, or run the demo without --real."])
    with console.act(2):
        ports = sorted({service.port for service in services if service.is_loopback})
        if ports:
            report.discovered = [result.to_row() for result in discover_backends(console, ports, auth_by_kind(services))]
    with console.act(3):
        manager = connect(console, stack, config, allow_remote=True)
        if not any(answering(manager.snapshot(), kind) for kind in KINDS):
            raise ServiceError("None of your configured ComfyUI, Wan2GP or LiteLLM services answers.", hints=["Start one, then run `movie-director status` to check."])
    return manager


def _jobs(console: Console, manager: ServiceManager, options: DemoOptions, report: DemoReport) -> None:
    with console.act(4):
        snapshot = manager.snapshot()
        runners: dict[str, Callable[[str], dict[str, Any]]] = {
            "comfyui": lambda name: comfyui_job(console, manager, name, options.out_dir / "comfyui", options.job_timeout, sampler=not options.real),
            "wan2gp": lambda name: wan2gp_job(console, manager, name, options.out_dir / "wan2gp", options.job_timeout),
            "litellm": lambda name: llm_job(console, manager, name, None if options.real else LLM_MODEL),
        }
        for kind, runner in runners.items():
            name = answering(snapshot, kind)
            if name is None:
                report.skipped[kind] = "no configured service of this kind answers"
                console.say(f"– {kind}: skipped, no configured service of this kind answers")
                continue
            report.jobs[kind] = runner(name)


__all__ = [
    "ACTS",
    "Console",
    "DemoOptions",
    "DemoReport",
    "LocalBackends",
    "answering",
    "check_server_envs",
    "comfyui_job",
    "connect",
    "demo_config",
    "demo_video",
    "demo_workflow",
    "discover_backends",
    "exported",
    "first_checkpoint",
    "follow_and_download",
    "health_summary",
    "llm_job",
    "outage",
    "run",
    "sent_once_in_order",
    "start_local_backends",
    "wan2gp_job",
    "watch_until",
]
