"""The service registry: every known instance of every backend, what it can do, how loaded it is.

Fed from three sides: discovery (:meth:`Registry.record_discovery`), the configuration
(:meth:`Registry.sync_config`) and the health layer (:meth:`Registry.update_health`,
:meth:`Registry.set_capabilities`). :meth:`Registry.find` answers "which instance should
do this?" — the best healthy instance offering a capability, least loaded first — fast
enough to ask before every request.

Thread safety by copy-on-write: readers take the current immutable snapshot without a
lock; writers build the next snapshot under one lock and swap it in. Subscribers hear
when an instance appears, disappears or changes its capabilities.

Persistence is JSON with a format version (``"1.0"``); another version is refused with
a clear error rather than half-read. Health is live state and is not trusted across a
restart: loaded instances start ``unknown`` until the health layer reports.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from movie_director.backend import Capability, Status
from movie_director.capabilities import Limit, limits_of
from movie_director.configdata import member_configs
from movie_director.configfile import write_atomic
from movie_director.errors import InvalidConfigError
from movie_director.redact import redact

if TYPE_CHECKING:
    from movie_director.configdata import Config, ServiceConfig
    from movie_director.discovery import DiscoveryResult

log = logging.getLogger(__name__)

FORMAT_VERSION = "1.0"
REGISTRY_FILE = "registry.json"

SOURCE_CONFIG = "config"
SOURCE_DISCOVERY = "discovery"

_STATUS_RANK = {Status.ONLINE: 0, Status.DEGRADED: 1, Status.UNKNOWN: 2, Status.OFFLINE: 3}
_MISSING = object()


class EventType(str, Enum):
    APPEARED = "appeared"
    DISAPPEARED = "disappeared"
    CAPABILITIES_CHANGED = "capabilities_changed"


@dataclass(frozen=True)
class RegistryEvent:
    """One change, delivered to subscribers in the thread that made it (never hold a lock in the callback)."""

    type: EventType
    instance: Instance
    previous: Instance | None = None


@dataclass(frozen=True)
class Instance:
    """One running (or configured) service: where it is, what it can do, how loaded it is.

    ``name`` is the service name used in the config and by the health layer.
    """

    name: str
    kind: str
    url: str
    version: str = ""
    status: Status = Status.UNKNOWN
    queue_depth: int = 0
    latency_ms: float | None = None
    priority: int = 0
    tags: tuple[str, ...] = ()
    capabilities: tuple[Capability, ...] = field(default=(), repr=False)  # hundreds for ComfyUI: not in logs
    sources: frozenset[str] = frozenset()
    updated_at: float = field(default_factory=time.time)
    #: How routing orders instances: status, then queue depth, then latency, then priority.
    rank: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        latency = self.latency_ms if self.latency_ms is not None else math.inf
        object.__setattr__(self, "rank", (_STATUS_RANK[self.status], self.queue_depth, latency, -self.priority, self.name))

    @property
    def healthy(self) -> bool:
        return self.status is not Status.OFFLINE

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "version": self.version,
            "status": self.status.value,
            "queue_depth": self.queue_depth,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "priority": self.priority,
            "tags": list(self.tags),
            "sources": sorted(self.sources),
            "updated_at": self.updated_at,
            "capabilities": [capability.to_dict() for capability in self.capabilities],
        }


_Entry = tuple[str, Capability, Mapping[str, Limit]]


@dataclass(frozen=True)
class _Snapshot:
    instances: Mapping[str, Instance]
    by_name: Mapping[str, tuple[_Entry, ...]]
    by_id: Mapping[tuple[str, str], tuple[_Entry, ...]]


def _index(instances: Mapping[str, Instance]) -> _Snapshot:
    """Capability name (and name + id) → entries; every instance also answers to its kind."""
    by_name: dict[str, list[_Entry]] = {}
    by_id: dict[tuple[str, str], list[_Entry]] = {}
    for instance in instances.values():
        for capability in (Capability(instance.kind), *instance.capabilities):
            entry = (instance.name, capability, limits_of(capability))
            by_name.setdefault(capability.name, []).append(entry)
            by_id.setdefault((capability.name, capability.id), []).append(entry)
    return _Snapshot(
        dict(instances),
        {key: tuple(value) for key, value in by_name.items()},
        {key: tuple(value) for key, value in by_id.items()},
    )


def _meets(capability: Capability, limits: Mapping[str, Limit], requirements: Mapping[str, Any]) -> bool:
    """A requirement is a value inside a limit, or equal to (or one of) a detail; anything else fails."""
    for key, wanted in requirements.items():
        limit = limits.get(key)
        if limit is not None:
            if limit.problem(wanted):
                return False
            continue
        offered = capability.details.get(key, _MISSING)
        if isinstance(offered, (list, tuple, set, frozenset)):
            if wanted not in offered:
                return False
        elif offered is _MISSING or offered != wanted:
            return False
    return True


class Registry:
    """Services, their instances and capabilities; thread-safe, queried lock-free."""

    def __init__(self, instances: Iterable[Instance] = ()) -> None:
        self._lock = threading.Lock()
        self._snapshot = _index({instance.name: instance for instance in instances})
        self._subscribers: tuple[Callable[[RegistryEvent], None], ...] = ()

    # -- queries (lock-free) -----------------------------------------------------------

    def find(self, capability: str, **requirements: Any) -> Instance | None:
        """The best healthy instance offering ``capability``, or ``None``.

        ``id=`` picks one capability instance (a model, a node class); ``kind=`` one
        backend kind; any other keyword must fit the capability's limits
        (``width=1024``) or equal one of its details (``mode="t2v"``). Among matches the
        least loaded wins: online before degraded before unknown, then queue depth, then
        latency, then priority. Offline instances are skipped. A kind name
        (``find("comfyui")``) matches every instance of that kind.
        """
        best: Instance | None = None
        for instance in self._matching(capability, requirements):
            if best is None or instance.rank < best.rank:
                best = instance
        return best

    def ranked(self, capability: str, **requirements: Any) -> list[Instance]:
        """Every healthy instance that :meth:`find` could return, best first (for failover)."""
        unique = {instance.name: instance for instance in self._matching(capability, requirements)}
        return sorted(unique.values(), key=lambda instance: instance.rank)

    def _matching(self, capability: str, requirements: dict[str, Any]) -> Iterator[Instance]:
        snapshot = self._snapshot
        wanted_id = requirements.pop("id", None)
        kind = requirements.pop("kind", None)
        entries = snapshot.by_name.get(capability, ()) if wanted_id is None else snapshot.by_id.get((capability, wanted_id), ())
        instances = snapshot.instances
        for name, offered, limits in entries:
            instance = instances[name]
            if instance.status is Status.OFFLINE or (kind is not None and instance.kind != kind):
                continue
            if requirements and not _meets(offered, limits, requirements):
                continue
            yield instance

    def get(self, name: str) -> Instance | None:
        return self._snapshot.instances.get(name)

    def instances(self) -> list[Instance]:
        return sorted(self._snapshot.instances.values(), key=lambda instance: (instance.kind, instance.name))

    def services(self) -> dict[str, list[Instance]]:
        """Instances grouped by service kind, as the ``services`` command and the UI list them."""
        grouped: dict[str, list[Instance]] = {}
        for instance in self.instances():
            grouped.setdefault(instance.kind, []).append(instance)
        return grouped

    def __len__(self) -> int:
        return len(self._snapshot.instances)

    # -- events ------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[RegistryEvent], None]) -> Callable[[], None]:
        """Call ``callback`` for every change; returns the function that unsubscribes."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(existing for existing in self._subscribers if existing is not callback)

        return unsubscribe

    # -- writes ------------------------------------------------------------------------

    def add(self, instance: Instance) -> Instance:
        """Insert or replace the instance named ``instance.name``."""
        self._change(lambda current: {instance.name: instance})
        return instance

    def remove(self, name: str) -> bool:
        removed = self._change(lambda current: {name: None} if name in current else {})
        return bool(removed)

    def update_health(self, service: str, status: Status | str, queue_depth: int = 0, latency_ms: float | None = None) -> bool:
        """What the health layer calls after every check; ``False`` when ``service`` is not registered."""
        status = Status(status)

        def change(current: Mapping[str, Instance]) -> dict[str, Instance | None]:
            instance = current.get(service)
            if instance is None:
                return {}
            return {service: replace(instance, status=status, queue_depth=queue_depth, latency_ms=latency_ms, updated_at=time.time())}

        return bool(self._change(change))

    def set_capabilities(self, service: str, capabilities: Iterable[Capability], version: str | None = None) -> bool:
        """Replace what ``service`` can do (after a health check or a reconnect); ``False`` if unknown."""
        capabilities = tuple(capabilities)

        def change(current: Mapping[str, Instance]) -> dict[str, Instance | None]:
            instance = current.get(service)
            if instance is None:
                return {}
            new_version = instance.version if version is None else version
            return {service: replace(instance, capabilities=capabilities, version=new_version, updated_at=time.time())}

        return bool(self._change(change))

    def sync_config(self, services: Iterable[ServiceConfig]) -> None:
        """Make the enabled configured services registered instances (one per server: ``comfyui#2``), and forget removed ones.

        An instance discovered earlier at the same URL becomes the configured one (its
        capabilities and health are kept under the configured name).
        """
        wanted = {member.name: member for service in services if service.enabled for member in member_configs(service)}

        def change(current: Mapping[str, Instance]) -> dict[str, Instance | None]:
            changes: dict[str, Instance | None] = {}
            for name, instance in current.items():
                if SOURCE_CONFIG in instance.sources and name not in wanted:
                    rest = instance.sources - {SOURCE_CONFIG}
                    changes[name] = replace(instance, sources=rest) if rest else None
            for service in wanted.values():
                # What is known at this URL (under this name, else found by discovery) is this
                # service now; what the name held at another URL is stale.
                here = [instance for instance in current.values() if _same_address(instance, service.kind, service.url)]
                known = next((i for i in here if i.name == service.name), None) or next((i for i in here if i.name not in wanted), None)
                if known is not None and known.name != service.name:
                    changes[known.name] = None
                base = known or Instance(service.name, service.kind, service.url)
                changes[service.name] = replace(
                    base,
                    name=service.name,
                    priority=service.priority,
                    tags=tuple(service.tags),
                    sources=base.sources | {SOURCE_CONFIG},
                )
            return changes

        self._change(change)

    def record_discovery(self, results: Iterable[DiscoveryResult], scanned_urls: Iterable[str] = ()) -> None:
        """Register what discovery found (online, with its latency and capabilities).

        Instances known only from discovery whose address was scanned again and found
        closed disappear; configured ones there are marked offline.
        """
        found = [result for result in results if result.recognized]
        scanned = set(scanned_urls)

        def change(current: Mapping[str, Instance]) -> dict[str, Instance | None]:
            changes: dict[str, Instance | None] = {}
            taken = set(current)
            now = time.time()
            for result in found:
                known = _by_url(current, result.kind, result.url)
                if known is None:
                    name = service_name(result.kind, result.url, taken)
                    taken.add(name)
                    known = Instance(name, result.kind, result.url)
                changes[known.name] = replace(
                    known,
                    version=result.version or known.version,
                    status=Status.ONLINE,
                    latency_ms=result.latency_ms,
                    capabilities=known.capabilities if result.capabilities is None else result.capabilities,
                    sources=known.sources | {SOURCE_DISCOVERY},
                    updated_at=now,
                )
            for name, instance in current.items():
                if name in changes or instance.url not in scanned:
                    continue
                if instance.sources == {SOURCE_DISCOVERY}:
                    changes[name] = None
                else:
                    changes[name] = replace(instance, status=Status.OFFLINE, updated_at=now)
            return changes

        self._change(change)

    def _change(self, compute: Callable[[Mapping[str, Instance]], dict[str, Instance | None]]) -> dict[str, Instance | None]:
        """Apply ``compute``'s changes (name → new instance, or None to remove) as one new snapshot."""
        with self._lock:
            current = self._snapshot
            changes = compute(current.instances)
            if not changes:
                return changes
            instances = dict(current.instances)
            events: list[RegistryEvent] = []
            reindex = False
            for name, new in changes.items():
                old = instances.get(name)
                if new is None:
                    if old is not None:
                        del instances[name]
                        events.append(RegistryEvent(EventType.DISAPPEARED, old))
                        reindex = True
                    continue
                instances[name] = new
                if old is None:
                    events.append(RegistryEvent(EventType.APPEARED, new))
                    reindex = True
                elif old.capabilities != new.capabilities:
                    events.append(RegistryEvent(EventType.CAPABILITIES_CHANGED, new, old))
                    reindex = True
                elif old.kind != new.kind:
                    reindex = True
            if reindex:
                self._snapshot = _index(instances)
            else:  # health only: the index still points at the same names
                self._snapshot = _Snapshot(instances, current.by_name, current.by_id)
            subscribers = self._subscribers
        for event in events:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:  # one broken listener must not break the registry
                    log.exception("registry subscriber %r failed", callback)
        return changes

    # -- persistence -------------------------------------------------------------------

    def save(self, path: Path | str) -> Path:
        """Write every instance to ``path`` atomically (temp file + rename); secrets masked."""
        path = Path(path)
        data = {
            "version": FORMAT_VERSION,
            "saved_at": time.time(),
            "instances": [_persisted(instance) for instance in self.instances()],
        }
        write_atomic(path, redact(json.dumps(data, indent=2, default=str, ensure_ascii=False)) + "\n")
        return path

    def load(self, path: Path | str) -> int:
        """Add the instances saved in ``path`` (status ``unknown``); returns how many."""
        loaded = read_instances(Path(path))
        self._change(lambda current: {instance.name: instance for instance in loaded})
        return len(loaded)


def _same_address(instance: Instance, kind: str, url: str) -> bool:
    return instance.kind == kind and instance.url.rstrip("/").lower() == url.rstrip("/").lower()


def _by_url(instances: Mapping[str, Instance], kind: str, url: str) -> Instance | None:
    return next((instance for instance in instances.values() if _same_address(instance, kind, url)), None)


def _persisted(instance: Instance) -> dict[str, Any]:
    data = instance.to_dict()
    for live in ("status", "queue_depth", "latency_ms"):
        del data[live]
    return data


def read_instances(path: Path) -> list[Instance]:
    """The instances in a registry file; a InvalidConfigError names what is wrong with it."""
    hints = [f"Delete {path}: `movie-director discover` builds it again.", "Or update the add-on to the version that wrote it."]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidConfigError(f"The service registry {path} cannot be read: {exc}.", hints=hints, cause=exc) from exc
    version = data.get("version") if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        raise InvalidConfigError(
            f"The service registry {path} has format version {version!r}; this add-on reads version {FORMAT_VERSION!r} only.",
            hints=hints,
            details={"version": version, "supported": FORMAT_VERSION},
        )
    try:
        return [_instance_of(entry) for entry in data["instances"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidConfigError(f"The service registry {path} is damaged: {type(exc).__name__}: {exc}.", hints=hints, cause=exc) from exc


def _instance_of(entry: Mapping[str, Any]) -> Instance:
    return Instance(
        name=str(entry["name"]),
        kind=str(entry["kind"]),
        url=str(entry["url"]),
        version=str(entry.get("version", "")),
        priority=int(entry.get("priority", 0)),
        tags=tuple(entry.get("tags", ())),
        capabilities=tuple(
            Capability(
                name=str(capability["name"]),
                id=str(capability.get("id", "")),
                limits={key: (float(low), float(high)) for key, (low, high) in capability.get("limits", {}).items()},
                details=dict(capability.get("details", {})),
            )
            for capability in entry.get("capabilities", ())
        ),
        sources=frozenset(entry.get("sources", ())),
        updated_at=float(entry.get("updated_at", 0.0)),
    )


def service_name(kind: str, url: str, taken: Iterable[str]) -> str:
    """A config-style name for a found service: its kind, else ``kind-port``, else ``kind-port-N``."""
    taken = set(taken)
    port = urlsplit(url).port
    candidates = [kind, f"{kind}-{port}"] + [f"{kind}-{port}-{number}" for number in range(2, 100)]
    return next(name for name in candidates if name not in taken)


def registry_path(config: Config) -> Path:
    """Where the CLI and the add-on keep the registry: ``<data_dir>/registry.json``."""
    return config.data_dir / REGISTRY_FILE


def open_registry(config: Config) -> Registry:
    """The saved registry (if any) brought up to date with ``config``'s services."""
    registry = Registry()
    path = registry_path(config)
    if path.is_file():
        registry.load(path)
    registry.sync_config(config.services.values())
    return registry


__all__ = [
    "FORMAT_VERSION",
    "EventType",
    "Instance",
    "Registry",
    "RegistryEvent",
    "open_registry",
    "read_instances",
    "registry_path",
    "service_name",
]
