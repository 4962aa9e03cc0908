"""ComfyUI's side of a batch (``comfyui run --repeat N``): distinct runs of one graph, and one instance as a fleet member.

Runs must differ, or ComfyUI would answer the second one from its cache and every run
would overwrite the first's files: each run gets a ``filename_prefix`` suffix (``_r03``)
and its ``seed``/``noise_seed`` inputs raised by its index.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from movie_director.configdata import ServiceConfig
from movie_director.errors import (
    ConnectionProblem,
    JobCancelled,
    MalformedResponse,
    MovieDirectorError,
    NotFound,
    OperationTimeout,
    WorkflowInvalid,
    map_exception,
)
from movie_director.fleet import InstanceGone
from movie_director.routing import InstanceLoad
from movie_director_plugins.comfyui.backend import ComfyUIBackend
from movie_director_plugins.comfyui.client import LABEL, START_HINT, ComfyUIClient
from movie_director_plugins.comfyui.jobs import Job
from movie_director_plugins.comfyui.outputs import OutputFile
from movie_director_plugins.comfyui.session import SocketState
from movie_director_plugins.comfyui.workflow import Graph, is_link, node_error

#: Inputs that pick the noise: raised per run so that runs differ.
SEED_INPUTS = ("seed", "noise_seed")
#: How often a run's wait looks whether its instance went away, while no event arrives.
GONE_CHECK_S = 0.25
PORT_CHECK_TIMEOUT_S = 0.5


def distinct_runs(graph: Graph, count: int) -> list[Graph]:
    """``count`` copies of ``graph``, run i (from 1) with ``filename_prefix`` + ``_r{i:02}`` and seeds + i - 1."""
    width = max(2, len(str(count)))
    runs = []
    for index in range(count):
        run = copy.deepcopy(dict(graph))
        for node in run.values():
            inputs = node["inputs"]
            prefix = inputs.get("filename_prefix")
            if isinstance(prefix, str):
                inputs["filename_prefix"] = f"{prefix}_r{index + 1:0{width}}"
            for name in SEED_INPUTS:
                if isinstance(inputs.get(name), int) and not isinstance(inputs[name], bool) and not is_link(inputs[name]):
                    inputs[name] += index
        runs.append(run)
    return runs


def no_instance_can_run(lacking: Mapping[str, frozenset[str]]) -> WorkflowInvalid:
    """The error for a workflow whose nodes no instance has all of: names the nodes and the instances checked."""
    missing = sorted(set().union(*lacking.values()))
    checked = ", ".join(lacking)
    return WorkflowInvalid(
        f"No {LABEL} instance has every node this workflow uses: {', '.join(missing)} (checked {checked}).",
        service=LABEL,
        hints=[
            f"Install the custom nodes that provide {', '.join(missing)} on one {LABEL} instance and restart it.",
            "Or list an instance that has them in the comfyui service's instances.",
        ],
        details={
            "missing_nodes": missing,
            "instances": {url: sorted(nodes) for url, nodes in lacking.items()},
            "node_errors": {name: node_error(name, "missing_node_type", f"{name} is not installed on any instance", name) for name in missing},
        },
    )


class ComfyUIMember:
    """One ComfyUI instance in a batch: its client, its runs' jobs, and whether its process went away."""

    def __init__(self, service: ServiceConfig, out: Path, *, validate: bool = True, weight: float = 1.0, deadline: float | None = None) -> None:
        self.url = service.url
        self.service = service
        self.out = out
        self.validate = validate
        self.weight = weight
        self.deadline = deadline
        self.client = ComfyUIClient(service)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def load(self) -> InstanceLoad:
        """The instance's queue depth and latency; a closed port fails in milliseconds, not after the HTTP retries."""
        try:
            ComfyUIBackend().reachable(self.service, self.service.connect_timeout)
        except OSError as exc:
            raise map_exception(exc, LABEL, START_HINT) from exc
        started = time.monotonic()
        depth = self.client.queue().depth
        latency = (time.monotonic() - started) * 1000
        return InstanceLoad(url=self.url, ready=True, backend_queue=depth, in_flight=0, latency_ms=latency, weight=self.weight)

    def lacks(self, graph: Graph) -> frozenset[str]:
        """Node classes of ``graph`` this instance does not offer (none known when it has no node list)."""
        if not self.validate:
            return frozenset()
        try:
            info = self.client.object_info()
        except (NotFound, MalformedResponse, ConnectionProblem):  # no list, or gone since its probe: sending will tell
            return frozenset()
        return frozenset(node["class_type"] for node in graph.values()) - info.keys()

    def send(self, graph: Graph) -> str:
        job = self.client.submit(graph, validate=self.validate)
        with self._lock:
            self._jobs[job.prompt_id] = job
        return job.prompt_id

    def finish(self, ident: str) -> list[tuple[OutputFile, Path]]:
        """Wait for the run, then download its files; InstanceGone when the process died before its success was seen."""
        job = self._jobs[ident]
        version = -1
        while not job.done and not self._stopping.is_set():
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise OperationTimeout(
                    f"The job {ident} on {self.url} did not finish in time; it keeps running there.",
                    service=LABEL,
                    hints=["Raise --timeout, or follow the job in ComfyUI."],
                    details={"prompt_id": ident, "instance": self.url},
                )
            version = job.wait_for_change(version, GONE_CHECK_S)
            if not job.done and self._gone():
                raise InstanceGone(ident, f"{self.url} went away (its connection closed and its port refuses)")
        if not job.done:
            raise JobCancelled(f"The job {ident} on {self.url} was interrupted.", service=LABEL, details={"prompt_id": ident})
        job.wait(0)
        files = job.outputs()
        return list(zip(files, self.client.download(files, self.out)))

    def cancel(self) -> None:
        """Interrupt this instance's unfinished runs on the server and stop waiting for them (Ctrl-C)."""
        self._stopping.set()
        with self._lock:
            jobs = [job for job in self._jobs.values() if not job.done]
        for job in jobs:
            with contextlib.suppress(MovieDirectorError):
                job.cancel()

    def close(self) -> None:
        self.client.close()

    def _gone(self) -> bool:
        """The link to the instance is down AND its port refuses: the process (and its in-memory queue) is gone."""
        link_lost = self.client.socket_state is SocketState.RECONNECTING or self.client.tracker.last_error is not None  # socket, or polling
        if not link_lost:
            return False
        try:
            ComfyUIBackend().reachable(self.service, PORT_CHECK_TIMEOUT_S)
        except ConnectionRefusedError:
            return True
        except OSError:
            return False  # silent, not refusing: it may still be there
        return False


__all__ = ["ComfyUIMember", "distinct_runs", "no_instance_can_run"]
