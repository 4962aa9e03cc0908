"""The persisted operation queue: work for a service that is down waits here, in order.

Every operation is committed to the shared SQLite database before anything is sent,
so a crash of Blender or of the CLI loses nothing. Replay claims one operation at a
time per service with an atomic ``UPDATE … WHERE state='queued'``, and never while a
live process is running another operation of the same service, so operations run in
submission order and never twice at once, even with Blender and the CLI sharing the
database. An operation left ``running`` by a process that died is put back in the
queue (its executor sees ``is_replay`` and deduplicates with the idempotency key).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from movie_director.clock import SYSTEM_CLOCK, Clock
from movie_director.errors import ALL_ERRORS, JobCancelled, MovieDirectorError, OperationTimeout, QueueFull, ServiceError
from movie_director.operations import Operation, OpState, dumps
from movie_director.store import Database, OwnerLock, owner_alive, remove_dead_owner, sweep_dead_owners

DEFAULT_MAX_SIZE = 1000
#: Finished operations are kept this long for ``status`` and handles, then purged.
RETENTION_S = 7 * 24 * 3600.0
_PENDING = (OpState.QUEUED.value, OpState.RUNNING.value)


class OperationQueue:
    """Bounded per service, persisted, claimed atomically; see the module docstring."""

    def __init__(
        self,
        database: Database,
        data_dir: Path | str,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.database = database
        self.data_dir = Path(data_dir)
        self.max_size = max_size
        self.clock = clock
        self._owner = OwnerLock(self.data_dir)
        self.owner = self._owner.token
        self._changed = threading.Condition()
        self.purge()

    # -- writing ---------------------------------------------------------------------

    def enqueue(
        self,
        service: str,
        op_type: str,
        payload: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        ttl: float | None = None,
        label: str | None = None,
    ) -> Operation:
        """Persist a new operation (or return the existing one with this idempotency key).

        Raises :class:`~movie_director.errors.QueueFull` when ``max_size`` operations of
        ``service`` are already waiting.
        """
        key = idempotency_key or uuid.uuid4().hex
        now = self.clock.time()
        text = dumps(dict(payload))
        with self.database.transaction() as conn:
            existing = conn.execute("SELECT * FROM operations WHERE idempotency_key = ?", (key,)).fetchone()
            if existing is not None:
                return _operation(existing)
            waiting = conn.execute(
                "SELECT COUNT(*) FROM operations WHERE service = ? AND state IN (?, ?)", (service, *_PENDING)
            ).fetchone()[0]
            if waiting >= self.max_size:
                raise QueueFull(
                    f"{waiting} operations are already waiting for {label or service} (the limit is {self.max_size}).",
                    service=label or service,
                    details={"limit": self.max_size, "waiting": waiting},
                )
            cursor = conn.execute(
                "INSERT INTO operations (service, op_type, payload, idempotency_key, created_at, expires_at, state, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (service, op_type, text, key, now, now + ttl if ttl else None, OpState.QUEUED.value, now),
            )
            row = conn.execute("SELECT * FROM operations WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return _operation(row)

    def claim_next(self, service: str, instances: Collection[str] | None = None) -> Operation | None:
        """Take the oldest queued operation of ``service`` for this process, or ``None``.

        ``None`` also while another live process runs one of this service's operations
        (order is per service, across processes). Orphans of dead processes are
        re-queued first. With ``instances`` (the servers ready now), an operation held
        for another server (see :meth:`requeue`) is passed over: it waits for its server.
        """
        now = self.clock.time()
        with self.database.transaction() as conn:
            self._requeue_orphans(conn, service)
            if conn.execute("SELECT 1 FROM operations WHERE service = ? AND state = ? LIMIT 1", (service, OpState.RUNNING.value)).fetchone():
                return None
            held = ""
            parameters: tuple[Any, ...] = (service, OpState.QUEUED.value)
            if instances is not None:
                held = f" AND (instance IS NULL OR instance IN ({', '.join('?' * len(instances))}))"
                parameters += tuple(instances)
            row = conn.execute(f"SELECT id FROM operations WHERE service = ? AND state = ?{held} ORDER BY id LIMIT 1", parameters).fetchone()
            if row is None:
                return None
            changed = conn.execute(
                "UPDATE operations SET state = ?, owner = ?, attempts = attempts + 1, updated_at = ? WHERE id = ? AND state = ?",
                (OpState.RUNNING.value, self.owner, now, row["id"], OpState.QUEUED.value),
            ).rowcount
            if changed != 1:
                return None
            return _operation(conn.execute("SELECT * FROM operations WHERE id = ?", (row["id"],)).fetchone())

    def _requeue_orphans(self, conn: sqlite3.Connection, service: str | None) -> int:
        sql = "SELECT id, owner FROM operations WHERE state = ?" + (" AND service = ?" if service else "")
        rows = conn.execute(sql, (OpState.RUNNING.value, service) if service else (OpState.RUNNING.value,)).fetchall()
        dead = {row["owner"] for row in rows if row["owner"] != self.owner and not owner_alive(self.data_dir, row["owner"])}
        count = 0
        for token in dead:
            count += conn.execute(
                "UPDATE operations SET state = ?, owner = NULL, updated_at = ? WHERE state = ? AND owner = ?",
                (OpState.QUEUED.value, self.clock.time(), OpState.RUNNING.value, token),
            ).rowcount
            remove_dead_owner(self.data_dir, token)
        return count

    def recover_orphans(self) -> int:
        """Put back every operation claimed by a process that died; returns how many."""
        with self.database.transaction() as conn:
            count = self._requeue_orphans(conn, None)
        sweep_dead_owners(self.data_dir)  # also those that died holding nothing
        return count

    def complete(self, op_id: int, result: Any) -> Operation:
        return self._finish(op_id, OpState.DONE, result=result)

    def fail(self, op_id: int, error: MovieDirectorError) -> Operation:
        return self._finish(op_id, OpState.FAILED, error=error.to_dict())

    def requeue(self, op_id: int, error: MovieDirectorError, *, held: bool = True) -> Operation:
        """Back to the head of the queue (the service went away while it ran).

        ``held``: it stays with the server that took it (the request may have reached it,
        so only that server can tell whether it ran); otherwise any server may take it.
        """
        return self._finish(op_id, OpState.QUEUED, error=error.to_dict(), keep_instance=held)

    def assign(self, op_id: int, instance: str) -> Operation:
        """Record the server a running operation of this process is sent to."""
        with self.database.transaction() as conn:
            conn.execute("UPDATE operations SET instance = ? WHERE id = ? AND owner = ?", (instance, op_id, self.owner))
            return _operation(conn.execute("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone())

    def _finish(
        self, op_id: int, state: OpState, result: Any = None, error: Mapping[str, Any] | None = None, keep_instance: bool = True
    ) -> Operation:
        with self.database.transaction() as conn:
            conn.execute(
                "UPDATE operations SET state = ?, owner = NULL, updated_at = ?, result = ?, error = ?"
                + ("" if keep_instance else ", instance = NULL")
                + " WHERE id = ? AND owner = ? AND state = ?",
                (
                    state.value,
                    self.clock.time(),
                    dumps(result) if result is not None else None,
                    dumps(error) if error is not None else None,
                    op_id,
                    self.owner,
                    OpState.RUNNING.value,
                ),
            )
            operation = _operation(conn.execute("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone())
        self._notify()
        return operation

    def cancel(self, op_id: int) -> bool:
        """Cancel a queued operation; ``False`` when it already runs or finished."""
        changed = self.database.execute(
            "UPDATE operations SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
            (OpState.CANCELLED.value, self.clock.time(), op_id, OpState.QUEUED.value),
        )
        self._notify()
        return changed == 1

    def expire(self) -> list[Operation]:
        """Mark queued operations past their expiry as expired; returns them."""
        now = self.clock.time()
        with self.database.transaction() as conn:
            rows = conn.execute(
                "SELECT id FROM operations WHERE state = ? AND expires_at IS NOT NULL AND expires_at <= ?", (OpState.QUEUED.value, now)
            ).fetchall()
            ids = [row["id"] for row in rows]
            for op_id in ids:
                conn.execute("UPDATE operations SET state = ?, updated_at = ? WHERE id = ?", (OpState.EXPIRED.value, now, op_id))
            expired = [_operation(conn.execute("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone()) for op_id in ids]
        if expired:
            self._notify()
        return expired

    def purge(self, retention: float = RETENTION_S) -> int:
        """Forget finished operations older than ``retention`` seconds."""
        finals = [state.value for state in OpState if state.final]
        return self.database.execute(
            f"DELETE FROM operations WHERE state IN ({', '.join('?' * len(finals))}) AND updated_at < ?",
            (*finals, self.clock.time() - retention),
        )

    # -- reading ---------------------------------------------------------------------

    def get(self, op_id: int) -> Operation | None:
        rows = self.database.query("SELECT * FROM operations WHERE id = ?", (op_id,))
        return _operation(rows[0]) if rows else None

    def pending(self, service: str | None = None, limit: int = 1000) -> list[Operation]:
        """Queued and running operations, oldest first."""
        where = "state IN (?, ?)" + (" AND service = ?" if service else "")
        parameters: tuple[Any, ...] = (*_PENDING, service) if service else _PENDING
        rows = self.database.query(f"SELECT * FROM operations WHERE {where} ORDER BY id LIMIT ?", (*parameters, limit))
        return [_operation(row) for row in rows]

    def depth(self, service: str) -> int:
        """Waiting (queued + running) operations of ``service``."""
        rows = self.database.query("SELECT COUNT(*) FROM operations WHERE service = ? AND state IN (?, ?)", (service, *_PENDING))
        return int(rows[0][0])

    def depths(self) -> dict[str, int]:
        """Waiting (queued + running) operations per service."""
        rows = self.database.query("SELECT service, COUNT(*) AS n FROM operations WHERE state IN (?, ?) GROUP BY service", _PENDING)
        return {row["service"]: row["n"] for row in rows}

    def handle(self, op_id: int) -> OperationHandle:
        return OperationHandle(self, op_id)

    # -- waiting ---------------------------------------------------------------------

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_for_change(self, timeout: float) -> None:
        """Sleep until an operation of this process changes, or ``timeout`` (other processes: poll)."""
        with self._changed:
            self._changed.wait(timeout)

    def close(self) -> None:
        self._notify()
        self._owner.release()


class OperationHandle:
    """What ``submit`` returns: wait for the result, or cancel while it is still queued."""

    #: Longest sleep between two looks at the database (another process may finish it).
    POLL_S = 0.25

    def __init__(self, queue: OperationQueue, op_id: int) -> None:
        self.queue = queue
        self.id = op_id

    def operation(self) -> Operation:
        operation = self.queue.get(self.id)
        if operation is None:
            raise ServiceError(f"Operation #{self.id} is no longer in the queue (it finished more than a week ago).")
        return operation

    @property
    def state(self) -> OpState:
        return self.operation().state

    def done(self) -> bool:
        return self.state.final

    def cancel(self) -> bool:
        return self.queue.cancel(self.id)

    def wait(self, timeout: float | None = None) -> Any:
        """The executor's result; raises the operation's typed error if it failed.

        Raises :class:`~movie_director.errors.OperationTimeout` if it is not finished
        after ``timeout`` seconds (it stays queued), or if it expired.
        """
        clock = self.queue.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        while True:
            operation = self.operation()
            if operation.state.final:
                return _outcome(operation)
            remaining = self.POLL_S if deadline is None else deadline - clock.monotonic()
            if remaining <= 0:
                raise OperationTimeout(
                    f"Operation #{self.id} ({operation.op_type}) is still {operation.state.value} after {timeout:.0f} s.",
                    service=operation.service,
                    details={"id": self.id, "state": operation.state.value},
                )
            self.queue.wait_for_change(min(remaining, self.POLL_S))

    def __repr__(self) -> str:
        return f"<OperationHandle #{self.id}>"


def _outcome(operation: Operation) -> Any:
    if operation.state is OpState.DONE:
        return operation.result
    if operation.state is OpState.CANCELLED:
        raise JobCancelled(f"Operation #{operation.id} ({operation.op_type}) was cancelled before it was sent.", service=operation.service)
    if operation.state is OpState.EXPIRED:
        raise OperationTimeout(
            f"Operation #{operation.id} ({operation.op_type}) expired before {operation.service} came back.",
            service=operation.service,
            hints=["Submit it again once the service is back, or give it a longer expiry."],
        )
    raise error_from_dict(operation.error or {}, operation.service)


_BY_CODE = {cls.code: cls for cls in ALL_ERRORS}


def error_from_dict(data: Mapping[str, Any], service: str | None = None) -> MovieDirectorError:
    """Rebuild a typed error stored as ``to_dict()`` (in the queue, in another process)."""
    cls = _BY_CODE.get(str(data.get("code", "")), ServiceError)
    return cls(data.get("message") or None, service=data.get("service") or service, hints=data.get("hints"), details=data.get("details"))


def _operation(row: sqlite3.Row) -> Operation:
    return Operation(
        id=row["id"],
        service=row["service"],
        op_type=row["op_type"],
        payload=json.loads(row["payload"]),
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        state=OpState(row["state"]),
        attempts=row["attempts"],
        owner=row["owner"],
        updated_at=row["updated_at"],
        result=json.loads(row["result"]) if row["result"] is not None else None,
        error=json.loads(row["error"]) if row["error"] is not None else None,
        instance=row["instance"],
    )


__all__ = ["DEFAULT_MAX_SIZE", "OperationHandle", "OperationQueue", "error_from_dict"]
