"""``ServiceManager``: pools, health checks, reconnection and the operation queue, together.

The one object the CLI, the demo and the Blender layer hold::

    manager = ServiceManager(load_config(), allow_remote=bpy.app.online_access)
    manager.start()
    handle = manager.submit("comfyui", "comfyui.submit", {"workflow": graph})
    ...                                   # a bpy.app.timers tick:
    snapshot = manager.snapshot()         # immutable, never blocks on I/O
    for event in manager.drain_events():  # status / state / operation changes
        ...
    manager.close()                       # joins every thread it started

How the parts meet:

- Each enabled service gets a :class:`~movie_director.pool.ConnectionPool` of what its
  backend's ``connect`` returns, a :class:`~movie_director.health.HealthTracker`, a
  :class:`~movie_director.reconnect.Reconnector` and a
  :class:`~movie_director.history.ServiceHistory`.
- One :class:`~movie_director.health.HealthScheduler` runs the checks. While a service
  is connected the next check comes after its health interval; while not, after the
  reconnect backoff: the checks are the reconnect attempts.
- :class:`~movie_director.liveness.Liveness` holds each service's stream
  (``Backend.watch``) or polls its loopback port: a loss is seen at once, and a loopback
  service is checked the moment its port opens again instead of after the backoff.
- The breaker spaces connection attempts and never refuses work: ``submit`` queues
  while a service is down, reconnecting or suspended (up to ``queue_max``).
- Every submitted operation is first committed to the persisted queue, then run by one
  replay loop per service (on a bounded executor) while the service is connected, in
  order. A connection error puts the operation back at the head of the queue and
  triggers a check; the loop resumes when a check finds the service back.
- Services on other machines are never contacted when ``allow_remote`` is false
  (Blender passes ``bpy.app.online_access``): their snapshot says why.
- A service with several ``instances`` runs as one member per server (``comfyui#1``,
  ``comfyui#2``…), each with all of the above; work is submitted to the service and its
  one replay loop sends each operation to the ready member :func:`~movie_director.routing.pick`
  ranks best. An operation whose request never left (refused, unknown host) may move to
  another member; one that may have reached its server is held for that server (the
  queue records which took what) and never sent twice.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

from movie_director import events as ev
from movie_director.backend import Backend, Connection, HealthSample, Status
from movie_director.clock import SYSTEM_CLOCK, Clock
from movie_director.configdata import Config, ServiceConfig, member_configs
from movie_director.errors import (
    ConnectionLost,
    ConnectionProblem,
    ConnectionRefused,
    InvalidConfigError,
    MovieDirectorError,
    NameResolutionFailed,
    NotAllowedOffline,
    PoolTimeout,
    ServiceError,
    WorkflowInvalid,
    map_exception,
)
from movie_director.events import Event, EventBus, Subscriber
from movie_director.health import HealthScheduler, HealthTracker, system_status
from movie_director.history import HistoryStore, HistorySummary, ServiceHistory
from movie_director.liveness import Liveness, Watched
from movie_director.operations import Operation, OperationContext, OpState, executor_for
from movie_director.opqueue import DEFAULT_MAX_SIZE, OperationHandle, OperationQueue
from movie_director.pool import ConnectionPool, PoolClosed, is_connection_error
from movie_director.reconnect import BREAKER_OPEN_S, BREAKER_THRESHOLD, Backoff, CircuitBreaker, ConnState, Reconnector
from movie_director.routing import InstanceLoad, pick
from movie_director.store import Database, database_path

log = logging.getLogger(__name__)

MAINTENANCE = "__maintenance__"
QUEUED_OPS_SHOWN = 20


@dataclass(frozen=True)
class ManagerOptions:
    """Tuning knobs; the defaults are the product spec's."""

    #: Threads running health checks (one scheduler thread hands them out).
    check_workers: int = 8
    #: Threads running queued operations (one replay loop per service at a time).
    op_workers: int = 4
    queue_max: int = DEFAULT_MAX_SIZE
    breaker_threshold: int = BREAKER_THRESHOLD
    breaker_open_s: float = BREAKER_OPEN_S
    #: After this many attempts lost to connection errors, an operation fails for good.
    op_max_attempts: int = 10
    #: The TCP connect that starts every health check (a stopped service fails fast).
    tcp_check_timeout: float = 1.0
    #: How long a health check waits for a free pooled connection before skipping a turn.
    check_acquire_timeout: float = 2.0
    #: Pool idle eviction, history flush to the database, operation expiry.
    maintenance_interval: float = 60.0
    #: False: observe only (``movie-director status``): never run queued operations.
    replay: bool = True
    #: False: no held streams or port polls (:mod:`~movie_director.liveness`), only the
    #: scheduled checks — for tests that drive every check through a fake clock.
    watch: bool = True


@dataclass(frozen=True)
class ServiceSnapshot:
    """Everything the UI shows about one service, frozen at one instant."""

    name: str
    kind: str
    display_name: str
    url: str
    critical: bool
    contacted: bool
    state: str
    status: str
    latency_ms: float | None
    last_check: float | None
    last_error: Mapping[str, Any] | None
    next_reconnect_in: float | None
    backend_queue_depth: float | None
    queued_ops: int
    queued: tuple[Mapping[str, Any], ...]
    history: HistorySummary
    capabilities: int | None
    health_interval: float
    version: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    pool: Mapping[str, Any] = field(default_factory=dict)
    #: The configured service this is an instance of (its own name when it has one server).
    group: str = ""
    #: Work sent to this server since its last health check (what routing adds to its queue).
    in_flight: int = 0

    @property
    def waiting(self) -> str:
        """"waiting for ComfyUI — 3 queued, next try in 4 s" while it is away; "" otherwise.

        What the panel and ``movie-director status`` say, so the artist knows the work is
        kept and when the next attempt comes (Reconnect tries at once).
        """
        if not self.contacted or self.state in ("connected", "unknown"):
            return ""
        next_in = self.next_reconnect_in
        retry = "trying now" if self.state == "reconnecting" or next_in is None or next_in < 0.5 else f"next try in {math.ceil(next_in)} s"
        return f"waiting for {self.display_name} — {self.queued_ops} queued, {retry}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "display_name": self.display_name,
            "url": self.url,
            "critical": self.critical,
            "contacted": self.contacted,
            "state": self.state,
            "status": self.status,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "last_check": self.last_check,
            "last_error": dict(self.last_error) if self.last_error else None,
            "next_reconnect_in": None if self.next_reconnect_in is None else round(self.next_reconnect_in, 1),
            "backend_queue_depth": self.backend_queue_depth,
            "queued_ops": self.queued_ops,
            "queued": [dict(item) for item in self.queued],
            "waiting": self.waiting,
            "history": self.history.to_dict(),
            "capability_count": self.capabilities,
            "health_interval": self.health_interval,
            "version": self.version,
            "metrics": dict(self.metrics),
            "pool": dict(self.pool),
            "group": self.group or self.name,
            "in_flight": self.in_flight,
        }


@dataclass(frozen=True)
class SystemSnapshot:
    status: str
    services: tuple[ServiceSnapshot, ...]
    taken_at: float

    def service(self, name: str) -> ServiceSnapshot:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "taken_at": self.taken_at, "services": [service.to_dict() for service in self.services]}


class _Service:
    """Runtime state of one service (mutable; read through snapshots only)."""

    def __init__(self, config: ServiceConfig, backend: Backend[Any] | None, blocked: MovieDirectorError | None) -> None:
        self.config = config
        self.backend = backend
        self.name = config.name
        self.label = label_of(backend, config.name)
        self.blocked = blocked
        self.lock = threading.Lock()
        self.pool: ConnectionPool[Connection] | None = None
        self.tracker = HealthTracker()
        self.reconnector: Reconnector
        self.history = ServiceHistory(config.name)
        self.last_sample: HealthSample | None = None
        self.capabilities: int | None = None
        self.queued_ops = 0
        self.queued: tuple[Mapping[str, Any], ...] = ()
        self.replaying = False
        self.kick_again = False
        #: An operation just lost the connection: replay waits for the next check's verdict.
        self.suspect = False
        #: The configured service this server belongs to, and its share of the work.
        self.group = config.name
        self.weight = config.instances[0].weight
        #: Operations sent here since the last health sample (whose queue depth does not count them yet).
        self.sent = 0
        #: ``(capability name, id)`` pairs this server offers, read when it connects (None: not yet known).
        self.offers: frozenset[tuple[str, str]] | None = None

    @property
    def critical(self) -> bool:
        return bool(self.backend and self.backend.critical)

    def load(self, ready: bool) -> InstanceLoad:
        """What the routing policy weighs: the server's own queue, what we sent since, its latency."""
        sample = self.last_sample
        queue = sample.metrics.get("queue_depth") if sample and sample.metrics else None
        return InstanceLoad(
            self.config.url, ready, None if queue is None else int(queue), self.sent, sample.latency_ms if sample else None, self.weight
        )


class _Group:
    """A configured service and its servers: one ordered queue, one replay loop."""

    def __init__(self, name: str, members: list[_Service]) -> None:
        self.name = name
        self.members = members
        self.label = label_of(members[0].backend, name)
        self.replaying = False
        self.kick_again = False


def label_of(backend: Backend[Any] | None, name: str) -> str:
    """What the artist reads: "ComfyUI", or "ComfyUI (comfyui#2)" for a service not named after its kind."""
    if backend is None:
        return name
    display = backend.display_name or backend.kind
    return display if name == backend.kind else f"{display} ({name})"


def history_key(config: ServiceConfig) -> str:
    """Health history is kept per service *and* address: a new server at another URL starts with a clean uptime."""
    return f"{config.name} {config.url}"


class ServiceManager:
    """See the module docstring."""

    def __init__(
        self,
        config: Config,
        plugins: Any = None,
        *,
        allow_remote: bool = True,
        options: ManagerOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if plugins is None:
            from movie_director.plugins import get_plugin_manager

            plugins = get_plugin_manager()
        self.config = config
        self.options = options or ManagerOptions()
        self.clock = clock
        self.allow_remote = allow_remote
        self.events = EventBus()
        self._database = Database(database_path(config.data_dir))
        self.queue = OperationQueue(self._database, config.data_dir, max_size=self.options.queue_max, clock=clock)
        self._history_store = HistoryStore(self._database)
        self._services: dict[str, _Service] = {}
        self._groups: dict[str, _Group] = {}
        backends = plugins.backends  # also registers the plugins' operation executors, which submit() looks up
        for service_config in config.enabled_services():
            members = [self._make_service(member, backends) for member in member_configs(service_config)]
            for member in members:
                member.group = service_config.name
                self._services[member.name] = member
            self._groups[service_config.name] = _Group(service_config.name, members)
        workers = max(1, min(16, self.options.check_workers, len(self._services) + 1))
        self._scheduler = HealthScheduler(self._run_scheduled, max_workers=workers, clock=clock)
        self._liveness = Liveness(self._on_watch_lost, self._on_port_open)
        self._ops: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._checked = threading.Condition()
        self._system_status = Status.UNKNOWN
        self._started = self._closed = False

    def _make_service(self, config: ServiceConfig, backends: Mapping[str, Backend[Any]]) -> _Service:
        backend = backends.get(config.kind)
        blocked: MovieDirectorError | None = None
        if backend is None:
            blocked = InvalidConfigError(
                f"No installed plugin provides the kind {config.kind!r} of the service {config.name!r}.",
                service=config.name,
                hints=["Install the plugin pack that provides it, then run `movie-director plugins`."],
            )
        elif not self.allow_remote and not config.is_loopback:
            blocked = NotAllowedOffline(service=backend.display_name or config.name)
        service = _Service(config, backend, blocked)
        service.reconnector = Reconnector(
            Backoff(cap=config.backoff_cap),
            CircuitBreaker(self.options.breaker_threshold, self._breaker_open_s(config), self.clock),
            self.clock,
        )
        if backend is not None and blocked is None:
            service.pool = ConnectionPool(
                lambda: backend.connect(config),
                name=service.label,
                max_size=config.pool_max or backend.pool_max,
                min_size=min(config.pool_min if config.pool_min is not None else backend.pool_min, config.pool_max or backend.pool_max),
                validate=backend.is_usable,
                clock=self.clock,
            )
        service.history.load_minutes(self._history_store.load(history_key(config), self.clock.time()))
        return service

    def _breaker_open_s(self, config: ServiceConfig) -> float:
        """How long a tripped breaker stays open.

        The spec's 300 s protects remote services from being hammered; a service on this
        computer is cheap to check and an artist restarting ComfyUI expects it back within
        seconds, so there the half-open trial comes after one backoff step instead.
        """
        if config.is_loopback:
            return min(self.options.breaker_open_s, config.backoff_cap)
        return self.options.breaker_open_s

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Recover operations of crashed processes, then check every service at once."""
        with self._lock:
            if self._started:
                return self
            self._started = True
            self._ops = ThreadPoolExecutor(max_workers=max(1, self.options.op_workers), thread_name_prefix="md-ops")
        self.queue.recover_orphans()
        for service in self._services.values():
            self._refresh_queue(service)
            if service.pool is not None:
                self._scheduler.check_now(service.name)
        self._scheduler.set_due(MAINTENANCE, self.options.maintenance_interval)
        self._scheduler.start()
        if self.options.watch:
            self._liveness.start([self._watched(service) for service in self._services.values() if service.pool is not None])
        return self

    def close(self) -> None:
        """Stop checks and replays, close every connection, save history, join every thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            ops = self._ops
        self._liveness.close()
        self._scheduler.close()
        if ops is not None:
            ops.shutdown(wait=True, cancel_futures=True)
        for service in self._services.values():
            if service.pool is not None:
                service.pool.close()
        self._save_history(include_open=True)
        self.queue.close()
        self._database.close()
        self.events.close()
        with self._checked:
            self._checked.notify_all()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API ----------------------------------------------------------------------

    @property
    def service_names(self) -> list[str]:
        return list(self._services)

    def snapshot(self) -> SystemSnapshot:
        """Immutable view of every service; cheap (no I/O), safe from any thread."""
        now = self.clock.time()
        services = tuple(self._snapshot_of(service, now) for service in self._services.values())
        return SystemSnapshot(self._system_status.value, services, now)

    def drain_events(self, max_items: int | None = None) -> list[Event]:
        """Events since the last drain, oldest first; never blocks (for a UI timer)."""
        return self.events.drain(max_items)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` on the ``md-events`` thread; returns an unsubscribe function."""
        return self.events.subscribe(callback)

    def check_now(self, name: str) -> None:
        """Run a health check of ``name`` (every server of a service) as soon as a worker is free."""
        for service in self._members(name):
            if service.pool is not None:
                self._scheduler.check_now(service.name)

    def reconnect_now(self, name: str) -> None:
        """The "Reconnect" button: reset backoff and breaker, drop stale connections, try at once."""
        for service in self._members(name):
            if service.pool is None:
                continue
            service.reconnector.reconnect_now()
            service.pool.clear()
            self._scheduler.check_now(service.name)

    def submit(
        self,
        name: str,
        op_type: str,
        payload: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        ttl: float | None = None,
    ) -> OperationHandle:
        """Persist an operation and run it in order as soon as ``name`` is connected.

        Accepted while the service is down, reconnecting or suspended: the breaker only
        spaces connection attempts. Raises ``QueueFull`` (``queue_max`` operations already
        wait for it), ``NotAllowedOffline`` or ``InvalidConfigError`` (unknown service or
        operation type). A service with several servers sends it to the best ready one.
        """
        group = self._group(name)
        usable = [member for member in group.members if member.blocked is None]
        if not usable:
            raise group.members[0].blocked or InvalidConfigError(f"{name} cannot be used.")
        executor_for(op_type)
        operation = self.queue.enqueue(group.name, op_type, payload, idempotency_key=idempotency_key, ttl=ttl, label=group.label)
        for member in group.members:
            self._refresh_queue(member)
        self._kick(group)
        return self.queue.handle(operation.id)

    @contextmanager
    def acquire(self, name: str, timeout: float | None = None) -> Iterator[Connection]:
        """A pooled connection for direct calls (live jobs, uploads); a connection error triggers a check.

        For a service with several servers: a connection to the best ready one, so a job
        that holds it for its life (follow-up calls, downloads) stays on that server.
        """
        service = self._best_member(name)
        if service.blocked is not None or service.pool is None:
            raise service.blocked or InvalidConfigError(f"{name} cannot be used.")
        try:
            with service.pool.acquire(service.config.timeout if timeout is None else timeout) as connection:
                yield connection
        except Exception as exc:
            if is_connection_error(exc):
                self._suspect(service)
            raise

    def history(self, name: str) -> ServiceHistory:
        return self._service(name).history

    def pool(self, name: str) -> ConnectionPool[Connection] | None:
        return self._service(name).pool

    def instances(self, name: str) -> list[str]:
        """The member names of a service (``comfyui#1``…), or the service's own name when it has one server."""
        return [member.name for member in self._group(name).members]

    def wait_checked(self, timeout: float) -> bool:
        """Block until every contactable service has had at least one check (CLI start-up)."""
        deadline = time.monotonic() + timeout
        with self._checked:
            while not self._closed:
                if all(service.last_sample is not None for service in self._services.values() if service.pool is not None):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._checked.wait(remaining)
        return False

    # -- health checks (check worker threads) ----------------------------------------------

    def _run_scheduled(self, key: str) -> None:
        if key == MAINTENANCE:
            self._maintain()
            self._scheduler.set_due(MAINTENANCE, self.options.maintenance_interval)
        else:
            self._check(self._services[key])

    def _check(self, service: _Service) -> None:
        assert service.pool is not None and service.backend is not None
        self._publish_state(service, *service.reconnector.begin_attempt())
        sample = self._sample(service)
        if sample is not None:
            self._record(service, sample)
        self._refresh_queue(service)
        self._scheduler.set_due(service.name, service.reconnector.next_check_in(service.config.health_interval))
        if service.queued_ops:
            self._kick(self._groups[service.group])
        with self._checked:
            self._checked.notify_all()

    def _sample(self, service: _Service) -> HealthSample | None:
        assert service.pool is not None and service.backend is not None
        started = time.perf_counter()
        try:
            service.backend.reachable(service.config, min(self.options.tcp_check_timeout, service.config.connect_timeout))
            with service.pool.acquire(timeout=self.options.check_acquire_timeout) as connection:
                return service.backend.health(connection)
        except PoolTimeout:
            return None  # every connection busy with work: alive enough, check next turn
        except PoolClosed:
            return None
        except Exception as exc:  # noqa: BLE001 - plugin code may raise anything; it becomes a typed error
            error = map_exception(exc, service=service.label, start_hint=service.backend.start_hint)
            return HealthSample(ok=False, latency_ms=(time.perf_counter() - started) * 1000, timestamp=self.clock.time(), error=error.to_dict())

    def _record(self, service: _Service, sample: HealthSample) -> None:
        reachable = sample.ok or (sample.error or {}).get("category") != "Connection"
        with service.lock:
            old_status, status = service.tracker.record(sample)
            service.last_sample = sample
            service.suspect = False
            service.sent = 0  # the server's own queue depth counts them from now on
        service.history.record(sample, status)
        if reachable:
            old_state, state = service.reconnector.on_success()
        else:
            old_state, state = service.reconnector.on_failure()
            if old_state is ConnState.CONNECTED and service.pool is not None:
                service.pool.clear()  # a restarted server makes every idle connection stale
        if old_status is not status:
            self.events.publish(Event(ev.STATUS, service.name, old_status.value, status.value, sample.timestamp, sample.error))
        self._publish_state(service, old_state, state, sample.error)
        if state is ConnState.CONNECTED and old_state is not ConnState.CONNECTED:
            self._on_connected(service)
        self._update_system_status()

    def _on_connected(self, service: _Service) -> None:
        """Warm the pool to its minimum and count what the service can do."""
        assert service.pool is not None and service.backend is not None
        try:
            service.pool.fill()
            with service.pool.acquire(timeout=self.options.check_acquire_timeout) as connection:
                found = service.backend.capabilities(connection)
        except Exception as exc:  # noqa: BLE001 - capabilities are informative; never fail the check
            log.info("capabilities of %s unavailable: %s", service.label, exc)
            return
        with service.lock:
            service.capabilities = len(found)
            service.offers = frozenset((capability.name, capability.id) for capability in found)
        self._kick(self._groups[service.group])  # work only this server can run may be waiting for it

    def _publish_state(self, service: _Service, old: ConnState, new: ConnState, error: Mapping[str, Any] | None = None) -> None:
        if old is new:
            return
        self._liveness.wake(service.name)
        next_in = service.reconnector.next_attempt_in()
        details = {"attempt": service.reconnector.failed_attempts, "next_attempt_in": next_in}
        self.events.publish(Event(ev.STATE, service.name, old.value, new.value, self.clock.time(), error if new is not ConnState.CONNECTED else None, details))

    def _update_system_status(self) -> None:
        with self._lock:
            old = self._system_status
            self._system_status = system_status(self._status_pairs())
            new = self._system_status
        if old is not new:
            self.events.publish(Event(ev.SYSTEM, None, old.value, new.value, self.clock.time()))

    def _status_pairs(self) -> Iterator[tuple[Status, bool]]:
        """``(status, critical)`` per server; a critical service is down only when none of its servers is up."""
        for group in self._groups.values():
            members = [member for member in group.members if member.pool is not None]
            anyone_up = any(member.tracker.status is not Status.OFFLINE for member in members)
            for member in members:
                yield member.tracker.status, member.critical and not anyone_up

    def _suspect(self, service: _Service) -> None:
        """A call found the connection broken: hold the replay and confirm with a check now."""
        with service.lock:
            service.suspect = True
        if service.reconnector.state is ConnState.CONNECTED:
            self._scheduler.check_now(service.name)

    # -- liveness (watch threads) -----------------------------------------------------------

    def _watched(self, service: _Service) -> Watched:
        backend, config = service.backend, service.config
        assert backend is not None
        return Watched(
            name=service.name,
            loopback=config.is_loopback,
            state=lambda: service.reconnector.state.value,
            open_watch=lambda: backend.watch(config),
            reachable=lambda timeout: backend.reachable(config, timeout),
        )

    def _on_watch_lost(self, name: str, reason: str) -> None:
        """A held stream ended. Port closed: the service is lost now (not after a check that
        may wait out an in-flight request's retries), and the check that follows is the first
        reconnect attempt. Port still open (a server ending an idle stream): a check decides."""
        service = self._services[name]
        assert service.backend is not None
        try:
            service.backend.reachable(service.config, min(self.options.tcp_check_timeout, service.config.connect_timeout))
        except OSError:
            pass
        else:
            self._suspect(service)
            return
        with service.lock:
            service.suspect = True
        if service.reconnector.state is not ConnState.CONNECTED:
            return
        old, new = service.reconnector.on_failure()
        if service.pool is not None:
            service.pool.clear()
        error = ConnectionLost(f"{service.label} went away: its connection closed and its port refuses.", service=service.label, details={"reason": reason})
        self._publish_state(service, old, new, error.to_dict())
        self._scheduler.check_now(name)

    def _on_port_open(self, name: str) -> None:
        """A loopback port opened again: the health check that reconnects runs now, not after the backoff."""
        self._scheduler.check_now(name)

    # -- replay (op worker threads) ----------------------------------------------------------

    def _ready(self, service: _Service) -> bool:
        """May queued work be sent? Connected, and the last check succeeded: a service that
        answers with errors keeps its queue rather than failing every operation."""
        return not service.suspect and service.reconnector.state is ConnState.CONNECTED and service.tracker.consecutive_failures == 0

    def _kick(self, group: _Group) -> None:
        """Start the replay loop of ``group`` unless it runs (then it loops once more)."""
        if not self.options.replay or not any(self._ready(member) for member in group.members):
            return
        with self._lock:
            if self._closed or self._ops is None:
                return
            if group.replaying:
                group.kick_again = True
                return
            group.replaying = True
            group.kick_again = False
            self._ops.submit(self._replay, group)

    def _replay(self, group: _Group) -> None:
        """Send the service's operations in order, each to the best ready server, until none is ready."""
        several = len(group.members) > 1
        try:
            while not self._closed:
                ready = [member for member in group.members if self._ready(member)]
                if not ready:
                    break
                self._publish_expired(self.queue.expire())
                operation = self.queue.claim_next(group.name, [member.config.url for member in ready] if several else None)
                if operation is None:
                    break
                able = ready if operation.instance or not several else self._able(group, ready, operation)
                if able is None:
                    continue  # failed: no server has what it needs
                if not able:
                    break  # back in the queue until a server that has it is ready
                member = self._route(able, operation)
                operation = self.queue.assign(operation.id, member.config.url)
                if not self._execute(member, operation) and self._ready(member):
                    break  # its pool is busy or closing: try again on the next kick
        except Exception:  # noqa: BLE001 - the queue must keep going after a database hiccup
            log.exception("replay of %s stopped", group.label)
        finally:
            with self._lock:
                group.replaying = False
                again = group.kick_again
            for member in group.members:
                self._refresh_queue(member)
            if again:
                self._kick(group)

    def _able(self, group: _Group, ready: list[_Service], operation: Operation) -> list[_Service] | None:
        """The ready servers that offer what ``operation`` needs (unknown offers count as able).

        None of them: when every server's offers are known and none has it all, the
        operation fails naming what is missing (None); otherwise it goes back to wait ([]).
        """
        backend = group.members[0].backend
        needs = backend.requirements(operation.op_type, operation.payload) if backend is not None else frozenset()
        able = [member for member in ready if member.offers is None or needs <= member.offers]
        if able:
            return able
        missing = {member.config.url: needs - member.offers for member in group.members if member.offers is not None}
        if len(missing) == len(group.members):
            lacking = sorted({item_id for gaps in missing.values() for _, item_id in gaps})
            checked = "; ".join(f"{url} lacks {', '.join(sorted(item_id for _, item_id in gaps))}" for url, gaps in missing.items())
            error = WorkflowInvalid(
                f"No server of {group.label} has {', '.join(lacking)} (checked: {checked}).",
                service=group.label,
                hints=["Install what is missing on one of the servers (custom nodes, models), then submit again."],
                details={"missing": {url: sorted(item_id for _, item_id in gaps) for url, gaps in missing.items()}},
            )
            self._publish_operation(self.queue.fail(operation.id, error))
            return None
        self.queue.requeue(operation.id, ServiceError(f"Waiting for a server of {group.label} that can run it.", service=group.label), held=False)
        return []

    @staticmethod
    def _route(ready: list[_Service], operation: Operation) -> _Service:
        """The server an operation goes to: the one holding it, else the best by the routing policy."""
        by_url = {member.config.url: member for member in ready}
        if operation.instance in by_url:
            return by_url[operation.instance]
        best = pick(member.load(ready=True) for member in ready)
        return by_url[best.url] if best is not None else ready[0]

    def _execute(self, service: _Service, operation: Operation) -> bool:
        """Run one claimed operation; ``False`` when the service went away (stop replaying)."""
        assert service.pool is not None and service.backend is not None
        try:
            executor = executor_for(operation.op_type)
            with service.pool.acquire(timeout=service.config.timeout) as connection:
                result = executor(OperationContext(service.config, service.backend, connection, operation))
        except (PoolClosed, PoolTimeout) as exc:
            self.queue.requeue(operation.id, map_exception(exc, service=service.label), held=False)
            return False
        except Exception as exc:  # noqa: BLE001 - executors are plugin code; sorted by map_exception
            error = map_exception(exc, service=service.label, start_hint=service.backend.start_hint)
            if isinstance(error, ConnectionProblem) and operation.attempts < self.options.op_max_attempts:
                # A request that never left may go to another server; one that may have
                # reached this server waits for it (its executor finds it there by key).
                self.queue.requeue(operation.id, error, held=not isinstance(error, (ConnectionRefused, NameResolutionFailed)))
                self._suspect(service)
                return False
            self._publish_operation(self.queue.fail(operation.id, error))
            return True
        service.history.record_request(self.clock.time())
        with service.lock:
            service.sent += 1
        self._publish_operation(self.queue.complete(operation.id, result))
        return True

    def _publish_operation(self, operation: Operation) -> None:
        details = {"id": operation.id, "op_type": operation.op_type, "attempts": operation.attempts}
        self.events.publish(Event(ev.OPERATION, operation.service, OpState.RUNNING.value, operation.state.value, self.clock.time(), operation.error, details))

    def _publish_expired(self, expired: list[Operation]) -> None:
        for operation in expired:
            details = {"id": operation.id, "op_type": operation.op_type, "attempts": operation.attempts}
            self.events.publish(Event(ev.OPERATION, operation.service, OpState.QUEUED.value, operation.state.value, self.clock.time(), None, details))

    def _refresh_queue(self, service: _Service) -> None:
        """What waits for this server's service (shared by every server of it)."""
        pending = self.queue.pending(service.group, limit=QUEUED_OPS_SHOWN)
        depth = self.queue.depth(service.group) if len(pending) >= QUEUED_OPS_SHOWN else len(pending)
        with service.lock:
            service.queued_ops = depth
            service.queued = tuple(operation.summary() for operation in pending)

    # -- maintenance (a check worker, every minute) ------------------------------------------

    def _maintain(self) -> None:
        for service in self._services.values():
            if service.pool is not None:
                service.pool.evict_idle()
            self._refresh_queue(service)
        self._publish_expired(self.queue.expire())
        self._save_history(include_open=False)
        self._history_store.prune(self.clock.time())

    def _save_history(self, include_open: bool) -> None:
        for service in self._services.values():
            buckets = service.history.take_unsaved(include_open)
            if buckets:
                try:
                    self._history_store.save(history_key(service.config), buckets)
                except Exception:  # noqa: BLE001 - history is best effort; a locked database must not stop checks
                    log.warning("could not save the health history of %s", service.label, exc_info=True)

    # -- snapshots -------------------------------------------------------------------------

    def _service(self, name: str) -> _Service:
        """A server by its member name, or a service with one server by its name."""
        if name not in self._services and name in self._groups:
            return self._best_member(name)
        try:
            return self._services[name]
        except KeyError:
            raise self._unknown(name) from None

    def _group(self, name: str) -> _Group:
        try:
            return self._groups[name]
        except KeyError:
            raise self._unknown(name) from None

    def _members(self, name: str) -> list[_Service]:
        """Every server of a service, or the one server of a member name."""
        return self._groups[name].members if name in self._groups else [self._service(name)]

    def _best_member(self, name: str) -> _Service:
        """The server of a service that work would go to now (the first usable one when none is ready)."""
        members = self._group(name).members
        ready = [member for member in members if self._ready(member)]
        if ready:
            best = pick(member.load(ready=True) for member in ready)
            return next(member for member in ready if best is not None and member.config.url == best.url)
        return next((member for member in members if member.blocked is None), members[0])

    def _unknown(self, name: str) -> InvalidConfigError:
        known = ", ".join(self._groups) or "none"
        return InvalidConfigError(f"There is no enabled service named {name!r} (enabled: {known}).")

    def _snapshot_of(self, service: _Service, now: float) -> ServiceSnapshot:
        with service.lock:
            sample = service.last_sample
            status = service.tracker.status
            queued_ops, queued, capabilities = service.queued_ops, service.queued, service.capabilities
        error = service.blocked.to_dict() if service.blocked is not None else (dict(sample.error) if sample and sample.error else None)
        metrics = dict(sample.metrics) if sample and sample.metrics else {}
        return ServiceSnapshot(
            name=service.name,
            kind=service.config.kind,
            display_name=service.label,
            url=service.config.url,
            critical=service.critical,
            contacted=service.pool is not None,
            state=service.reconnector.state.value,
            status=status.value,
            latency_ms=sample.latency_ms if sample else None,
            last_check=sample.timestamp if sample else None,
            last_error=error,
            next_reconnect_in=service.reconnector.next_attempt_in() if service.pool is not None else None,
            backend_queue_depth=metrics.get("queue_depth"),
            queued_ops=queued_ops,
            queued=queued,
            history=service.history.summary(now),
            capabilities=capabilities,
            health_interval=service.config.health_interval,
            version=sample.version if sample else "",
            metrics=metrics,
            pool=service.pool.stats().to_dict() if service.pool is not None else {},
            group=service.group,
            in_flight=service.sent,
        )


__all__ = ["ManagerOptions", "ServiceManager", "ServiceSnapshot", "SystemSnapshot"]
