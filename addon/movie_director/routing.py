"""Which instance of a service takes the next piece of work: the one ranking policy.

The manager (queued operations) and the batch runner (``comfyui run --repeat``) both
choose through :func:`rank` / :func:`pick`, so an artist's second GPU box is used the
same way whichever door the work came in by. Pure data in, data out: no I/O here, the
callers read the loads (health checks, ``/queue``) and say which instances can run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceLoad:
    """What is known of one instance right now."""

    url: str
    #: Reachable and accepting work (connected, breaker closed).
    ready: bool
    #: Prompts waiting or running on the server itself (None: it does not say).
    backend_queue: int | None = None
    #: Work we sent there that has not finished.
    in_flight: int = 0
    latency_ms: float | None = None
    #: Relative capacity from the config (2.0: a box twice as fast takes twice the share).
    weight: float = 1.0

    @property
    def load(self) -> float:
        """Work per unit of capacity: what "least loaded" compares."""
        return ((self.backend_queue or 0) + self.in_flight) / max(self.weight, 1e-6)


def rank(loads: Iterable[InstanceLoad]) -> list[InstanceLoad]:
    """Ready instances, best first: least load per weight, then the quicker one, then config order.

    An instance that does not report its latency sorts after those that do at equal load:
    a measured answer is worth more than none.
    """
    ready = [(index, load) for index, load in enumerate(loads) if load.ready]
    ready.sort(key=lambda item: (item[1].load, item[1].latency_ms is None, item[1].latency_ms or 0.0, item[0]))
    return [load for _, load in ready]


def pick(loads: Iterable[InstanceLoad], fits: Callable[[InstanceLoad], bool] | None = None) -> InstanceLoad | None:
    """The best ready instance that ``fits`` the work (has its nodes, its model), or None."""
    return next((load for load in rank(loads) if fits is None or fits(load)), None)


__all__ = ["InstanceLoad", "pick", "rank"]
