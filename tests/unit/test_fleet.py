"""The batch runner over in-process fake instances: spreading, failover without duplicates, capability routing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from movie_director.errors import ConnectionRefused, JobFailed, MovieDirectorError, WorkflowInvalid
from movie_director.fleet import Fleet, InstanceGone, Moved, RunOutcome
from movie_director.routing import InstanceLoad

pytestmark = pytest.mark.timeout(20)


class FakeInstance:
    """Runs work items (strings) at once; ``behaviour(work, sent_count)`` may raise instead."""

    def __init__(self, url: str, *, has: frozenset[str] = frozenset({"base"}), down: bool = False, behaviour: Callable[[str, int], None] | None = None) -> None:
        self.url = url
        self.has = has
        self.down = down
        self.behaviour = behaviour
        self.sent: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.cancelled = False
        self._lock = threading.Lock()

    def load(self) -> InstanceLoad:
        if self.down:
            raise ConnectionRefused(service="Fake")
        return InstanceLoad(url=self.url, ready=True, backend_queue=0, in_flight=0, latency_ms=1.0, weight=1.0)

    def lacks(self, work: str) -> frozenset[str]:
        return frozenset(work.split(":")[0].split("+")) - self.has

    def send(self, work: str) -> str:
        if self.behaviour is not None:
            self.behaviour(work, len(self.sent))
        with self._lock:
            self.sent.append(work)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return f"{self.url}/{len(self.sent)}"

    def finish(self, ident: str) -> Any:
        with self._lock:
            self.in_flight -= 1
        return f"done {ident}"

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        pass


def unfit(lacking: dict[str, frozenset[str]]) -> MovieDirectorError:
    return WorkflowInvalid(f"nobody has {sorted(set().union(*lacking.values()))} (checked {', '.join(lacking)})")


def test_runs_spread_over_every_instance_one_at_a_time_in_order() -> None:
    instances = [FakeInstance(f"http://fake{index}") for index in range(3)]
    outcomes = Fleet(instances, unfit=unfit).run([f"base:{index}" for index in range(30)])
    assert [outcome.index for outcome in outcomes] == list(range(30)) and all(outcome.ok for outcome in outcomes)
    assert sum(len(instance.sent) for instance in instances) == 30
    assert all(instance.most_in_flight == 1 for instance in instances), "one run in flight per instance"


def test_a_refused_send_moves_the_run_quietly_and_drops_the_instance() -> None:
    def refuse(work: str, sent: int) -> None:
        raise ConnectionRefused(service="Fake")

    refusing, healthy = FakeInstance("http://refusing", behaviour=refuse), FakeInstance("http://healthy")
    moved: list[Moved] = []
    outcomes = Fleet([refusing, healthy], unfit=unfit, on_moved=lambda outcome, where, reason: moved.append(where)).run(["base:a", "base:b", "base:c"])
    assert all(outcome.ok and outcome.instance == "http://healthy" and not outcome.moved_from for outcome in outcomes)
    assert not moved and len(healthy.sent) == 3


def test_a_run_on_an_instance_that_went_away_is_moved_and_reported_once() -> None:
    class Dying(FakeInstance):
        def finish(self, ident: str) -> Any:
            raise InstanceGone(ident, f"{self.url} went away")

    dying, healthy = Dying("http://dying"), FakeInstance("http://healthy")
    reports: list[tuple[int, Moved, str]] = []
    outcomes = Fleet([dying, healthy], unfit=unfit, on_moved=lambda outcome, where, reason: reports.append((outcome.index, where, reason))).run(
        ["base:a", "base:b", "base:c"]
    )
    assert all(outcome.ok and outcome.instance == "http://healthy" for outcome in outcomes)
    assert len(dying.sent) == 1, "a dead instance gets nothing more"
    [(index, where, reason)] = reports
    assert where == Moved("http://dying", "http://dying/1") and "went away" in reason
    assert outcomes[index].moved_from == [where] and where.to_dict() == {"instance": "http://dying", "prompt_id": "http://dying/1"}


def test_a_failed_run_is_not_moved() -> None:
    def fail_b(work: str, sent: int) -> None:
        if work == "base:b":
            raise JobFailed("b failed", service="Fake")

    instances = [FakeInstance("http://one", behaviour=fail_b), FakeInstance("http://two", behaviour=fail_b)]
    outcomes = Fleet(instances, unfit=unfit).run(["base:a", "base:b", "base:c"])
    assert [outcome.ok for outcome in outcomes] == [True, False, True] and isinstance(outcomes[1].error, JobFailed)
    assert sum(instance.sent.count("base:b") for instance in instances) == 0 and not outcomes[1].moved_from


def test_work_needing_a_node_only_one_instance_has_goes_there() -> None:
    plain, custom = FakeInstance("http://plain"), FakeInstance("http://custom", has=frozenset({"base", "upscale"}))
    outcomes = Fleet([plain, custom], unfit=unfit).run(["base+upscale:1", "base+upscale:2", "base:3"])
    assert [outcome.instance for outcome in outcomes[:2]] == ["http://custom"] * 2 and outcomes[2].ok


def test_work_no_instance_can_run_is_refused_before_anything_is_sent() -> None:
    instances = [FakeInstance("http://one"), FakeInstance("http://two")]
    with pytest.raises(WorkflowInvalid, match=r"Nobody has \['nowhere'\] \(checked http://one, http://two\)"):
        Fleet(instances, unfit=unfit).run(["base:1", "nowhere:2"])
    assert not any(instance.sent for instance in instances)


def test_down_instances_are_skipped_and_none_up_raises_the_connection_error() -> None:
    skipped: list[str] = []
    up = FakeInstance("http://up")
    outcomes = Fleet([FakeInstance("http://down", down=True), up], unfit=unfit, on_skipped=lambda url, error: skipped.append(url)).run(["base:1"])
    assert skipped == ["http://down"] and outcomes[0].instance == "http://up"
    with pytest.raises(ConnectionRefused):
        Fleet([FakeInstance("http://a", down=True), FakeInstance("http://b", down=True)], unfit=unfit).run(["base:1"])


def test_when_every_instance_refuses_the_remaining_runs_end_with_the_refusal() -> None:
    def refuse(work: str, sent: int) -> None:
        raise ConnectionRefused(service="Fake")

    done: list[RunOutcome] = []
    outcomes = Fleet([FakeInstance("http://a", behaviour=refuse)], unfit=unfit, on_done=done.append).run(["base:1", "base:2"])
    assert [type(outcome.error) for outcome in outcomes] == [ConnectionRefused, ConnectionRefused] and len(done) == 2
