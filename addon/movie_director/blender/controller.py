"""The add-on's main-thread dispatcher, without ``bpy``: the core's owner and the UI's source.

Blender's timer calls :meth:`Controller.poll` (see ``runtime.py``); tests call it by hand,
because timers never fire while a script blocks. Every slow thing runs on a worker:

- the :class:`~movie_director.manager.ServiceManager` is built and started on a worker
  (config files, the SQLite queue) and closed on a worker (it joins its check threads);
- the Test button (:func:`~movie_director.check.check_service`), Discover, diagnostics,
  manual reconnect, imports, exports and profile files are jobs on a small pool.

Workers see only frozen values (:class:`~movie_director.blender.settings.UISettings`,
paths, the manager) and answer through one :class:`queue.Queue`. A job that raises
answers with a typed error; a job that overruns its deadline is failed by :meth:`poll`
itself, so nothing sits on "Starting…" after its thread died or hung. Every failure
becomes a notification.
"""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from movie_director import events as ev
from movie_director.blender.jobboard import JobBoard
from movie_director.blender.notifications import NotificationCenter, Severity
from movie_director.blender.profiles import ProfileStore
from movie_director.blender.settings import (
    ServiceSettings,
    UISettings,
    apply_preset,
    default_services,
    document_text,
    key_variable,
    settings_from_document,
    settings_from_profile,
)
from movie_director.blender.view import RANGES, RangeStats, ServiceRow, llm_line, metric_lines, range_stats, service_row, traffic_light
from movie_director.configdata import PRESETS, Config, Source
from movie_director.configfile import write_atomic
from movie_director.errors import MovieDirectorError, OperationTimeout, map_exception
from movie_director.registry import service_name

log = logging.getLogger(__name__)

#: How often the timer runs: often enough that an event shows within 100 ms.
POLL_INTERVAL = 0.1
#: How often the rows are refreshed from a snapshot when nothing happened (ages, countdowns).
REFRESH_INTERVAL = 1.0
#: How often the dashboard's range statistics are recomputed.
DASHBOARD_INTERVAL = 2.0
#: Deadlines of the jobs (seconds); a job past its deadline is reported as failed.
BUILD_TIMEOUT = 30.0
CHECK_MARGIN = 5.0
DISCOVERY_TIMEOUT = 30.0
JOB_TIMEOUT = 30.0

AUTO_CONNECT_OFF = "Auto-connect is off for this file: press Refresh to connect."

STOPPED = "stopped"
STARTING = "starting"
RUNNING = "running"
FAILED = "failed"


# -- jobs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackgroundJob:
    id: int
    kind: str
    key: str
    label: str
    deadline: float
    #: Called with a result nobody waits for any more (a manager built for old settings).
    discard: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class JobResult:
    job: BackgroundJob
    value: Any = None
    error: MovieDirectorError | None = None


#: What the jobs import on first use: the core, the plugins, and through them the HTTP stack.
JOB_MODULES = ("requests", "movie_director.manager", "movie_director.check", "movie_director.discovery", "movie_director.doctor")


def import_job_modules() -> None:
    """Import what the jobs need on one thread, before any job runs.

    Blender 4.2 LTS bundles urllib3 1.26.8, whose vendored ``six`` hooks the import system;
    first imports racing on several workers there deadlocked for good (the build, a
    Test-connection and the diagnostics, started together by a file's load). Loaded once,
    later imports only look them up. A failure here is left to the job that needs the module.
    """
    try:
        for name in JOB_MODULES:
            importlib.import_module(name)
        from movie_director.plugins import get_plugin_manager

        get_plugin_manager()
    except Exception:  # noqa: BLE001 - the job importing it reports the real error to the artist
        log.debug("importing the job modules failed", exc_info=True)


class Jobs:
    """A bounded worker pool whose results come back through one queue, drained by the timer."""

    def __init__(self, workers: int = 4, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="md-ui")
        self._imported = self._executor.submit(import_job_modules)
        self._results: queue.Queue[JobResult] = queue.Queue()
        self._ids = itertools.count(1)
        self._monotonic = monotonic
        self.active: dict[int, BackgroundJob] = {}

    def start(self, kind: str, key: str, label: str, function: Callable[..., Any], *args: Any, timeout: float = JOB_TIMEOUT, discard: Callable[[Any], None] | None = None) -> BackgroundJob:
        job = BackgroundJob(next(self._ids), kind, key, label, self._monotonic() + timeout, discard)
        self.active[job.id] = job
        self._executor.submit(self._run, job, function, args)
        return job

    def _run(self, job: BackgroundJob, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Worker thread: always answers, whatever happens (never touches ``bpy``)."""
        try:
            self._imported.result()
            result = JobResult(job, function(*args))
        except MovieDirectorError as error:
            result = JobResult(job, error=error)
        except BaseException as exc:  # noqa: BLE001 - the UI must hear about every failure
            log.exception("%s failed", job.label)
            result = JobResult(job, error=map_exception(exc, service=job.key or None))
        self._results.put(result)

    def running(self, kind: str, key: str = "") -> bool:
        return any(job.kind == kind and job.key == key for job in self.active.values())

    def drain(self) -> list[JobResult]:
        """Finished jobs, and jobs past their deadline as failures (main thread, never blocks)."""
        finished = []
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                break
            if self.active.pop(result.job.id, None) is not None:
                finished.append(result)
            elif result.job.discard is not None and result.value is not None:
                result.job.discard(result.value)
        now = self._monotonic()
        for job in [job for job in self.active.values() if now > job.deadline]:
            del self.active[job.id]
            error = OperationTimeout(f"{job.label} did not finish in time; it was given up.", service=job.key or None, hints=["Try again; if it keeps happening, run the diagnostics in the add-on's preferences."])
            finished.append(JobResult(job, error=error))
        return finished

    def close(self) -> None:
        """Wait for running jobs, then hand what they produced to their ``discard``."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.active.clear()
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                return
            if result.job.discard is not None and result.value is not None:
                result.job.discard(result.value)


# -- what the panels read ----------------------------------------------------------------


@dataclass(frozen=True)
class CheckOutcome:
    """The Test button's answer for one service."""

    state: str  # running | ok | failed
    message: str = ""
    hints: tuple[str, ...] = ()
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class DashboardRow:
    name: str
    label: str
    stats: RangeStats
    lines: tuple[str, ...]


@dataclass(frozen=True)
class SettingsUpdate:
    """New settings for the preferences, produced off the main thread (import, profile, discovery)."""

    settings: UISettings
    reason: str


@dataclass
class Poll:
    """What one :meth:`Controller.poll` changed."""

    rows_changed: bool = False
    updates: list[SettingsUpdate] = field(default_factory=list)
    #: Something visible changed (rows, jobs, notifications): redraw the panels.
    redraw: bool = False


# -- work done on workers (module functions: they never see bpy or the controller) -------


@dataclass(frozen=True)
class Built:
    """What the build job hands back: the config in force, the started manager, the defaults."""

    config: Config
    manager: Any
    defaults: UISettings
    #: Every installed kind: (kind, display name, default URL or "").
    kinds: tuple[tuple[str, str, str], ...] = ()


def build_manager(layer: Mapping[str, Any], online_access: bool) -> Built:
    from movie_director.config import load_config
    from movie_director.manager import ServiceManager
    from movie_director.plugins import get_plugin_manager

    plugins = get_plugin_manager()
    config = load_config(ui=layer, kinds=plugins.backends)
    manager = ServiceManager(config, plugins, allow_remote=online_access)
    try:
        manager.start()
    except BaseException:
        manager.close()
        raise
    kinds = tuple((kind, backend.display_name or kind, backend.default_url) for kind, backend in sorted(plugins.backends.items()))
    return Built(config, manager, UISettings(tuple(default_services(plugins.backends))), kinds)


def close_manager(manager: Any) -> None:
    manager.close()


def check_one_service(settings: ServiceSettings, effective_url: str, online_access: bool, data_dir: Path) -> Any:
    """Check one service with exactly the settings the artist sees (URL, timeout, key variable)."""
    from movie_director.check import adhoc_service, check_service
    from movie_director.configdata import AuthRef

    auth = AuthRef(settings.auth_env) if settings.auth_env else None
    service = replace(adhoc_service(effective_url, settings.kind, timeout=settings.timeout, auth=auth), name=settings.name)
    config = Config({settings.name: service}, "Local", ("Local",), None, data_dir)
    return check_service(settings.name, kind=settings.kind, timeout=min(settings.timeout, 5.0), config=config, allow_remote=online_access)


def run_discovery(online_access: bool, auth: Mapping[str, Any], ports: Sequence[int]) -> Any:
    from movie_director.discovery import discover

    return discover(ports=ports, allow_network=online_access, with_capabilities=False, auth=auth)


def run_doctor(online_access: bool, layer: Mapping[str, Any] | None) -> Any:
    from movie_director import doctor

    return doctor.run(online_access=online_access, ui=layer)


def export_metrics(manager: Any, path: Path, fmt: str, range_key: str, now: float) -> tuple[Path, int]:
    """Write every service's history of one range as CSV or JSON; returns (path, rows)."""
    resolution = RANGES[range_key][0]
    path.parent.mkdir(parents=True, exist_ok=True)
    names = manager.service_names
    if fmt == "CSV":
        import io

        rows, stream = 0, io.StringIO()
        for index, name in enumerate(names):
            part = io.StringIO()
            rows += manager.history(name).export_csv(part, resolution)
            lines = part.getvalue().splitlines(keepends=True)
            stream.writelines(lines if index == 0 else lines[1:])
        write_atomic(path, stream.getvalue())
        return path, rows
    document: dict[str, Any] = {"range": range_key, "exported_at": now, "services": [manager.history(name).export_json(now) for name in names]}
    write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path, sum(len(service["resolutions"][str(int(resolution))]) for service in document["services"])


def read_settings(path: Path) -> UISettings:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        from movie_director.errors import InvalidConfigError

        raise InvalidConfigError(f"{path} cannot be read as JSON: {exc}.", hints=["Choose a file exported from the add-on or a JSON config file."], cause=exc) from exc
    return settings_from_document(data, str(path))


def write_text(path: Path, text: str) -> Path:
    write_atomic(path, text)
    return path


def merge_discovered(current: UISettings, results: Iterable[Any], connected: set[str]) -> tuple[UISettings, list[str]]:
    """Fill in found services: a service of that kind that is not connected takes the found
    URL; otherwise the found one is added under a free name. Returns the settings and what changed."""
    services = list(current.services)
    notes: list[str] = []
    claimed: set[str] = set()
    for result in results:
        if not result.recognized:
            continue
        url = result.url.rstrip("/")
        if any(service.kind == result.kind and service.url.rstrip("/") == url for service in services):
            continue
        index = next((i for i, service in enumerate(services) if service.kind == result.kind and service.name not in connected and service.name not in claimed), None)
        if index is not None:
            services[index] = replace(services[index], url=url, enabled=True)
            claimed.add(services[index].name)
            notes.append(f"{services[index].name} → {url}")
        else:
            name = service_name(result.kind, url, [service.name for service in services])
            services.append(ServiceSettings(name=name, kind=result.kind, url=url))
            claimed.add(name)
            notes.append(f"added {name} ({url})")
    return replace(current, services=tuple(services)), notes


# -- the controller --------------------------------------------------------------------------


class Controller:
    """Owns the ServiceManager and every background job; main thread only (see module doc)."""

    def __init__(
        self,
        profiles: ProfileStore,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        builder: Callable[[Mapping[str, Any], bool], Built] = build_manager,
        job_workers: int = 4,
    ) -> None:
        self.profiles = profiles
        self.wall_clock = wall_clock
        self.monotonic = monotonic
        self.builder = builder
        self.jobs = Jobs(job_workers, monotonic)
        #: Generation jobs (workflows, videos, LLM answers): no deadline, Cancel instead.
        self.board = JobBoard(clock=wall_clock)
        self.notifications = NotificationCenter(clock=wall_clock)
        self.state = STOPPED
        self.state_message = "Not connected yet."
        self.config: Config | None = None
        self.manager: Any = None
        self.system_status = "unknown"
        self.rows: list[ServiceRow] = []
        self.dashboard: list[DashboardRow] = []
        self.dashboard_range = "5M"
        self.llm: tuple[str, str] = ("INFO", "LLM — not checked yet")
        self.tests: dict[str, CheckOutcome] = {}
        self.discovery: CheckOutcome | None = None
        self.doctor_findings: list[dict[str, Any]] = []
        self.doctor_state = ""
        self.profile_names: list[str] = []
        #: Each video service's own model list (read by ``list_video_models``).
        self.video_models: dict[str, list[str]] = {}
        #: The installed kinds' default services (known after the first build).
        self.defaults = UISettings()
        self.kinds: tuple[tuple[str, str, str], ...] = ()
        self._applied: tuple[UISettings, bool] | None = None
        self._build: BackgroundJob | None = None
        self._retiring: list[threading.Thread] = []
        self._last_refresh = float("-inf")
        self._last_dashboard = float("-inf")
        self._snapshot: Any = None
        self._dirty = False
        self._closed = False

    # -- life cycle ------------------------------------------------------------------------

    def configure(self, settings: UISettings, online_access: bool, *, connect: bool = True) -> bool:
        """Use these settings: (re)build the manager when they changed. Returns True if it did.

        ``connect=False`` (a file saved with auto-connect off) stops the manager until
        :meth:`refresh`.
        """
        if self._closed:
            return False
        if not connect:
            if self.state == STOPPED and self.state_message == AUTO_CONNECT_OFF:
                return False
            self.stop(AUTO_CONNECT_OFF)
            return True
        if (settings, online_access) == self._applied and self.state != STOPPED:
            return False
        self._applied = (settings, online_access)
        self._start_build(settings, online_access)
        return True

    def adopt(self, settings: UISettings) -> None:
        """The preferences were filled with what is already in force (first start): no rebuild."""
        if self._applied is not None:
            self._applied = (settings, self._applied[1])

    def _start_build(self, settings: UISettings, online_access: bool) -> None:
        self._retire_manager()
        self._dirty = True
        self.state, self.state_message = STARTING, "Starting…"
        self._build = self.jobs.start("build", "", "Starting the connection manager", self.builder, settings.config_layer(), online_access, timeout=BUILD_TIMEOUT, discard=lambda built: self._retire(built.manager))

    def stop(self, message: str) -> None:
        self._retire_manager()
        self._build = None
        self.state, self.state_message = STOPPED, message
        self.rows, self.dashboard, self.system_status = [], [], "unknown"
        self._dirty = True

    def refresh(self, settings: UISettings, online_access: bool) -> None:
        """The Refresh button: check every service now (or connect, if not connected)."""
        if self.state == RUNNING and self._applied == (settings, online_access):
            for name in self.manager.service_names:
                self.manager.check_now(name)
            self._last_refresh = float("-inf")
            return
        self._applied = (settings, online_access)
        self._start_build(settings, online_access)

    def _retire_manager(self) -> None:
        if self.manager is not None:
            self._retire(self.manager)
        self.manager = None

    def _retire(self, manager: Any) -> None:
        """Close a manager on its own thread: closing joins check threads that may be mid-request."""
        thread = threading.Thread(target=close_manager, args=(manager,), name="md-retire", daemon=True)
        thread.start()
        self._retiring = [item for item in self._retiring if item.is_alive()] + [thread]

    def close(self) -> None:
        """Stop everything this controller started and join every thread (unregister)."""
        if self._closed:
            return
        self._closed = True
        self.board.close()
        self.jobs.close()
        if self.manager is not None:
            self.manager.close()
            self.manager = None
        for thread in self._retiring:
            thread.join()
        self._retiring.clear()
        self.state, self.state_message = STOPPED, "Closed."

    # -- the timer -------------------------------------------------------------------------

    def poll(self) -> Poll:
        """Take job results and core events, refresh what the panels show. Never blocks."""
        outcome = Poll()
        for result in self.jobs.drain():
            self._finish(result, outcome)
            outcome.redraw = True
        events = self.manager.drain_events() if self.manager is not None else []
        for event in events:
            self._notify(event)
        now = self.monotonic()
        if events or outcome.redraw or self._dirty or now - self._last_refresh >= REFRESH_INTERVAL:
            self._dirty = False
            self._refresh_rows(now)
            outcome.rows_changed = outcome.redraw = True
        if self.manager is not None and now - self._last_dashboard >= DASHBOARD_INTERVAL:
            self._refresh_dashboard(now)
        return outcome

    def set_dashboard_range(self, range_key: str) -> None:
        self.dashboard_range = range_key
        self._last_dashboard = float("-inf")
        self._dirty = True

    def touch(self) -> None:
        """Something the panels show changed on the main thread: copy it on the next poll."""
        self._dirty = True

    def invalidate(self) -> None:
        """Rebuild on the next :meth:`configure` even if the settings look the same (a key was set)."""
        self._applied = None

    def _refresh_rows(self, now: float) -> None:
        self._last_refresh = now
        if self.manager is None:
            self.rows, self.system_status, self._snapshot = [], "unknown", None
            return
        snapshot = self.manager.snapshot()
        self.system_status = snapshot.status
        self.rows = [service_row(service) for service in snapshot.services]
        self.llm = llm_line(snapshot.services, self._key_variables())
        self._snapshot = snapshot

    def _key_variables(self) -> dict[str, tuple[str, bool]]:
        found = {}
        for name, service in (self.config.services.items() if self.config else ()):
            variable = service.auth.env if service.auth else key_variable(name)
            found[name] = (variable, bool(os.environ.get(variable)))
        return found

    def _refresh_dashboard(self, now: float) -> None:
        self._last_dashboard = now
        snapshot = self._snapshot
        if snapshot is None:
            return
        resolution = RANGES[self.dashboard_range][0]
        wall = self.wall_clock()
        self.dashboard = [
            DashboardRow(service.name, service.display_name, range_stats(self.manager.history(service.name).buckets(resolution), wall, self.dashboard_range), tuple(metric_lines(service)))
            for service in snapshot.services
            if service.contacted
        ]

    @property
    def traffic_light(self) -> tuple[str, str]:
        if self.state != RUNNING:
            return ("COLORSET_01_VEC" if self.state == FAILED else "COLORSET_13_VEC"), self.state_message
        return traffic_light(self.system_status, self.rows)

    def source_of(self, name: str, key: str) -> Source | None:
        """Where the value in force of a service field came from (None before the first build)."""
        if self.config is None or name not in self.config.services:
            return None
        return self.config.services[name].source_of(key)

    def effective(self, name: str, key: str) -> Any:
        if self.config is None or name not in self.config.services:
            return None
        value = getattr(self.config.services[name], "auth" if key == "auth_env" else key)
        return value.env if key == "auth_env" and value is not None else value

    # -- buttons ---------------------------------------------------------------------------

    def test_connection(self, settings: ServiceSettings, online_access: bool) -> None:
        url = settings.url
        if (source := self.source_of(settings.name, "url")) is not None and source.layer in ("file", "env"):
            url = self.effective(settings.name, "url")
        self.tests[settings.name] = CheckOutcome("running", f"Testing {url}…")
        self._dirty = True
        data_dir = self.config.data_dir if self.config else Path.home()
        self.jobs.start("test", settings.name, f"Test of {settings.name}", check_one_service, settings, url, online_access, data_dir, timeout=settings.timeout + CHECK_MARGIN)

    def discover(self, online_access: bool, ports: Sequence[int] = ()) -> None:
        """Scan every installed kind's default ports (and ``ports``) on this computer."""
        if self.jobs.running("discover"):
            return
        from movie_director.configdata import auth_by_kind

        auth = auth_by_kind(self.config.services.values()) if self.config else {}
        self.discovery = CheckOutcome("running", "Looking for services on this computer…" if not online_access else "Looking for services…")
        self._dirty = True
        self.jobs.start("discover", "", "Discovery", run_discovery, online_access, auth, tuple(ports), timeout=DISCOVERY_TIMEOUT)

    def run_doctor(self, online_access: bool, settings: UISettings | None = None) -> None:
        """Diagnostics of the services set in Preferences (``settings``), on a worker."""
        if self.jobs.running("doctor"):
            return
        self.doctor_state, self.doctor_findings = "running", []
        self._dirty = True
        layer = settings.config_layer() if settings is not None else None
        self.jobs.start("doctor", "", "Diagnostics", run_doctor, online_access, layer, timeout=JOB_TIMEOUT)

    def reconnect(self, names: Sequence[str] = ()) -> int:
        """Manual reconnect of ``names`` (all when empty), on a worker; returns how many."""
        if self.manager is None:
            return 0
        names = list(names) or self.manager.service_names
        manager = self.manager

        def reconnect_all() -> None:
            for name in names:
                manager.reconnect_now(name)

        self.jobs.start("reconnect", ",".join(names), "Reconnect", reconnect_all)
        return len(names)

    def list_video_models(self, name: str) -> None:
        """Read a Wan2GP service's model list on a worker (the Generate panel's model menu)."""
        from movie_director.blender.generators import video_models

        if self.manager is not None and not self.jobs.running("video_models", name):
            self.jobs.start("video_models", name, f"Model list of {name}", video_models, self.manager, name)

    def export_metrics(self, path: Path, fmt: str) -> bool:
        if self.manager is None:
            self.notifications.add(Severity.WARNING, "Nothing to export: not connected yet.", type="export")
            return False
        self.jobs.start("export_metrics", str(path), "Metrics export", export_metrics, self.manager, path, fmt, self.dashboard_range, self.wall_clock())
        return True

    def import_settings(self, path: Path) -> None:
        self.jobs.start("import", str(path), "Settings import", read_settings, path)

    def export_settings(self, path: Path, settings: UISettings) -> None:
        self.jobs.start("export_settings", str(path), "Settings export", write_text, path, document_text(settings))

    def save_profile(self, name: str, settings: UISettings) -> None:
        self.jobs.start("save_profile", name, f"Saving profile {name}", self.profiles.save, name, settings.to_profile())

    def delete_profile(self, name: str) -> None:
        self.jobs.start("delete_profile", name, f"Deleting profile {name}", self.profiles.delete, name)

    def list_profiles(self) -> None:
        self.jobs.start("list_profiles", "", "Reading profiles", self.profiles.names)

    def load_profile(self, name: str, current: UISettings) -> SettingsUpdate | None:
        """A preset applies at once (no file); the artist's own profile is read on a worker."""
        if name in PRESETS:
            services = tuple(apply_preset(current.services, name))
            return SettingsUpdate(replace(current, services=services, active_profile=name), f"Preset {name} applied.")
        self.jobs.start("load_profile", name, f"Loading profile {name}", self._read_profile, name)
        return None

    def _read_profile(self, name: str) -> UISettings:
        return settings_from_profile(name, self.profiles.load(name), str(self.profiles.path_of(name)))

    # -- results (main thread) ---------------------------------------------------------------

    def _finish(self, result: JobResult, poll: Poll) -> None:
        job, error = result.job, result.error
        if job.kind == "build":
            self._finish_build(result)
        elif job.kind == "test":
            self._finish_test(job.key, result)
        elif job.kind == "discover":
            self._finish_discovery(result, poll)
        elif job.kind == "doctor":
            self.doctor_state = "failed" if error else ("ok" if result.value.ok else "problems")
            self.doctor_findings = [] if error else [finding.to_dict() for finding in result.value.findings]
            if error:
                self.notifications.add_error(error.to_dict(), title="Diagnostics failed")
        elif error is not None:
            self.notifications.add_error(error.to_dict())
        elif job.kind == "export_metrics":
            path, rows = result.value
            self.notifications.add(Severity.INFO, f"Exported {rows} rows to {path}.", type="export")
        elif job.kind == "export_settings":
            self.notifications.add(Severity.INFO, f"Settings exported to {result.value}.", type="export")
        elif job.kind == "import":
            poll.updates.append(SettingsUpdate(result.value, f"Settings imported from {job.key}."))
        elif job.kind == "load_profile":
            poll.updates.append(SettingsUpdate(result.value, f"Profile {job.key} applied."))
        elif job.kind in ("save_profile", "delete_profile"):
            verb = "saved" if job.kind == "save_profile" else "deleted"
            self.notifications.add(Severity.INFO, f"Profile {job.key} {verb}.", type="profile")
            self.list_profiles()
        elif job.kind == "list_profiles":
            self.profile_names = list(result.value)
        elif job.kind == "video_models":
            self.video_models[job.key] = list(result.value)

    def _finish_build(self, result: JobResult) -> None:
        if self._build is None or result.job.id != self._build.id:
            if result.value is not None:
                self._retire(result.value.manager)
            return
        self._build = None
        if result.error is not None:
            self.state, self.state_message = FAILED, result.error.message
            self.notifications.add_error(result.error.to_dict(), title="Cannot start the connections")
            return
        built = result.value
        self.config, self.manager, self.defaults, self.kinds = built.config, built.manager, built.defaults, built.kinds
        self.state, self.state_message = RUNNING, ""
        self._last_dashboard = float("-inf")

    def _finish_test(self, name: str, result: JobResult) -> None:
        report = result.value
        error = result.error or (report.error if report is not None else None)
        if error is not None:
            self.tests[name] = CheckOutcome("failed", error.message, tuple(error.hints))
            self.notifications.add_error(error.to_dict(), severity=Severity.WARNING, service=name)
            return
        version = f" {report.probe.version}" if report.probe.version else ""
        capabilities = f", {len(report.capabilities)} capabilities" if report.capabilities else ""
        self.tests[name] = CheckOutcome("ok", f"{report.kind}{version} answers at {report.url} ({report.elapsed_ms:.0f} ms{capabilities}).", elapsed_ms=report.elapsed_ms)

    def _finish_discovery(self, result: JobResult, poll: Poll) -> None:
        if result.error is not None:
            self.discovery = CheckOutcome("failed", result.error.message, tuple(result.error.hints))
            self.notifications.add_error(result.error.to_dict(), title="Discovery failed")
            return
        found = [item for item in result.value if item.recognized]
        current = self._applied[0] if self._applied else UISettings()
        connected = {row.name for row in self.rows if row.state in ("connected", "degraded")}
        merged, notes = merge_discovered(current, found, connected)
        described = ", ".join(f"{item.kind} {item.version} at {item.url}".replace("  ", " ") for item in found) or "nothing"
        self.discovery = CheckOutcome("ok", f"Found {described}." + (f" Changed: {'; '.join(notes)}." if notes else ""))
        if notes:
            poll.updates.append(SettingsUpdate(merged, "Discovery filled in: " + "; ".join(notes) + "."))

    def _notify(self, event: ev.Event) -> None:
        """Turn a status change into a notification the artist can act on."""
        label = next((row.label for row in self.rows if row.name == event.service), event.service or "")
        service = event.service or ""
        if event.kind == ev.STATE:
            if event.new == "connected" and event.old == "reconnecting":
                self.notifications.add(Severity.INFO, f"{label} is connected again.", service=service, type="reconnected")
            elif event.new == "disconnected" and event.error:
                self.notifications.add_error(event.error, severity=Severity.WARNING, service=service)
            elif event.new == "suspended":
                self.notifications.add(Severity.WARNING, f"Waiting for {label}: its work stays queued; press Reconnect to try at once.", service=service, type="suspended")
        elif event.kind == ev.STATUS and event.new == "offline" and event.error:
            self.notifications.add_error(event.error, service=service)
        elif event.kind == ev.OPERATION and event.new == "failed" and event.error:
            self.notifications.add_error(event.error, service=service, title=f"Operation {event.details.get('op_type', '')} failed")

__all__ = [
    "DASHBOARD_INTERVAL",
    "POLL_INTERVAL",
    "REFRESH_INTERVAL",
    "Controller",
    "DashboardRow",
    "BackgroundJob",
    "JobResult",
    "Jobs",
    "Poll",
    "SettingsUpdate",
    "CheckOutcome",
    "Built",
    "build_manager",
    "merge_discovered",
]
