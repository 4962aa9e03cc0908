"""The ranking policy every router uses: least load per weight, then latency, then config order."""

from __future__ import annotations

from movie_director.routing import InstanceLoad, pick, rank


def load(url: str, queue: int | None = 0, in_flight: int = 0, latency: float | None = 10.0, weight: float = 1.0, ready: bool = True) -> InstanceLoad:
    return InstanceLoad(url, ready, queue, in_flight, latency, weight)


def test_the_least_loaded_ready_instance_comes_first() -> None:
    ranked = rank([load("a", queue=2), load("b", queue=0, in_flight=1), load("c", ready=False, queue=0), load("d", queue=0)])
    assert [item.url for item in ranked] == ["d", "b", "a"]


def test_weight_divides_the_load() -> None:
    assert pick([load("small", queue=1), load("big", queue=1, weight=2.0)]).url == "big"


def test_at_equal_load_the_quicker_then_the_first_configured_wins() -> None:
    assert pick([load("slow", latency=80.0), load("quick", latency=5.0)]).url == "quick"
    assert pick([load("first", latency=None), load("second", latency=None)]).url == "first"
    assert pick([load("unmeasured", latency=None), load("measured", latency=500.0)]).url == "measured"


def test_an_instance_that_does_not_fit_the_work_is_skipped() -> None:
    loads = [load("idle-without-node"), load("busy-with-node", queue=3)]
    assert pick(loads, fits=lambda item: item.url == "busy-with-node").url == "busy-with-node"
    assert pick(loads, fits=lambda item: False) is None
    assert pick([load("down", ready=False)]) is None
