"""The ServiceManager with an in-process fake backend: checks, reconnection, replay, snapshots, close.

The manager runs on a fake clock, so planned checks never come by themselves: each
test drives them with ``check_now`` and polls for the outcome (no sleeping).
"""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest

from movie_director.backend import Status
from movie_director.clock import FakeClock
from movie_director.configdata import InstanceConfig
from movie_director.errors import InvalidConfigError, JobFailed, NotAllowedOffline, QueueFull, WorkflowInvalid
from movie_director.events import OPERATION, STATE, STATUS, SYSTEM
from movie_director.manager import ManagerOptions, ServiceManager
from movie_director.operations import OperationContext, OpState, register_operation, unregister_operation
from movie_director.reconnect import ConnState
from movie_director_testing.fake_backend import ECHO, FakeBackend, fake_config, fake_plugins
from movie_director_testing.processes import wait_until

URL = "http://127.0.0.1:9"


@pytest.fixture
def backend():
    return FakeBackend()


def make_manager(tmp_path, backend, names=None, options=None, **kwargs) -> ServiceManager:
    """A manager whose checks come only when the test asks (fake clock, no liveness watch threads)."""
    config = fake_config(tmp_path, names, health_interval=30.0)
    options = dataclasses.replace(options or ManagerOptions(), watch=False)
    return ServiceManager(config, fake_plugins(backend), options=options, clock=FakeClock(), **kwargs)


def checks_of(backend, url=URL) -> int:
    return backend.service_at(url).checks


def check(manager, backend, name="fake", url=URL) -> None:
    """Run one more check of ``name`` and wait for its result."""
    samples = manager.snapshot().service(name).history.samples
    manager.check_now(name)
    wait_until(lambda: manager.snapshot().service(name).history.samples > samples, 10, message="a check")


def test_start_checks_every_service_and_snapshots_say_what_it_found(tmp_path, backend):
    with make_manager(tmp_path, backend) as manager:
        assert manager.wait_checked(10)
        wait_until(lambda: manager.snapshot().service("fake").capabilities == 1, 10, message="capabilities")
        snapshot = manager.snapshot()
        service = snapshot.service("fake")
        assert snapshot.status == "online"
        assert (service.state, service.status, service.latency_ms, service.version) == ("connected", "online", 5.0, "1.0")
        assert service.last_error is None and service.next_reconnect_in is None
        assert service.backend_queue_depth == 0.0 and service.queued_ops == 0
        assert service.history.samples == 1
        assert service.pool["idle"] >= 1  # warmed to pool_min
        assert service.to_dict()["display_name"] == "Fake"
        kinds = [(event.kind, event.old, event.new) for event in manager.drain_events()]
        assert (STATE, "unknown", "connected") in kinds
        assert (STATUS, "unknown", "online") in kinds
        assert (SYSTEM, "unknown", "online") in kinds
        assert manager.drain_events() == []
        with pytest.raises(KeyError):
            snapshot.service("nope")


def test_loss_is_detected_work_is_queued_and_replayed_in_order_when_it_returns(tmp_path, backend):
    server = backend.service_at(URL)
    with make_manager(tmp_path, backend) as manager:
        manager.wait_checked(10)
        server.up = False
        statuses = []
        for _ in range(3):
            check(manager, backend)
            statuses.append(manager.snapshot().service("fake").status)
        assert statuses == ["degraded", "degraded", "offline"]
        service = manager.snapshot().service("fake")
        assert service.state == "failed" and service.last_error["code"] == "connection_refused"
        assert 0 < service.next_reconnect_in <= 5.0  # loopback cap
        assert manager.snapshot().status == "degraded"  # the fake kind is not critical

        handles = [manager.submit("fake", ECHO, {"n": n}, idempotency_key=f"op-{n}") for n in range(20)]
        assert all(handle.state.value == "queued" for handle in handles)
        assert manager.snapshot().service("fake").queued_ops == 20
        assert len(manager.snapshot().service("fake").queued) == 20
        assert server.received == []

        server.up = True
        check(manager, backend)
        results = [handle.wait(10) for handle in handles]
        assert [result["echo"]["n"] for result in results] == list(range(20))
        assert server.received == [f"op-{n}" for n in range(20)]
        wait_until(lambda: manager.snapshot().service("fake").queued_ops == 0, 10, message="queue drained")
        assert manager.snapshot().service("fake").state == "connected"
        events = manager.drain_events()
        assert sum(event.kind == OPERATION and event.new == "done" for event in events) == 20
        assert any(event.kind == STATUS and event.new == "offline" and event.error for event in events)


def test_the_breaker_spaces_checks_but_never_refuses_work(tmp_path, backend):
    server = backend.service_at(URL)
    with make_manager(tmp_path, backend, options=ManagerOptions(breaker_threshold=2)) as manager:
        manager.wait_checked(10)
        server.up = False
        check(manager, backend)
        check(manager, backend)
        service = manager.snapshot().service("fake")
        # loopback: the half-open trial comes after one backoff step (5 s), not the remote 300 s
        assert service.state == "suspended" and service.next_reconnect_in == 5.0
        waiting = manager.submit("fake", ECHO, {"while": "suspended"})
        assert manager.snapshot().service("fake").queued_ops == 1
        server.up = True
        before = checks_of(backend)
        manager.reconnect_now("fake")
        wait_until(lambda: checks_of(backend) > before and manager.snapshot().service("fake").state == "connected", 10, message="reconnected")
        assert waiting.wait(10)["echo"] == {"while": "suspended"}
        assert manager.submit("fake", ECHO, {"after": True}).wait(10)["echo"] == {"after": True}


def test_breaker_stays_open_300_s_for_remote_services(tmp_path, backend):
    with make_manager(tmp_path, backend) as manager:
        local = manager.config.services["fake"]
        remote = type(local)(name="studio", kind=local.kind, url="https://gpu-box.studio.invalid:8443")
        assert manager._breaker_open_s(remote) == 300
        assert manager._breaker_open_s(local) == local.backoff_cap == 5.0


def test_an_operation_that_loses_the_connection_goes_back_to_the_head(tmp_path, backend):
    server = backend.service_at(URL)
    calls: list[int] = []

    def flaky(ctx: OperationContext) -> int:
        calls.append(ctx.operation.attempts)
        if len(calls) == 1:
            server.up = False  # the server dies while the first one runs
            raise ConnectionResetError("Connection reset by peer")
        return ctx.operation.attempts

    register_operation("test.flaky", flaky, replace=True)
    try:
        with make_manager(tmp_path, backend) as manager:
            manager.wait_checked(10)
            first = manager.submit("fake", "test.flaky", {})
            second = manager.submit("fake", ECHO, {}, idempotency_key="second")
            wait_until(lambda: manager.snapshot().service("fake").state != "connected", 10, message="loss noticed")
            assert first.state.value == "queued" and second.state.value == "queued"
            server.up = True
            check(manager, backend)
            assert first.wait(10) == 2 and second.wait(10)["duplicate"] is False
            assert calls == [1, 2]
    finally:
        unregister_operation("test.flaky")


def test_a_service_that_answers_with_errors_keeps_its_queue(tmp_path, backend):
    server = backend.service_at(URL)
    with make_manager(tmp_path, backend) as manager:
        manager.wait_checked(10)
        server.broken = True
        check(manager, backend)
        service = manager.snapshot().service("fake")
        assert (service.state, service.status, service.last_error["code"]) == ("connected", "degraded", "server_error")
        handle = manager.submit("fake", ECHO, {"n": 1})
        check(manager, backend)
        assert handle.state.value == "queued" and server.received == []
        server.broken = False
        check(manager, backend)
        assert handle.wait(10)["echo"] == {"n": 1}


def test_a_failing_operation_fails_alone(tmp_path, backend):
    def refuse(ctx: OperationContext) -> None:
        raise JobFailed("The workflow failed: node 3 has no model.", service="Fake")

    register_operation("test.refuse", refuse, replace=True)
    try:
        with make_manager(tmp_path, backend) as manager:
            manager.wait_checked(10)
            bad = manager.submit("fake", "test.refuse", {})
            good = manager.submit("fake", ECHO, {"n": 1})
            with pytest.raises(JobFailed, match="node 3"):
                bad.wait(10)
            assert good.wait(10)["echo"] == {"n": 1}
    finally:
        unregister_operation("test.refuse")


def test_submit_refuses_what_it_cannot_run(tmp_path, backend):
    with make_manager(tmp_path, backend, options=ManagerOptions(queue_max=1, replay=False)) as manager:
        with pytest.raises(InvalidConfigError, match="no.such.op"):
            manager.submit("fake", "no.such.op", {})
        with pytest.raises(InvalidConfigError, match="nope"):
            manager.submit("nope", ECHO, {})
        manager.submit("fake", ECHO, {})
        with pytest.raises(QueueFull):
            manager.submit("fake", ECHO, {})


def test_remote_services_are_not_contacted_when_online_access_is_off(tmp_path, backend):
    names = {"local": URL, "studio": "http://gpu-box.example:8188"}
    with make_manager(tmp_path, backend, names=names, allow_remote=False) as manager:
        assert manager.wait_checked(10)
        studio = manager.snapshot().service("studio")
        assert (studio.contacted, studio.status, studio.state) == (False, "unknown", "unknown")
        assert studio.last_error["code"] == "online_access_disabled"
        assert "gpu-box.example:8188" not in backend.services
        with pytest.raises(NotAllowedOffline):
            manager.submit("studio", ECHO, {})
        manager.check_now("studio")
        manager.reconnect_now("studio")
        assert manager.pool("studio") is None
        assert manager.snapshot().service("local").status == "online"


def test_a_service_of_an_uninstalled_kind_says_so(tmp_path, backend):
    config = fake_config(tmp_path)
    config.services["other"] = type(config.services["fake"])(name="other", kind="nonexistent", url="http://127.0.0.1:1")
    with ServiceManager(config, fake_plugins(backend), clock=FakeClock()) as manager:
        other = manager.snapshot().service("other")
        assert other.last_error["code"] == "config_invalid" and "nonexistent" in other.last_error["message"]


def test_queued_work_survives_a_restart_of_the_manager(tmp_path, backend):
    server = backend.service_at(URL)
    server.up = False
    with make_manager(tmp_path, backend) as first:
        first.wait_checked(10)
        ids = [first.submit("fake", ECHO, {"n": n}, idempotency_key=f"k{n}").id for n in range(3)]
    server.up = True
    with make_manager(tmp_path, backend) as second:
        assert [second.queue.handle(op_id).wait(10)["echo"]["n"] for op_id in ids] == [0, 1, 2]
        assert server.received == ["k0", "k1", "k2"]


def test_minute_history_survives_a_restart_of_the_manager(tmp_path, backend):
    with make_manager(tmp_path, backend) as first:
        first.wait_checked(10)
    with make_manager(tmp_path, backend) as second:
        assert second.history("fake").buckets(60)[0]["checks"] >= 1
        assert second.snapshot().service("fake").history.uptime_pct == 100.0


def test_history_is_kept_per_address_so_a_new_server_starts_clean(tmp_path, backend):
    backend.service_at(URL).up = False
    with make_manager(tmp_path, backend) as first:
        first.wait_checked(10)
        assert first.snapshot().service("fake").history.uptime_pct == 0.0
    moved = "http://127.0.0.1:19"
    with make_manager(tmp_path, backend, names={"fake": moved}) as second:
        assert second.history("fake").buckets(60) == []
        second.wait_checked(10)
        assert second.snapshot().service("fake").history.uptime_pct == 100.0


def test_acquire_lends_a_pooled_connection_and_reports_broken_ones(tmp_path, backend):
    with make_manager(tmp_path, backend) as manager:
        manager.wait_checked(10)
        with manager.acquire("fake") as connection:
            assert not connection.closed
        before = checks_of(backend)
        with pytest.raises(ConnectionResetError), manager.acquire("fake"):
            raise ConnectionResetError("reset")
        wait_until(lambda: checks_of(backend) > before, 10, message="a confirming check")


def test_subscribers_get_events_on_the_event_thread(tmp_path, backend):
    seen: list[tuple[str, str]] = []
    with make_manager(tmp_path, backend) as manager:
        manager.subscribe(lambda event: seen.append((event.kind, threading.current_thread().name)))
        manager.wait_checked(10)
        backend.service_at(URL).up = False
        check(manager, backend)
        wait_until(lambda: any(kind == STATUS for kind, _ in seen), 10, message="an event")
    assert {name for _, name in seen} == {"md-events"}


def test_close_leaves_no_thread_or_socket_behind(tmp_path, backend):
    threads_before = set(threading.enumerate())
    fds_before = len(os.listdir("/proc/self/fd"))
    names = {f"svc{n}": f"http://127.0.0.1:{9000 + n}" for n in range(4)}
    manager = make_manager(tmp_path, backend, names=names)
    manager.subscribe(lambda event: None)
    manager.start()
    assert manager.wait_checked(10)
    handles = [manager.submit(name, ECHO, {}) for name in names]
    for handle in handles:
        handle.wait(10)
    assert len(os.listdir("/proc/self/fd")) > fds_before
    manager.close()
    manager.close()  # twice is harmless
    assert all(connection.closed for connection in backend.connections)
    assert set(threading.enumerate()) == threads_before
    assert len(os.listdir("/proc/self/fd")) == fds_before


def test_system_status_follows_the_critical_service(tmp_path):
    class CriticalBackend(FakeBackend):
        critical = True

    backend = CriticalBackend()
    with make_manager(tmp_path, backend) as manager:
        manager.wait_checked(10)
        backend.service_at(URL).up = False
        for _ in range(3):
            check(manager, backend)
        assert manager.snapshot().status == Status.OFFLINE.value
        assert manager.snapshot().service("fake").critical


def test_an_operation_already_received_is_not_sent_twice(tmp_path, backend):
    server = backend.service_at(URL)
    server.receive("k-1")  # reached the server before the cut
    with make_manager(tmp_path, backend) as manager:
        manager.wait_checked(10)
        assert manager.submit("fake", ECHO, {}, idempotency_key="k-1").wait(10)["duplicate"] is True
    assert server.received == ["k-1"]


def test_state_machine_is_exposed_in_snapshots(tmp_path, backend):
    with make_manager(tmp_path, backend) as manager:
        manager.wait_checked(10)
        assert manager.snapshot().service("fake").state == ConnState.CONNECTED.value
        assert manager.service_names == ["fake"]
        assert manager.pool("fake").stats().max_size == FakeBackend.pool_max


# -- a service with several servers ---------------------------------------------------------

FARM = ("http://127.0.0.1:9001", "http://127.0.0.1:9002")


def make_farm(tmp_path, backend) -> ServiceManager:
    """One fake service with two servers, checks only when the test asks."""
    config = fake_config(tmp_path, {"fake": FARM[0]}, health_interval=30.0)
    farm = dataclasses.replace(config.services["fake"], instances=tuple(InstanceConfig(url) for url in FARM))
    config = dataclasses.replace(config, services={"fake": farm})
    return ServiceManager(config, fake_plugins(backend), options=ManagerOptions(watch=False), clock=FakeClock())


def test_work_whose_send_was_refused_moves_to_another_server_at_once(tmp_path, backend):
    with make_farm(tmp_path, backend) as manager:
        assert manager.wait_checked(10)
        backend.service_at(FARM[0]).up = False  # gone, and no check has seen it yet: it still looks ready
        handles = [manager.submit("fake", ECHO, {"n": n}, idempotency_key=f"k{n}") for n in range(3)]
        operations = [handle.wait(10) and handle.operation() for handle in handles]
        assert [(operation.state, operation.instance) for operation in operations] == [(OpState.DONE, FARM[1])] * 3
        assert operations[0].attempts == 2  # routed to the first server (equal load, config order), refused there, moved
        assert backend.service_at(FARM[1]).received == ["k0", "k1", "k2"]  # each once
        assert manager.snapshot().service("fake#1").state != "connected"


def test_work_that_may_have_reached_its_server_waits_for_it_and_is_found_there(tmp_path, backend):
    with make_farm(tmp_path, backend) as manager:
        assert manager.wait_checked(10)
        first = backend.service_at(FARM[0])
        first.dies_on_request = True  # the request arrives, then the server goes away without answering
        held = manager.submit("fake", ECHO, {"n": 0}, idempotency_key="sent")
        wait_until(lambda: held.operation().attempts == 1 and held.operation().state is OpState.QUEUED, 10, message="held after the lost answer")
        assert held.operation().instance == FARM[0]
        other = manager.submit("fake", ECHO, {"n": 1}, idempotency_key="other")
        assert other.wait(10) and other.operation().instance == FARM[1]  # the rest goes on elsewhere meanwhile
        assert held.operation().state is OpState.QUEUED  # … but not the held one: it may have run where it went
        first.up = True
        check(manager, backend, "fake#1", FARM[0])
        assert held.wait(10)["duplicate"] is True  # asked again on the same server, which already had it
        assert (held.operation().instance, first.received, backend.service_at(FARM[1]).received) == (FARM[0], ["sent"], ["other"])


def test_a_critical_service_is_offline_for_the_system_only_when_every_server_of_it_is(tmp_path):
    class Critical(FakeBackend):
        critical = True

    backend = Critical()
    with make_farm(tmp_path, backend) as manager:
        assert manager.wait_checked(10)
        for number, url in enumerate(FARM, 1):
            backend.service_at(url).up = False
            for _ in range(3):
                check(manager, backend, f"fake#{number}", url)
            assert manager.snapshot().service(f"fake#{number}").status == "offline"
            assert manager.snapshot().status == ("degraded" if number == 1 else "offline")  # the other box still takes the work


def test_work_goes_to_the_server_that_offers_what_it_needs_or_fails_naming_what_none_has(tmp_path, backend):
    backend.service_at(FARM[1]).features = {"upscale"}
    with make_farm(tmp_path, backend) as manager:
        assert manager.wait_checked(10)
        wait_until(lambda: all(manager.snapshot().service(name).capabilities for name in ("fake#1", "fake#2")), 10, message="offers read")
        upscales = [manager.submit("fake", ECHO, {"needs": ["upscale"]}, idempotency_key=f"up{n}") for n in range(3)]
        assert all(handle.wait(10) for handle in upscales)
        assert {handle.operation().instance for handle in upscales} == {FARM[1]}  # the idle first server lacks the node
        impossible = manager.submit("fake", ECHO, {"needs": ["teleport"]}, idempotency_key="nope")
        with pytest.raises(WorkflowInvalid) as caught:
            impossible.wait(10)
        assert "teleport" in caught.value.message and FARM[0] in caught.value.message and FARM[1] in caught.value.message
        assert manager.submit("fake", ECHO, {}, idempotency_key="plain").wait(10)  # the queue goes on after it
