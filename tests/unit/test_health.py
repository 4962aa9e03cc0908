"""Health rules, system status and the scheduler's decisions (fake clock: no sleeping)."""

from __future__ import annotations

import threading

import pytest

from movie_director.backend import HealthSample, Status
from movie_director.clock import FakeClock
from movie_director.health import SPEC_NAMES, HealthScheduler, HealthTracker, system_status
from movie_director_testing.processes import wait_until

OK_FAST = HealthSample(ok=True, latency_ms=20.0)
OK_SLOW = HealthSample(ok=True, latency_ms=1000.0)
FAIL = HealthSample(ok=False, latency_ms=2.0, error={"code": "connection_refused"})


def statuses(samples: list[HealthSample]) -> list[Status]:
    tracker = HealthTracker()
    return [tracker.record(sample)[1] for sample in samples]


def test_the_rule_table_of_the_spec():
    assert statuses([OK_FAST, FAIL, FAIL, FAIL, OK_FAST]) == [
        Status.ONLINE,
        Status.DEGRADED,
        Status.DEGRADED,
        Status.OFFLINE,
        Status.ONLINE,
    ]
    assert [SPEC_NAMES[s] for s in statuses([OK_FAST, FAIL, FAIL, FAIL, OK_FAST])] == ["healthy", "degraded", "degraded", "unhealthy", "healthy"]


def test_slow_success_is_degraded_and_never_checked_is_unknown():
    assert HealthTracker().status is Status.UNKNOWN
    assert statuses([OK_SLOW]) == [Status.DEGRADED]
    assert statuses([HealthSample(ok=True, latency_ms=999.9)]) == [Status.ONLINE]


def test_a_success_resets_the_failure_count():
    assert statuses([FAIL, FAIL, OK_FAST, FAIL, FAIL]) == [Status.DEGRADED] * 2 + [Status.ONLINE] + [Status.DEGRADED] * 2


def test_record_returns_old_and_new():
    tracker = HealthTracker()
    assert tracker.record(OK_FAST) == (Status.UNKNOWN, Status.ONLINE)
    assert tracker.record(OK_SLOW) == (Status.ONLINE, Status.DEGRADED)
    assert tracker.last_sample is OK_SLOW


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ([(Status.OFFLINE, True), (Status.ONLINE, False)], Status.OFFLINE),
        ([(Status.ONLINE, True), (Status.OFFLINE, False)], Status.DEGRADED),
        ([(Status.ONLINE, True), (Status.DEGRADED, False)], Status.DEGRADED),
        ([(Status.ONLINE, True), (Status.ONLINE, False)], Status.ONLINE),
        ([(Status.ONLINE, True), (Status.UNKNOWN, False)], Status.UNKNOWN),
        ([], Status.UNKNOWN),
    ],
)
def test_system_status(services, expected):
    assert system_status(services) is expected


def test_the_scheduler_hands_out_due_keys_in_due_order_and_sleeps_until_the_next():
    clock = FakeClock()
    scheduler = HealthScheduler(lambda key: None, clock=clock)
    scheduler.set_due("llm", 60)
    scheduler.set_due("comfyui", 30)
    assert scheduler.take_due(clock.monotonic()) == []
    assert scheduler.seconds_to_next(clock.monotonic()) == 30
    clock.advance(60)
    assert scheduler.take_due(clock.monotonic()) == ["comfyui", "llm"]
    assert scheduler.seconds_to_next(clock.monotonic()) is None  # nothing planned: sleep until told
    assert scheduler.next_due_in("comfyui") == 0.0  # running


def test_a_running_key_is_not_handed_out_twice_and_check_now_runs_it_again_after():
    clock = FakeClock()
    scheduler = HealthScheduler(lambda key: None, clock=clock)
    scheduler.check_now("comfyui")
    assert scheduler.take_due(clock.monotonic()) == ["comfyui"]
    scheduler.check_now("comfyui")
    assert scheduler.take_due(clock.monotonic()) == []
    scheduler.finished("comfyui")
    assert scheduler.take_due(clock.monotonic()) == ["comfyui"]


def test_remove_and_next_due_in():
    clock = FakeClock()
    scheduler = HealthScheduler(lambda key: None, clock=clock)
    scheduler.set_due("a", 5)
    assert scheduler.next_due_in("a") == 5
    scheduler.remove("a")
    assert scheduler.next_due_in("a") is None


def test_the_scheduler_thread_runs_checks_and_joins_its_threads_on_close():
    before = set(threading.enumerate())
    runs: list[str] = []
    scheduler: HealthScheduler

    def run(key: str) -> None:
        runs.append(key)
        if key == "boom":
            raise RuntimeError("a broken check must not stop the others")
        if runs.count(key) < 3:
            scheduler.set_due(key, 0)

    scheduler = HealthScheduler(run, max_workers=2)
    scheduler.start()
    scheduler.check_now("boom")
    scheduler.check_now("comfyui")
    wait_until(lambda: runs.count("comfyui") == 3, 10, message="three checks")
    scheduler.close()
    assert runs.count("boom") == 1
    assert not set(threading.enumerate()) - before  # only the threads it started count (earlier tests' may end meanwhile)
