"""Shared by the fault-injection suite: the leak check every case runs under, and the client calls.

Test modules reach the helpers through the ``kit`` fixture (``kit.ops["comfyui-submit"]``,
``kit.run(call, bound, unstick)``): with ``--import-mode=importlib`` they cannot import
this module.

Every test here runs inside :func:`no_leaks`: the threads and file descriptors of the
process are counted before the test and must come back to that count afterwards
(polled with a deadline: sockets and reader threads close a moment after the calls
that own them return). No slack is allowed: a case that leaves one socket or one
thread behind fails and names it.

Each backend is driven the way the add-on drives it (see :data:`OPS`): ``probe`` is
the Test button (:func:`movie_director.check.check_service`), ``health`` a fresh
connection's health check as the pool makes it, and the backend's own calls. Every
call gets small timeouts and no urllib3 retries, so a fault shows up as one typed error.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from movie_director.check import adhoc_service, check_service
from movie_director.configdata import ServiceConfig
from movie_director.errors import MovieDirectorError
from movie_director.opqueue import error_from_dict
from movie_director.plugins import get_plugin_manager
from movie_director_testing.processes import wait_until

#: The per-call timeout every case gives its client (connect and read).
TIMEOUT = 0.5
#: A case must end (with its typed error or its result) within TIMEOUT + this.
SLACK = 2.0
LEAK_DEADLINE = 15.0
LITELLM_KEY_ENV = "MOVIE_DIRECTOR_LITELLM_API_KEY"


def graph_for(prompt_id: str) -> dict[str, Any]:
    """The smallest workflow the stand-in runs; its one output file is named after the prompt."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prompt_id}},
    }


# -- leak check ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """The threads and open file descriptors of this process at one moment."""

    threads: frozenset[int]
    fds: frozenset[int]

    @classmethod
    def now(cls) -> Resources:
        listed = [int(fd) for fd in os.listdir("/proc/self/fd")]
        # The listing's own directory fd is closed by now: only count what is still open.
        return cls(frozenset(thread.ident or 0 for thread in threading.enumerate()), frozenset(fd for fd in listed if _target(fd)))

    def extra_over(self, baseline: Resources) -> list[str]:
        """What this moment holds beyond ``baseline``, by name (thread names, fd targets)."""
        if len(self.threads) <= len(baseline.threads) and len(self.fds) <= len(baseline.fds):
            return []
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        extra = [f"thread {names.get(ident, ident)}" for ident in sorted(self.threads - baseline.threads)]
        extra += [f"fd {fd} -> {_target(fd)}" for fd in sorted(self.fds - baseline.fds)]
        return extra or [f"{len(self.threads)} threads / {len(self.fds)} fds, baseline {len(baseline.threads)} / {len(baseline.fds)}"]


def _target(fd: int) -> str:
    """What ``fd`` is open on ("" once it is closed)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail the test when it leaves threads or file descriptors behind (see the module doc).

    Servers a test uses must be among its fixtures (set up before this baseline), not
    started lazily inside it.
    """
    gc.collect()
    baseline = Resources.now()
    yield
    left: list[str] = []

    def back_to_baseline() -> bool:
        nonlocal left
        gc.collect()  # a dropped ServerProcess or session closes its files when collected
        left = Resources.now().extra_over(baseline)
        return not left

    try:
        wait_until(back_to_baseline, LEAK_DEADLINE, interval=0.05, message="threads and fds back to the baseline")
    except TimeoutError:
        pytest.fail(f"leaked after {LEAK_DEADLINE:.0f} s: {'; '.join(left)}", pytrace=False)


# -- running one case ------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one bounded call ended."""

    value: Any = None
    error: MovieDirectorError | None = None
    unexpected: BaseException | None = None
    elapsed: float = 0.0
    hung: bool = False

    @property
    def code(self) -> str:
        if self.hung:
            return "hung"
        if self.unexpected is not None:
            return f"untyped {type(self.unexpected).__name__}: {self.unexpected}"
        return self.error.code if self.error is not None else "ok"

    def describe(self) -> str:
        text = f"{self.code} after {self.elapsed:.2f} s"
        return text + (f" ({self.error.message})" if self.error is not None else "")

    def expect(self, code: str | set[str], bound: float = TIMEOUT + SLACK) -> None:
        """The call ended within ``bound`` with one of the ``code``s ("ok" for a result); errors carry hints."""
        codes = {code} if isinstance(code, str) else code
        wanted = "/".join(sorted(codes))
        assert not self.hung, f"no answer within {bound:.1f} s (expected {wanted})"
        assert self.unexpected is None, f"an untyped error escaped: {self.unexpected!r}"
        assert self.code in codes, f"expected {wanted}, got {self.describe()}"
        if self.error is not None:
            assert self.error.hints, f"{self.error.code} carries no hints"
            assert self.error.message.strip()
        assert self.elapsed <= bound, f"{self.describe()}: slower than {bound:.1f} s"


def run_bounded(call: Callable[[], Any], unstick: Callable[[], None], bound: float = TIMEOUT + SLACK) -> Outcome:
    """Run ``call`` in a thread for at most ``bound`` seconds.

    A call still running then counts as hung: ``unstick`` removes the fault (closes the
    misbehaving server or proxy) so that the thread ends and the leak check stays
    meaningful, and the case fails at once instead of waiting for the fault to end.
    """
    outcome = Outcome()
    started = time.monotonic()

    def target() -> None:
        try:
            outcome.value = call()
        except MovieDirectorError as error:
            outcome.error = error
        except Exception as exc:  # noqa: BLE001 - an untyped error is a finding, reported as such
            outcome.unexpected = exc
        outcome.elapsed = time.monotonic() - started

    worker = threading.Thread(target=target, name="fault-case", daemon=True)
    worker.start()
    worker.join(bound)
    if worker.is_alive():
        outcome.hung = True
        unstick()
        worker.join(30)
        outcome.elapsed = time.monotonic() - started
    return outcome




# -- the calls of each backend ---------------------------------------------------------------


def service_for(url: str, kind: str, timeout: float = TIMEOUT, **overrides: Any) -> ServiceConfig:
    return adhoc_service(url, kind, timeout=timeout, connect_timeout=timeout, retries=0, **overrides)


def probe(kind: str, url: str, **_: Any) -> Any:
    """The Test button: reachable? this kind? healthy? (``check_service``)."""
    report = check_service(url, kind, timeout=TIMEOUT)
    if report.error is not None:
        raise report.error
    return report.probe


def health(kind: str, url: str, **_: Any) -> Any:
    """What the pool does with a new connection: connect, then one health check."""
    backend = get_plugin_manager().backend(kind)
    connection = backend.connect(service_for(url, kind))
    try:
        sample = backend.health(connection)
    finally:
        connection.close()
    if not sample.ok:
        raise error_from_dict(sample.error or {}, kind)
    return sample


def comfyui_submit(kind: str, url: str, prompt_id: str | None = None, wait: float = TIMEOUT + SLACK, **_: Any) -> Any:
    """Queue the tiny workflow under ``prompt_id`` and wait for it to finish."""
    from movie_director_plugins.comfyui.client import ComfyUIClient

    prompt_id = prompt_id or f"md-{uuid.uuid4().hex}"
    with ComfyUIClient(service_for(url, kind)) as client:
        job = client.submit(graph_for(prompt_id), prompt_id=prompt_id)
        return job.wait(wait).status.value


def litellm_chat(kind: str, url: str, **_: Any) -> Any:
    from movie_director_plugins.litellm.client import LiteLLMClient

    with LiteLLMClient(service_for(url, kind)) as client:
        return client.chat("Say hello.", "mock-gpt").text


def litellm_models(kind: str, url: str, **_: Any) -> Any:
    from movie_director_plugins.litellm.client import LiteLLMClient

    with LiteLLMClient(service_for(url, kind)) as client:
        return client.model_ids()


@dataclass(frozen=True)
class Op:
    """One client call of one backend; ``route`` is where its own request goes (None: everywhere)."""

    kind: str
    name: str
    call: Callable[..., Any]
    route: str | None = None

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.name}"


OPS = (
    Op("comfyui", "probe", probe),
    Op("comfyui", "health", health),
    Op("comfyui", "submit", comfyui_submit, "POST /prompt"),
    Op("litellm", "probe", probe),
    Op("litellm", "chat", litellm_chat, "POST /v1/chat/completions"),
    Op("litellm", "models", litellm_models, "GET /v1/models"),
    Op("wan2gp", "probe", probe),
    Op("wan2gp", "health", health),
    Op("gradio", "probe", probe),
    Op("gradio", "health", health),
)


@pytest.fixture(scope="session")
def litellm_key() -> Iterator[str]:
    """The test proxy's master key in the variable the LiteLLM client reads."""
    from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY

    previous = os.environ.get(LITELLM_KEY_ENV)
    os.environ[LITELLM_KEY_ENV] = DEFAULT_MASTER_KEY
    yield DEFAULT_MASTER_KEY
    if previous is None:
        os.environ.pop(LITELLM_KEY_ENV, None)
    else:
        os.environ[LITELLM_KEY_ENV] = previous


def comfyui_runs(url: str, prompt_id: str) -> int:
    """How many times the stand-in ran ``prompt_id``, once it is idle (its output files survive restarts)."""
    wait_until(lambda: not any(requests.get(f"{url}/queue", timeout=5).json().values()), 10, message="ComfyUI idle")
    base_dir = requests.get(f"{url}/_standin/state", timeout=5).json()["base_dir"]
    return len(list(Path(base_dir, "output").glob(f"{prompt_id}_*.png")))


def assert_ran_once_after_a_retry(comfyui_url: str, retry_url: str, prompt_id: str, ok: bool) -> None:
    """No lost and no duplicated prompt: run at most once (once if the call said ok), once after a retry.

    The retry goes through ``retry_url`` with the same ``prompt_id``, as the queue's replay does.
    """
    runs = comfyui_runs(comfyui_url, prompt_id)
    assert runs == 1 if ok else runs <= 1, f"the stand-in ran the prompt {runs} times"
    assert comfyui_submit("comfyui", retry_url, prompt_id=prompt_id, wait=30) == "succeeded"
    assert comfyui_runs(comfyui_url, prompt_id) == 1, "the retry with the same prompt_id ran it again"


@dataclass(frozen=True)
class Kit:
    """The helpers above, for test modules (see the module doc)."""

    timeout: float = TIMEOUT
    bound: float = TIMEOUT + SLACK
    ops: Any = None
    run: Callable[..., Outcome] = run_bounded
    service: Callable[..., ServiceConfig] = service_for
    graph_for: Callable[[str], dict[str, Any]] = graph_for
    comfyui_runs: Callable[[str, str], int] = comfyui_runs
    assert_ran_once_after_a_retry: Callable[..., None] = assert_ran_once_after_a_retry


@pytest.fixture(scope="session")
def kit() -> Kit:
    return Kit(ops={op.id: op for op in OPS})
