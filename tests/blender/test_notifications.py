"""Notifications: severities, the 100-entry deque, 30 s de-duplication, summaries, details."""

from __future__ import annotations

from movie_director.blender.notifications import (
    DEDUPE_WINDOW_S,
    MAX_NOTIFICATIONS,
    NotificationCenter,
    Severity,
)
from movie_director.clock import FakeClock
from movie_director.errors import ConnectionRefused, Fix, WrongService


def test_same_service_type_and_message_within_30_s_is_counted_not_added() -> None:
    clock = FakeClock(start=0.0)  # wall time 1_700_000_000
    center = NotificationCenter(clock=clock.time)
    first = center.add(Severity.WARNING, "ComfyUI is not running.", service="comfyui", type="connection_refused")
    clock.advance(DEDUPE_WINDOW_S - 1)
    again = center.add(Severity.ERROR, "ComfyUI is not running.", service="comfyui", type="connection_refused")
    assert len(center) == 1
    assert again.id == first.id and again.count == 2
    assert again.severity is Severity.ERROR  # the worse severity wins
    assert "(×2)" in center.recent()[0].summary(200)


def test_after_30_s_or_with_another_key_it_is_a_new_notification() -> None:
    clock = FakeClock(start=0.0)  # wall time 1_700_000_000
    center = NotificationCenter(clock=clock.time)
    center.add(Severity.ERROR, "down", service="comfyui", type="connection_refused")
    center.add(Severity.ERROR, "down", service="litellm", type="connection_refused")
    center.add(Severity.ERROR, "down", service="comfyui", type="timeout")
    center.add(Severity.ERROR, "other", service="comfyui", type="connection_refused")
    assert len(center) == 4
    clock.advance(DEDUPE_WINDOW_S + 1)
    center.add(Severity.ERROR, "down", service="comfyui", type="connection_refused")
    assert len(center) == 5


def test_the_history_keeps_the_last_100_and_shows_the_last_10_newest_first() -> None:
    clock = FakeClock(start=0.0)  # wall time 1_700_000_000
    center = NotificationCenter(clock=clock.time)
    for number in range(MAX_NOTIFICATIONS + 20):
        clock.advance(1)
        center.add(Severity.INFO, f"message {number}", type="info")
    assert len(center) == MAX_NOTIFICATIONS
    recent = center.recent()
    assert [item.message for item in recent] == [f"message {number}" for number in range(119, 109, -1)]
    assert center.get(recent[0].id) is recent[0]
    assert center.get(1) is None  # pushed out


def test_summaries_are_at_most_40_characters() -> None:
    center = NotificationCenter(clock=FakeClock().time)
    short = center.add(Severity.INFO, "ok", service="comfyui")
    long = center.add(Severity.ERROR, "x" * 200, service="comfyui", type="timeout")
    assert short.summary() == "comfyui: ok"
    assert len(long.summary()) == 40 and long.summary().endswith("…")


def test_an_error_becomes_a_notification_with_title_hints_and_fix() -> None:
    center = NotificationCenter(clock=FakeClock().time)
    error = WrongService("Something else answers at 8188.", service="ComfyUI", fix=Fix("Use port 8189", "url", "http://127.0.0.1:8189", "movie-director check http://127.0.0.1:8189"))
    notification = center.add_error(error.to_dict(), service="comfyui")
    assert notification.severity is Severity.ERROR
    assert (notification.type, notification.title, notification.service) == ("wrong_service", WrongService.title, "comfyui")
    assert notification.hints == tuple(error.hints)
    text = notification.details_text()
    for part in ("wrong_service", "Service: comfyui", "Time: ", "Something else answers at 8188.", "Suggested Solutions:", "Fix: Use port 8189"):
        assert part in text
    refused = center.add_error(ConnectionRefused(service="ComfyUI").to_dict(), severity=Severity.WARNING)
    assert refused.service == "ComfyUI" and refused.title == "Connection refused"


def test_revision_changes_on_every_change_and_clear_empties() -> None:
    center = NotificationCenter(clock=FakeClock().time)
    before = center.revision
    center.add(Severity.INFO, "a")
    center.add(Severity.INFO, "a")
    assert center.revision == before + 2
    center.clear()
    assert len(center) == 0 and center.recent() == []
