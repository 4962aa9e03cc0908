"""The contract every backend plugin implements, and the values it returns.

A backend knows one protocol. It answers "is this port mine?" (:meth:`Backend.probe`),
opens what the pool holds (:meth:`Backend.connect`), makes one cheap health check and
lists what the service can do. Scheduling, retry loops, pooling and drawing are the
core's job, done the same way for every backend.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from movie_director.configdata import ServiceConfig


class Status(str, Enum):
    """Health of one service as the artist sees it."""

    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ProbeResult:
    """What discovery learned about one address: which kind of service, which version."""

    kind: str
    url: str
    version: str = ""
    latency_ms: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)
    transport: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "version": self.version,
            "latency_ms": round(self.latency_ms, 1),
            "transport": self.transport,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class HealthSample:
    """One health check: how fast, how loaded, and why it failed if it did."""

    ok: bool
    latency_ms: float
    timestamp: float = field(default_factory=time.time)
    metrics: Mapping[str, float] = field(default_factory=dict)
    version: str = ""
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "latency_ms": round(self.latency_ms, 1),
            "timestamp": self.timestamp,
            "metrics": dict(self.metrics),
            "version": self.version,
            "error": dict(self.error) if self.error else None,
        }


@dataclass(frozen=True)
class Capability:
    """Something a service can do right now, with the limits a request must respect.

    ``name`` is a dotted family ("image.generate", "video.generate", "llm.chat",
    "comfyui.node", "gradio.endpoint"); ``id`` tells instances apart (a node class,
    an endpoint name, a model).
    """

    name: str
    id: str = ""
    limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "limits": {k: list(v) for k, v in self.limits.items()}, "details": dict(self.details)}


@runtime_checkable
class Connection(Protocol):
    """What a backend's ``connect`` returns and the pool holds."""

    def close(self) -> None: ...


@runtime_checkable
class Watch(Protocol):
    """A held stream whose end means the service went away (see :meth:`Backend.watch`).

    The core holds one per service on a thread of its own; a killed server closes the
    stream at once, so the loss is seen in milliseconds instead of at the next check.
    """

    def wait(self) -> str:
        """Block until the stream ends, falls silent or :meth:`close` is called; say why."""
        ...

    def close(self) -> None:
        """Make a blocked :meth:`wait` return at once (called from another thread)."""
        ...


ConnectionT = TypeVar("ConnectionT", bound=Connection)
"""The connection type one backend kind opens and is handed back (``ComfyUIBackend(Backend[ComfyUIClient])``)."""


class Backend(Generic[ConnectionT]):
    """Base class of backend plugins; subclass it and register it through the hook.

    Instances are stateless singletons shared by every service of their kind: state
    lives in the :class:`Connection` objects they return. A subclass names its own
    connection type, so the methods the pool hands a connection back to receive that type.
    """

    kind: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    default_url: ClassVar[str] = ""
    default_ports: ClassVar[tuple[int, ...]] = ()
    #: Higher means more specific; discovery asks specific probes first so that a
    #: Wan2GP UI is named Wan2GP before the generic Gradio probe claims it.
    probe_priority: ClassVar[int] = 0
    #: The one line that tells an artist how to start this service.
    start_hint: ClassVar[str] = ""
    pool_max: ClassVar[int] = 10
    pool_min: ClassVar[int] = 2
    health_interval: ClassVar[float] = 60.0
    #: When this kind is unhealthy the whole system is (ComfyUI).
    critical: ClassVar[bool] = False

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        """Return a result when ``url`` serves this kind of service, ``None`` when the answer says "not mine".

        "Not mine" is an answer of another program: a 404, foreign JSON, a web page.
        An answer that cannot tell raises our typed error instead, so that the artist
        reads what is wrong rather than "a different program answers": the address
        is unreachable or too slow (a ``ConnectionProblem``), busy (429 →
        ``RateLimited``) or broken (5xx → ``ServiceError``, with the server's own
        message). :func:`movie_director.http.probe_json` classifies one GET this way.
        """
        raise NotImplementedError

    def connect(self, service: ServiceConfig) -> ConnectionT:
        """Open what the pool holds for ``service`` (session, socket, client)."""
        raise NotImplementedError

    def health(self, connection: ConnectionT) -> HealthSample:
        """One cheap check (never a call that costs money or loads a model)."""
        raise NotImplementedError

    def capabilities(self, connection: ConnectionT) -> list[Capability]:
        """What the service can do right now."""
        raise NotImplementedError

    def reachable(self, service: ServiceConfig, timeout: float) -> None:
        """Raise ``OSError`` quickly when nothing listens at the service's address.

        Runs before every health check so a stopped service fails in milliseconds
        instead of waiting out the HTTP layer's retries. The default is a TCP connect;
        a backend that does not speak TCP overrides it.
        """
        with socket.create_connection((service.host, service.port), timeout=timeout):
            pass

    def watch(self, service: ServiceConfig) -> Watch | None:
        """Open a held stream whose end means ``service`` went away, or ``None`` when the
        protocol has none (then a loopback service gets a TCP check every second).

        Called by the core once the service is connected; raise (``OSError`` or our
        typed errors) when the stream cannot be opened: the core takes that as a loss.
        """
        return None

    def is_usable(self, connection: ConnectionT) -> bool:
        """Cheap local check the pool runs before reusing a connection."""
        return True

    def requirements(self, op_type: str, payload: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
        """What a server must offer to run this operation, as ``(capability name, id)`` pairs.

        A service with several servers sends the operation only to one whose
        :meth:`capabilities` include them all (ComfyUI: the workflow's node classes).
        """
        return frozenset()

    def load_workflow(self, source: Any) -> Any:
        """``source`` (a path, ``-`` for stdin, or the data) as a workflow this kind runs, else WorkflowInvalid.

        Only kinds that run workflow files (ComfyUI) implement it; ``doctor --workflow``
        and the kind's own run command load a file through it, so both refuse alike.
        """
        raise NotImplementedError

    def check_workflow(self, connection: ConnectionT, workflow: Any) -> None:
        """Raise WorkflowInvalid when the server cannot run ``workflow`` (missing nodes, unconnected inputs)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind!r}>"
