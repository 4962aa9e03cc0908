"""Real server processes on free loopback ports, for tests, benchmarks and the demo.

A test backend is a child process we can start, kill (SIGKILL, as a crash) and
restart on the same port; readiness is polled with a deadline, never slept for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TypeVar

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class GiveUp(RuntimeError):
    """Raised by a `wait_until` predicate to stop waiting at once (e.g. the server died)."""


#: How a CLI process ended by Ctrl-C looks to ``Popen.returncode``: killed by SIGINT, as shells
#: expect (``$?`` shows 130); ``main()`` called in-process returns 130.
ENDED_BY_CTRL_C = -signal.SIGINT


def interruptible() -> None:
    """``preexec_fn`` of a child a test will Ctrl-C: SIGINT back to its default.

    A shell's background job (CI started with ``&``) runs with SIGINT ignored, children
    inherit that, and Python then installs no KeyboardInterrupt: the signal would be lost.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll `predicate` until it returns something truthy; raise TimeoutError at the deadline.

    Exceptions raised by the predicate count as "not yet" (a server that is still
    starting refuses connections), except :class:`GiveUp`, which ends the wait.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as exc:  # noqa: BLE001 - "not ready yet" takes many forms
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"{message} not reached within {timeout:.1f}s{detail}")
        time.sleep(interval)


def port_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connect to (host, port) succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ready(path: str = "/", statuses: Sequence[int] = (200,)) -> Callable[[ServerProcess], bool]:
    """A readiness check: GET `path` answers with one of `statuses`.

    Uses the standard library with no proxy so that it works in any environment.
    """
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def check(server: ServerProcess) -> bool:
        try:
            with opener.open(server.url + path, timeout=1.0) as response:
                return response.status in statuses
        except urllib.error.HTTPError as error:
            return error.code in statuses

    return check


class ServerProcess:
    """A server started as a child process, with readiness polling and crash simulation.

    `argv` may contain `{port}` and `{host}`, filled in at start. `ready` is called
    with the instance and must return truthy once the server answers; by default a TCP
    connect to the port is enough. `private_dir` (the server's files: outputs, config)
    belongs to it: it goes with the log file at `close()`, or when the object is
    collected or the interpreter exits, whichever comes first.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int | None = None,
        host: str = LOOPBACK,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        ready: Callable[[ServerProcess], object] | None = None,
        start_timeout: float = 60.0,
        private_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port or free_port(host)
        self._argv = list(argv)
        self._env = {**os.environ, **(env or {})}
        self._cwd = cwd
        self._ready = ready or (lambda server: port_accepts(server.host, server.port))
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix=f"md-{name}-", suffix=".log", delete=False)
        self._remove_files = weakref.finalize(self, _remove_files, self._log, private_dir)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def log_path(self) -> str:
        return self._log.name

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def argv(self) -> list[str]:
        return [part.format(port=self.port, host=self.host) for part in self._argv]

    def start(self) -> ServerProcess:
        """Start the process and block until it is ready (or raise with its log tail)."""
        if self.running:
            return self
        self._process = subprocess.Popen(
            self.argv(),
            env=self._env,
            cwd=self._cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(self._ready_or_dead, self._start_timeout, interval=0.05, message=f"{self.name} ready")
        except Exception as exc:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"{self.name} did not start on port {self.port} ({exc}):\n{tail}") from None
        return self

    def _ready_or_dead(self) -> object:
        if self._process is not None and self._process.poll() is not None:
            raise GiveUp(f"{self.name} exited with code {self._process.returncode}")
        return self._ready(self)

    def kill(self) -> None:
        """Crash the server (SIGKILL to its whole process group) and wait for the port to free."""
        self._signal(signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to stop (SIGTERM), then SIGKILL after `timeout`."""
        if not self.running:
            return
        self._signal(signal.SIGTERM, timeout)

    def _signal(self, sig: int, timeout: float = 10.0) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        wait_until(lambda: not port_accepts(self.host, self.port), timeout, message=f"{self.name} port freed")

    def restart(self) -> ServerProcess:
        """Stop (if needed) and start again on the same port."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        with open(self._log.name, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self.start()

    def close(self) -> None:
        """Stop the server for good and remove its log file and private directory."""
        self.stop()
        self._remove_files()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _remove_files(log: IO[bytes], private_dir: str | os.PathLike[str] | None) -> None:
    """A server's log file and private directory (a finalizer: must not hold the server)."""
    log.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(log.name)
    if private_dir is not None:
        shutil.rmtree(private_dir, ignore_errors=True)
