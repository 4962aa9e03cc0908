"""The embedded SQLite database of connection management: the operation queue and the
minute-resolution health history, in the user data dir.

Blender and the CLI may open it at the same time, so:

- WAL journal and a ``busy_timeout``: readers never block the writer, writers queue.
- ``synchronous=FULL``: a committed operation survives a crash of either process.
- Writes that must not race another process use ``BEGIN IMMEDIATE`` (:meth:`Database.transaction`).
- One connection per :class:`Database`, serialised by a lock (the traffic is tiny).
- The schema is versioned with ``PRAGMA user_version`` and migrated forward on open.

:class:`OwnerLock` tells whether the process that claimed an operation is still alive:
it holds an OS file lock for its whole life, and the OS drops that lock when the
process dies, even by SIGKILL. No heartbeats, no PID guessing.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

DATABASE_NAME = "connections.sqlite3"
BUSY_TIMEOUT_MS = 10_000

_MIGRATIONS: tuple[str, ...] = (
    # 1: operation queue and minute health history
    """
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        service TEXT NOT NULL,
        op_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        expires_at REAL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        updated_at REAL NOT NULL,
        result TEXT,
        error TEXT
    );
    CREATE INDEX operations_by_service ON operations (service, state, id);
    CREATE TABLE health_minutes (
        service TEXT NOT NULL,
        minute REAL NOT NULL,
        checks INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        latency_sum REAL NOT NULL,
        latency_max REAL NOT NULL,
        status TEXT NOT NULL,
        metrics TEXT,
        PRIMARY KEY (service, minute)
    );
    """,
    # 2: which server of a service took an operation (a service may have several instances)
    """
    ALTER TABLE operations ADD COLUMN instance TEXT;
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def database_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / DATABASE_NAME


class Database:
    """One SQLite connection to the shared database, safe to use from any of our threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer Movie Director (schema {version}, this one knows {SCHEMA_VERSION})."
                )
            for number in range(version, SCHEMA_VERSION):
                _run_script(conn, _MIGRATIONS[number])
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the database {self.path} is closed")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the database write lock up front (``BEGIN IMMEDIATE``)."""
        with self._lock:
            conn = self.connection
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, sql: str, parameters: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.connection.execute(sql, parameters).fetchall()

    def execute(self, sql: str, parameters: Any = ()) -> int:
        """One auto-committed statement; returns the number of rows changed."""
        with self._lock:
            return self.connection.execute(sql, parameters).rowcount

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT our BEGIN IMMEDIATE first; run statement by statement instead
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


class OwnerLock:
    """This process's identity as a claimer of operations, alive as long as its file lock.

    ``token`` is stored in the ``owner`` column of claimed operations; another process
    calls :func:`owner_alive` to know whether those operations are orphans.
    """

    def __init__(self, data_dir: Path | str) -> None:
        self.folder = Path(data_dir) / "owners"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.path = self.folder / f"{self.token}.lock"
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(self._fd):
            os.close(self._fd)
            raise RuntimeError(f"cannot lock {self.path}")

    def release(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)  # closing drops the lock
        self._fd = None
        try:
            self.path.unlink()
        except OSError:
            pass


def owner_alive(data_dir: Path | str, token: str) -> bool:
    """True while the process that holds ``token`` runs (its lock file is locked)."""
    path = Path(data_dir) / "owners" / f"{token}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        return not _try_lock(fd)  # a lock we can take is held by nobody: the owner died
    finally:
        os.close(fd)


def sweep_dead_owners(data_dir: Path | str) -> int:
    """Delete the lock files of processes that died; returns how many."""
    removed = 0
    for path in (Path(data_dir) / "owners").glob("*.lock"):
        if not owner_alive(data_dir, path.stem):
            remove_dead_owner(data_dir, path.stem)
            removed += 1
    return removed


def remove_dead_owner(data_dir: Path | str, token: str) -> None:
    try:
        (Path(data_dir) / "owners" / f"{token}.lock").unlink()
    except OSError:
        pass


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


__all__ = ["DATABASE_NAME", "SCHEMA_VERSION", "Database", "OwnerLock", "database_path", "owner_alive", "remove_dead_owner", "sweep_dead_owners"]
