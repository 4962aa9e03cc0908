"""Operations as data, and the registry of executors that run them.

An operation must survive a crash of Blender, so it is data, never a closure:
``(service, op_type, payload JSON, idempotency_key, created_at, expires_at, state,
attempts, result/error)``. Running it means calling the executor registered for its
``op_type`` with an :class:`OperationContext` (the service, its backend, a pooled
connection, the operation). A backend plugin contributes its executors through the
``register_operations`` hook, and the plugin manager enters them here::

    def submit(ctx):            # ctx.connection comes from the pool, ctx.idempotency_key
        return ctx.backend.submit(ctx.connection, ctx.payload["workflow"], prompt_id=ctx.idempotency_key)

    @hookimpl
    def register_operations(register):
        register("comfyui.submit", submit)

The core's own ``http.request`` (and the test suite's stand-ins) are entered with
:func:`register_operation` directly.

Executors run again after a crash or a lost connection (``ctx.is_replay``): where the
protocol allows, they must use ``ctx.idempotency_key`` so the server never does the
work twice (ComfyUI takes a client-chosen ``prompt_id``). They raise our typed errors:
a :class:`~movie_director.errors.ConnectionProblem` puts the operation back in the queue
(the service went away), any other error fails it for good.

Payloads are stored on disk: never put a secret in one (auth comes from the service's
settings).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from movie_director.errors import InvalidConfigError, describe_unexpected

if TYPE_CHECKING:
    from movie_director.backend import Backend, Connection
    from movie_director.configdata import ServiceConfig


class OpState(str, Enum):
    """Life of a queued operation; the last four are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self not in (OpState.QUEUED, OpState.RUNNING)


@dataclass(frozen=True)
class Operation:
    """One operation as stored in the queue."""

    id: int
    service: str
    op_type: str
    payload: Mapping[str, Any]
    idempotency_key: str
    created_at: float
    expires_at: float | None
    state: OpState
    attempts: int = 0
    owner: str | None = None
    updated_at: float = 0.0
    result: Any = None
    error: Mapping[str, Any] | None = None
    #: URL of the server that took it (None while no server has); a queued operation that
    #: keeps it may have reached that server, and waits for it rather than move.
    instance: str | None = None

    def summary(self) -> dict[str, Any]:
        """The small view the status command and the add-on list."""
        return {
            "id": self.id,
            "op_type": self.op_type,
            "state": self.state.value,
            "attempts": self.attempts,
            "instance": self.instance,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "service": self.service,
            "idempotency_key": self.idempotency_key,
            "updated_at": self.updated_at,
            "result": self.result,
            "error": dict(self.error) if self.error else None,
        }


@dataclass(frozen=True)
class OperationContext:
    """What an executor gets: the service, its backend, a pooled connection, the operation."""

    service: ServiceConfig
    backend: Backend[Any]
    connection: Connection
    operation: Operation

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.operation.payload

    @property
    def idempotency_key(self) -> str:
        return self.operation.idempotency_key

    @property
    def is_replay(self) -> bool:
        """True when an earlier attempt may have reached the server."""
        return self.operation.attempts > 1


OperationExecutor = Callable[[OperationContext], Any]

_executors: dict[str, OperationExecutor] = {}
_lock = threading.Lock()


def register_operation(op_type: str, executor: OperationExecutor, *, replace: bool = False) -> None:
    """Make ``op_type`` runnable. A second registration of one type is refused unless ``replace``."""
    with _lock:
        if op_type in _executors and not replace and _executors[op_type] is not executor:
            raise ValueError(f"an executor for {op_type!r} is already registered")
        _executors[op_type] = executor


def unregister_operation(op_type: str) -> None:
    with _lock:
        _executors.pop(op_type, None)


def executor_for(op_type: str) -> OperationExecutor:
    with _lock:
        executor = _executors.get(op_type)
        known = ", ".join(sorted(_executors))
    if executor is None:
        raise InvalidConfigError(
            f"No installed plugin can run operations of type {op_type!r} (known: {known}).",
            hints=["Install or enable the plugin that provides it, then run `movie-director plugins`."],
        )
    return executor


def registered_operations() -> list[str]:
    with _lock:
        return sorted(_executors)


# -- the generic executor ---------------------------------------------------------------

HTTP_REQUEST = "http.request"


def http_request(ctx: OperationContext) -> dict[str, Any]:
    """``http.request``: one HTTP call to the service, idempotent on replay through ``dedupe``.

    Payload: ``method``, ``path``, optional ``json``, ``headers``, ``timeout`` and
    ``dedupe``, a list of ``{"path": "/history/{key}", "contains_key": false}`` checks
    run before a replay: a GET whose JSON body is non-empty (or whose text contains the
    idempotency key, with ``contains_key``) proves the first attempt reached the
    server, and the request is not sent again.
    """
    from movie_director.http import build_session, call

    payload = ctx.payload
    session = _session_of(ctx.connection)
    own_session = session is None
    if session is None:
        session = build_session(ctx.service, pool_size=1)
    label = ctx.backend.display_name or ctx.service.name
    base = ctx.service.url.rstrip("/")
    try:
        if ctx.is_replay:
            for check in payload.get("dedupe", ()):
                path = str(check["path"]).format(key=ctx.idempotency_key)
                response = call(session, "GET", base + path, service=label, timeout=ctx.service.timeouts)
                if _proves_receipt(response, ctx.idempotency_key, bool(check.get("contains_key")), label):
                    return {"status": None, "deduplicated": True, "evidence": path}
        kwargs: dict[str, Any] = {"headers": dict(payload.get("headers") or {})}
        if "json" in payload:
            kwargs["json"] = payload["json"]
        kwargs["timeout"] = (ctx.service.connect_timeout, float(payload["timeout"])) if payload.get("timeout") else ctx.service.timeouts
        response = call(session, str(payload.get("method", "GET")).upper(), base + str(payload["path"]), service=label, start_hint=ctx.backend.start_hint, **kwargs)
        return {"status": response.status_code, "body": _body_of(response)}
    finally:
        if own_session:
            session.close()


def _session_of(connection: Any) -> Any:
    import requests

    if isinstance(connection, requests.Session):
        return connection
    session = getattr(connection, "session", None)
    return session if isinstance(session, requests.Session) else None


def _proves_receipt(response: Any, key: str, contains_key: bool, label: str) -> bool:
    if contains_key:
        return key in response.text
    try:
        return bool(response.json())
    except ValueError:
        raise describe_unexpected(response.content[:2048], label, "JSON") from None


def _body_of(response: Any) -> Any:
    if "json" in response.headers.get("Content-Type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    text = response.text
    return text if len(text) <= 4000 else text[:4000]


def dumps(value: Any) -> str:
    """JSON as the queue stores it (compact, UTF-8 kept)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


register_operation(HTTP_REQUEST, http_request)

__all__ = [
    "HTTP_REQUEST",
    "OpState",
    "Operation",
    "OperationContext",
    "OperationExecutor",
    "executor_for",
    "http_request",
    "register_operation",
    "registered_operations",
    "unregister_operation",
]
