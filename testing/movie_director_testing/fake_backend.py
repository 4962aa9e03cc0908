"""An in-process backend whose service can be switched off, slowed down and inspected.

For unit tests and benchmarks of connection management: no network, but every
connection holds a real socket pair so leak checks (open file descriptors) mean
something. The ``fake.echo`` operation is idempotent by key, like ComfyUI's
client-chosen ``prompt_id``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from movie_director.backend import Backend, Capability, HealthSample
from movie_director.configdata import Config, ServiceConfig
from movie_director.errors import ConnectionLost, ConnectionRefused, ServiceError
from movie_director.operations import OperationContext, register_operation

ECHO = "fake.echo"


@dataclass
class FakeService:
    """The simulated server: up or down, how slow, and what it received (in order)."""

    up: bool = True
    #: Answers, but reports itself broken (a 500 on its status route).
    broken: bool = False
    #: Takes the next request, then goes down before answering (the request may have run).
    dies_on_request: bool = False
    latency_ms: float = 5.0
    #: Real seconds each health check takes (benchmarks).
    check_seconds: float = 0.0
    received: list[str] = field(default_factory=list)
    #: Extras this server offers (``fake.feature`` capabilities); ``fake.echo`` payloads may ``need`` them.
    features: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    checks: int = 0

    def receive(self, key: str) -> bool:
        """Record ``key`` once; ``False`` if it was already received."""
        with self.lock:
            if key in self.received:
                return False
            self.received.append(key)
            return True


class FakeConnection:
    def __init__(self, service: FakeService) -> None:
        self.service = service
        self._sockets: tuple[socket.socket, socket.socket] | None = socket.socketpair()

    @property
    def closed(self) -> bool:
        return self._sockets is None

    def close(self) -> None:
        if self._sockets is not None:
            for sock in self._sockets:
                sock.close()
            self._sockets = None


class FakeBackend(Backend[FakeConnection]):
    kind = "fake"
    display_name = "Fake"
    default_url = "http://127.0.0.1:9"
    start_hint = "Switch the fake service on."
    pool_max = 4
    pool_min = 1
    health_interval = 30.0

    def __init__(self) -> None:
        self.services: dict[str, FakeService] = {}
        self.connections: list[FakeConnection] = []

    def service_at(self, url: str) -> FakeService:
        return self.services.setdefault(url, FakeService())

    def connect(self, service: ServiceConfig) -> FakeConnection:
        connection = FakeConnection(self.service_at(service.url))
        self.connections.append(connection)
        return connection

    def health(self, connection: FakeConnection) -> HealthSample:
        server = connection.service
        with server.lock:
            server.checks += 1
        if server.check_seconds:
            time.sleep(server.check_seconds)
        if not server.up:
            raise ConnectionRefused(service=self.display_name)
        if server.broken:
            return HealthSample(ok=False, latency_ms=server.latency_ms, error=ServiceError(service=self.display_name).to_dict())
        return HealthSample(ok=True, latency_ms=server.latency_ms, metrics={"queue_depth": float(len(server.received))}, version="1.0")

    def capabilities(self, connection: FakeConnection) -> list[Capability]:
        return [Capability("fake.echo"), *(Capability("fake.feature", name) for name in sorted(connection.service.features))]

    def requirements(self, op_type: str, payload: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
        return frozenset(("fake.feature", name) for name in payload.get("needs", ()))

    def reachable(self, service: ServiceConfig, timeout: float) -> None:
        """The fake services live in memory: reachability is the health check itself."""

    def is_usable(self, connection: FakeConnection) -> bool:
        return not connection.closed


def echo(ctx: OperationContext) -> dict[str, Any]:
    """``fake.echo``: the server records the idempotency key once and echoes the payload."""
    server: FakeService = ctx.connection.service  # type: ignore[attr-defined]
    if not server.up:
        raise ConnectionRefused(service="Fake")
    first = server.receive(ctx.idempotency_key)
    if server.dies_on_request:
        server.up, server.dies_on_request = False, False
        raise ConnectionLost(service="Fake")
    return {"echo": dict(ctx.payload), "duplicate": not first}


register_operation(ECHO, echo, replace=True)


def fake_config(data_dir: Path, names: Mapping[str, str] | None = None, **settings: Any) -> Config:
    """A Config of fake services (name → url) storing its database in ``data_dir``."""
    names = names or {"fake": "http://127.0.0.1:9"}
    services = {name: ServiceConfig(name=name, kind="fake", url=url, **settings) for name, url in names.items()}
    return Config(services=services, active_profile="Local", profiles=("Local",), file=None, data_dir=Path(data_dir))


def fake_plugins(backend: FakeBackend | None = None) -> SimpleNamespace:
    """What the manager needs of a plugin manager: ``backends`` by kind."""
    return SimpleNamespace(backends={"fake": backend or FakeBackend()})


__all__ = ["ECHO", "FakeBackend", "FakeConnection", "FakeService", "echo", "fake_config", "fake_plugins"]
