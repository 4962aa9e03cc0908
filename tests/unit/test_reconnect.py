"""Backoff bounds, breaker transitions and the connection state machine, on a fake clock."""

from __future__ import annotations

import random

from movie_director.clock import FakeClock
from movie_director.reconnect import Backoff, BreakerState, CircuitBreaker, ConnState, Reconnector


def test_backoff_doubles_up_to_the_cap_and_jitter_stays_within_ten_percent_below():
    backoff = Backoff(cap=60.0, rng=random.Random(7))
    for attempt, base in enumerate([1, 2, 4, 8, 16, 32, 60, 60, 60]):
        for _ in range(200):
            delay = backoff.delay(attempt)
            assert base * 0.9 <= delay <= base


def test_loopback_cap_of_five_seconds_and_huge_attempts():
    backoff = Backoff(cap=5.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(5)] == [1, 2, 4, 5, 5]
    assert backoff.delay(10_000) == 5


def test_jitter_spreads_clients():
    backoff = Backoff(cap=60.0, rng=random.Random(1))
    assert len({round(backoff.delay(3), 6) for _ in range(20)}) > 10


def test_breaker_opens_after_five_failures_then_half_opens_after_300_s():
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    for _ in range(4):
        breaker.record_failure()
        assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert breaker.retry_in() == 300
    clock.advance(299)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.state is BreakerState.HALF_OPEN and breaker.allow()


def test_a_failed_half_open_trial_reopens_and_a_success_closes():
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, open_for=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(10)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.retry_in() == 10
    clock.advance(10)
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0 and breaker.retry_in() == 0


def test_reset_closes_at_once():
    breaker = CircuitBreaker(threshold=1, clock=FakeClock())
    breaker.record_failure()
    breaker.reset()
    assert breaker.allow()


def reconnector(clock: FakeClock, **breaker) -> Reconnector:
    return Reconnector(Backoff(cap=5.0, jitter=0.0), CircuitBreaker(clock=clock, **breaker), clock)


def test_state_machine_from_loss_to_reconnection():
    clock = FakeClock()
    machine = reconnector(clock)
    assert machine.state is ConnState.UNKNOWN
    assert machine.on_success() == (ConnState.UNKNOWN, ConnState.CONNECTED)
    assert machine.next_check_in(30) == 30 and machine.next_attempt_in() is None
    assert machine.on_failure() == (ConnState.CONNECTED, ConnState.DISCONNECTED)
    assert machine.next_check_in(30) == 1.0
    assert machine.begin_attempt() == (ConnState.DISCONNECTED, ConnState.RECONNECTING)
    assert machine.on_failure() == (ConnState.RECONNECTING, ConnState.FAILED)
    assert machine.next_attempt_in() == 2.0
    clock.advance(2)
    machine.begin_attempt()
    machine.on_failure()
    assert machine.next_attempt_in() == 4.0
    machine.begin_attempt()
    assert machine.on_success() == (ConnState.RECONNECTING, ConnState.CONNECTED)
    assert machine.failed_attempts == 0


def test_delays_follow_the_backoff_then_the_breaker_suspends():
    clock = FakeClock()
    machine = reconnector(clock)
    delays = []
    for _ in range(5):
        machine.begin_attempt()
        machine.on_failure()
        delays.append(machine.next_check_in(30))
    assert delays == [1, 2, 4, 5, 300]
    assert machine.state is ConnState.SUSPENDED
    clock.advance(300)
    assert machine.next_check_in(30) == 0
    assert machine.begin_attempt() == (ConnState.SUSPENDED, ConnState.RECONNECTING)
    machine.on_failure()
    assert machine.state is ConnState.SUSPENDED and machine.next_attempt_in() == 300


def test_reconnect_now_resets_the_breaker_and_tries_at_once():
    clock = FakeClock()
    machine = reconnector(clock, threshold=2)
    machine.on_failure()
    machine.on_failure()
    assert machine.state is ConnState.SUSPENDED
    machine.reconnect_now()
    assert machine.breaker.allow() and machine.next_check_in(30) == 0 and machine.failed_attempts == 0
    machine.begin_attempt()
    assert machine.on_success()[1] is ConnState.CONNECTED
