"""The liveness threads with in-process fakes: a stream's end is a loss, an open port a check, close joins."""

from __future__ import annotations

import threading

from movie_director.liveness import Liveness, Watched
from movie_director_testing.processes import wait_until


class FakeWatch:
    def __init__(self) -> None:
        self.ended = threading.Event()
        self.closed = False

    def wait(self) -> str:
        self.ended.wait()
        return "stream ended"

    def close(self) -> None:
        self.closed = True
        self.ended.set()


class Service:
    """The manager's side: a state, a port that is open or not, a stream per connection."""

    def __init__(self, state: str = "connected", port_open: bool = True, streams: bool = True) -> None:
        self.state = state
        self.port_open = port_open
        self.streams = streams
        self.watches: list[FakeWatch] = []
        self.polls = 0

    def open_watch(self) -> FakeWatch | None:
        if not self.streams:
            return None
        self.watches.append(FakeWatch())
        return self.watches[-1]

    def reachable(self, timeout: float) -> None:
        self.polls += 1
        if not self.port_open:
            raise ConnectionRefusedError(111, "refused")

    def watched(self, name: str = "svc", loopback: bool = True) -> Watched:
        return Watched(name, loopback, lambda: self.state, self.open_watch, self.reachable)


class Calls:
    def __init__(self) -> None:
        self.lost: list[tuple[str, str]] = []
        self.opened: list[str] = []


def make(calls: Calls) -> Liveness:
    return Liveness(lambda name, reason: calls.lost.append((name, reason)), calls.opened.append)


def test_the_end_of_a_held_stream_is_reported_as_a_loss_and_close_joins_everything():
    calls, service = Calls(), Service()
    liveness = make(calls)
    liveness.start([service.watched()])
    wait_until(lambda: service.watches, 5, message="stream opened")
    service.watches[0].ended.set()
    wait_until(lambda: calls.lost, 5, message="loss reported")
    assert calls.lost == [("svc", "stream ended")]
    wait_until(lambda: len(service.watches) == 2, 5, message="a false alarm reopens the stream")
    liveness.close()
    assert service.watches[-1].closed
    assert not [t for t in threading.enumerate() if t.name.startswith("md-watch-")]


def test_a_state_change_drops_the_stream_without_calling_it_a_loss():
    calls, service = Calls(), Service()
    liveness = make(calls)
    liveness.start([service.watched()])
    try:
        wait_until(lambda: service.watches, 5, message="stream opened")
        service.state = "disconnected"
        service.port_open = False
        liveness.wake("svc")
        wait_until(lambda: service.watches[0].closed, 5, message="stream closed")
        assert calls.lost == []
    finally:
        liveness.close()


def test_a_loopback_service_away_gets_a_check_as_soon_as_its_port_opens():
    calls, service = Calls(), Service(state="failed", port_open=False)
    liveness = make(calls)
    liveness.start([service.watched()])
    try:
        assert calls.opened == []
        service.port_open = True
        wait_until(lambda: calls.opened, 2, interval=0.01, message="port open seen")
        assert calls.opened[0] == "svc"
    finally:
        liveness.close()


def test_a_port_that_never_closed_triggers_no_check_while_away():
    """A proxy in front keeps the port open while the server behind it is down: no check storm."""
    calls, service = Calls(), Service(state="failed", port_open=True)
    liveness = make(calls)
    liveness.start([service.watched()])
    try:
        wait_until(lambda: service.polls >= 5, 5, interval=0.01, message="port polled")
        assert calls.opened == []
    finally:
        liveness.close()


def test_without_a_stream_a_loopback_port_is_checked_and_its_closing_is_a_loss():
    calls, service = Calls(), Service(streams=False)
    liveness = make(calls)
    liveness.start([service.watched()])
    try:
        service.port_open = False
        wait_until(lambda: calls.lost, 5, message="closed port seen")
        assert calls.lost[0][0] == "svc" and "port closed" in calls.lost[0][1]
    finally:
        liveness.close()


def test_a_remote_service_is_not_polled_while_away():
    calls, service = Calls(), Service(state="failed", port_open=True)
    liveness = make(calls)
    liveness.start([service.watched("remote", loopback=False)])
    liveness.wake("remote")
    liveness.close()
    assert service.polls == 0 and calls.opened == []
