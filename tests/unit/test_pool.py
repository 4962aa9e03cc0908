"""The connection pool: bounds, reuse, broken and idle connections, close, 32 threads."""

from __future__ import annotations

import os
import threading

import pytest

from movie_director.clock import FakeClock
from movie_director.errors import ConnectionRefused, PoolTimeout, RequestRejected
from movie_director.pool import ConnectionPool, PoolClosed, is_connection_error
from movie_director_testing.fake_backend import FakeConnection, FakeService
from movie_director_testing.processes import wait_until


def make_pool(clock: FakeClock | None = None, **options) -> tuple[ConnectionPool[FakeConnection], list[FakeConnection]]:
    made: list[FakeConnection] = []
    server = FakeService()

    def create() -> FakeConnection:
        connection = FakeConnection(server)
        made.append(connection)
        return connection

    settings = {"name": "Fake", "max_size": 2, "validate": lambda c: not c.closed, **options}
    if clock is not None:
        settings["clock"] = clock
    return ConnectionPool(create, **settings), made


def test_released_connection_is_reused():
    pool, made = make_pool()
    with pool.acquire() as first:
        pass
    with pool.acquire() as second:
        assert second is first
    stats = pool.stats()
    assert (stats.acquisitions, stats.creations, stats.reuses) == (2, 1, 1)
    assert stats.reuse_rate == 0.5
    assert (stats.in_use, stats.idle) == (0, 1)
    pool.close()
    assert made[0].closed


def test_a_caller_beyond_the_maximum_gets_a_typed_timeout():
    pool, _ = make_pool(max_size=1)
    with pool.acquire(), pytest.raises(PoolTimeout) as caught, pool.acquire(timeout=0):
        pass
    assert caught.value.code == "pool_timeout"
    assert "Fake" in caught.value.message
    assert pool.stats().timeouts == 1
    pool.close()


def test_a_waiter_gets_the_connection_released_by_another_thread():
    pool, made = make_pool(max_size=1)
    got: list[FakeConnection] = []
    lease = pool.acquire()
    held = lease.__enter__()
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(timeout=30).__enter__()))
    waiter.start()
    wait_until(lambda: pool.stats().waiting == 1, 10, message="a waiter")
    lease.__exit__(None, None, None)
    waiter.join(10)
    assert got == [held] and len(made) == 1
    assert pool.stats().wait_time_max_s > 0
    pool.close()


def test_a_connection_that_broke_is_closed_not_returned():
    pool, made = make_pool()
    with pytest.raises(ConnectionRefused), pool.acquire():
        raise ConnectionRefused(service="Fake")
    assert made[0].closed
    with pool.acquire() as fresh:
        assert fresh is not made[0]
    stats = pool.stats()
    assert (stats.discarded, stats.errors, stats.creations) == (1, 1, 2)
    pool.close()


def test_an_error_of_the_request_keeps_the_connection():
    pool, made = make_pool()
    with pytest.raises(RequestRejected), pool.acquire():
        raise RequestRejected(service="Fake")
    with pool.acquire() as again:
        assert again is made[0] and not again.closed
    pool.close()


def test_discard_closes_on_purpose():
    pool, made = make_pool()
    lease = pool.acquire()
    with lease:
        lease.discard()
    assert made[0].closed and pool.stats().idle == 0
    pool.close()


def test_idle_connections_expire_after_the_idle_timeout():
    clock = FakeClock()
    pool, made = make_pool(clock, idle_timeout=300.0)
    with pool.acquire():
        pass
    clock.advance(301)
    with pool.acquire() as connection:
        assert connection is made[1]
    assert made[0].closed and pool.stats().expired == 1
    pool.close()


def test_evict_idle_keeps_the_minimum():
    clock = FakeClock()
    pool, made = make_pool(clock, max_size=3, min_size=1)
    leases = [pool.acquire() for _ in range(3)]
    for lease in leases:
        lease.__enter__()
    for lease in leases:
        lease.__exit__(None, None, None)
    clock.advance(301)
    assert pool.evict_idle() == 2
    assert pool.stats().idle == 1 and sum(c.closed for c in made) == 2
    pool.close()


def test_stale_connections_are_validated_before_reuse():
    clock = FakeClock()
    pool, made = make_pool(clock, validate_after=30.0)
    with pool.acquire():
        pass
    made[0].close()  # the server dropped it while idle
    clock.advance(10)
    with pool.acquire() as connection:
        assert connection is made[0]  # not stale yet: handed out without a check
    made[0].close()
    clock.advance(31)
    with pool.acquire() as connection:
        assert connection is made[1]
    pool.close()


def test_a_failing_validator_means_not_usable():
    clock = FakeClock()

    def broken_validator(connection: FakeConnection) -> bool:
        raise OSError("boom")

    pool, made = make_pool(clock, validate=broken_validator)
    with pool.acquire():
        pass
    clock.advance(31)
    with pool.acquire() as connection:
        assert connection is made[1]
    pool.close()


def test_a_failed_create_frees_its_slot():
    calls = []

    def create() -> FakeConnection:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionRefused(service="Fake")
        return FakeConnection(FakeService())

    pool = ConnectionPool(create, name="Fake", max_size=1)
    with pytest.raises(ConnectionRefused):
        pool.acquire(timeout=0).__enter__()
    with pool.acquire(timeout=0) as connection:
        assert connection is not None
    assert pool.stats().errors == 1
    pool.close()


def test_fill_opens_the_minimum():
    pool, made = make_pool(max_size=4, min_size=2)
    assert pool.fill() == 2
    assert pool.fill() == 0
    assert pool.stats().idle == 2 and len(made) == 2
    pool.close()


def test_clear_closes_idle_connections():
    pool, made = make_pool()
    with pool.acquire():
        pass
    assert pool.clear() == 1 and made[0].closed
    pool.close()


def test_close_closes_in_use_connections_on_return_and_wakes_waiters():
    pool, made = make_pool(max_size=1)
    lease = pool.acquire()
    lease.__enter__()
    errors: list[BaseException] = []

    def wait_for_one() -> None:
        try:
            pool.acquire(timeout=30).__enter__()
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    wait_until(lambda: pool.stats().waiting == 1, 10, message="a waiter")
    pool.close()
    waiter.join(10)
    assert isinstance(errors[0], PoolClosed)
    assert not made[0].closed
    lease.__exit__(None, None, None)
    assert made[0].closed
    with pytest.raises(PoolClosed):
        pool.acquire().__enter__()


def test_sizes_are_checked():
    with pytest.raises(ValueError):
        ConnectionPool(lambda: None, max_size=0)
    with pytest.raises(ValueError):
        ConnectionPool(lambda: None, max_size=2, min_size=3)


def test_connection_errors_are_recognised():
    import requests

    assert is_connection_error(ConnectionRefused())
    assert is_connection_error(ConnectionResetError())
    assert is_connection_error(requests.ConnectionError("Connection refused"))
    assert not is_connection_error(RequestRejected())
    assert not is_connection_error(ValueError("bad"))


def test_32_threads_never_exceed_the_maximum_and_never_deadlock():
    pool, made = make_pool(max_size=4)
    lock = threading.Lock()
    in_use: set[int] = set()
    peak = [0]
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(200):
                with pool.acquire(timeout=30) as connection:
                    with lock:
                        assert id(connection) not in in_use, "one connection handed to two threads"
                        in_use.add(id(connection))
                        peak[0] = max(peak[0], len(in_use))
                    with lock:
                        in_use.discard(id(connection))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert failures == []
    stats = pool.stats()
    assert stats.acquisitions == 32 * 200
    assert stats.creations <= 4 and len(made) <= 4 and peak[0] <= 4
    assert stats.reuse_rate > 0.99
    assert (stats.in_use, stats.waiting) == (0, 0)
    pool.close()


def test_close_leaves_no_socket_or_thread_behind():
    fds_before = len(os.listdir("/proc/self/fd"))
    threads_before = set(threading.enumerate())
    pool, made = make_pool(max_size=8)
    leases = [pool.acquire() for _ in range(8)]
    for lease in leases:
        lease.__enter__()
    assert len(os.listdir("/proc/self/fd")) >= fds_before + 16
    for lease in leases[:4]:
        lease.__exit__(None, None, None)
    pool.close()
    for lease in leases[4:]:
        lease.__exit__(None, None, None)
    assert all(connection.closed for connection in made)
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert set(threading.enumerate()) == threads_before
