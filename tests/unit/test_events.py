"""The event bus: non-blocking drain, bounded backlog, subscribers on their own thread."""

from __future__ import annotations

import threading

import pytest

from movie_director.events import OPERATION, STATE, STATUS, Event, EventBus
from movie_director_testing.processes import wait_until


def event(n: int = 0, kind: str = STATUS) -> Event:
    return Event(kind, "comfyui", "online", "offline", timestamp=float(n))


def test_drain_returns_events_oldest_first_and_never_blocks():
    bus = EventBus()
    assert bus.drain() == []
    for n in range(5):
        bus.publish(event(n))
    assert [e.timestamp for e in bus.drain(2)] == [0.0, 1.0]
    assert [e.timestamp for e in bus.drain()] == [2.0, 3.0, 4.0]
    bus.close()


def test_the_backlog_is_bounded_dropping_the_oldest():
    bus = EventBus(backlog=3)
    for n in range(10):
        bus.publish(event(n))
    assert [e.timestamp for e in bus.drain()] == [7.0, 8.0, 9.0]
    bus.close()


def test_subscribers_run_on_the_bus_thread_and_a_broken_one_does_not_stop_the_others():
    bus = EventBus()
    seen: list[tuple[float, str]] = []

    def broken(_: Event) -> None:
        raise RuntimeError("a UI bug")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(lambda e: seen.append((e.timestamp, threading.current_thread().name)))
    bus.publish(event(1))
    wait_until(lambda: seen, 10, message="delivery")
    unsubscribe()
    bus.publish(event(2))
    bus.close()
    assert seen == [(1.0, "md-events")]
    assert not any(thread.name == "md-events" for thread in threading.enumerate())


def test_close_delivers_what_was_published_then_refuses_more():
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    for n in range(50):
        bus.publish(event(n))
    bus.close()
    assert len(seen) == 50
    bus.publish(event(99))
    assert len(bus.drain()) == 50
    with pytest.raises(RuntimeError):
        bus.subscribe(seen.append)


def test_describe_and_to_dict():
    lost = Event(STATUS, "comfyui", "online", "offline", error={"message": "ComfyUI is not running."})
    assert lost.describe() == "comfyui: online → offline (ComfyUI is not running.)"
    retry = Event(STATE, "llm", "reconnecting", "failed", details={"next_attempt_in": 3.6})
    assert retry.describe() == "llm: reconnecting → failed, next attempt in 4 s"
    done = Event(OPERATION, "comfyui", "running", "done", details={"id": 7, "op_type": "comfyui.submit"})
    assert done.describe() == "comfyui: operation comfyui.submit #7 done"
    assert Event("system", None, None, "online").describe() == "system: online"
    assert lost.to_dict()["error"] == {"message": "ComfyUI is not running."} and retry.to_dict()["error"] is None
