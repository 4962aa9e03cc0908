"""What the panels show, computed from core snapshots: states, icons, texts, dashboard numbers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from movie_director.blender import view
from movie_director.blender.sparkline import GAP
from movie_director.errors import AuthenticationFailed, ConnectionRefused, NotAllowedOffline
from movie_director.history import HistorySummary
from movie_director.manager import ServiceSnapshot

NOW = 1_700_000_000.0
EMPTY = HistorySummary(0, None, None, None, None, None, 0.0)


def snapshot(**changes: Any) -> ServiceSnapshot:
    base = ServiceSnapshot(
        name="comfyui", kind="comfyui", display_name="ComfyUI", url="http://127.0.0.1:8188", critical=True, contacted=True,
        state="connected", status="online", latency_ms=12.4, last_check=NOW - 5, last_error=None, next_reconnect_in=None,
        backend_queue_depth=2.0, queued_ops=0, queued=(), history=EMPTY, capabilities=38, health_interval=30.0, version="0.3.64",
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "state", "icon"),
    [
        ({}, view.CONNECTED, "CHECKMARK"),
        ({"status": "degraded", "latency_ms": 1500.0}, view.DEGRADED, "SORTTIME"),
        ({"state": "unknown", "status": "unknown"}, view.CONNECTING, "TIME"),
        ({"state": "reconnecting"}, view.CONNECTING, "TIME"),
        ({"state": "disconnected", "last_error": ConnectionRefused(service="ComfyUI").to_dict()}, view.DISCONNECTED, "X"),
        ({"state": "failed"}, view.DISCONNECTED, "X"),
        ({"state": "suspended"}, view.DISCONNECTED, "X"),
        ({"last_error": AuthenticationFailed(service="ComfyUI").to_dict()}, view.ERROR, "ERROR"),
        ({"contacted": False, "state": "unknown", "last_error": NotAllowedOffline(service="ComfyUI").to_dict()}, view.ERROR, "ERROR"),
    ],
)
def test_row_state_and_icon(changes: dict[str, Any], state: str, icon: str) -> None:
    row = view.service_row(snapshot(**changes))
    assert (row.state, row.icon) == (state, icon)


def test_a_connected_row_shows_latency_details_and_no_countdown() -> None:
    row = view.service_row(snapshot(queued_ops=7, queued=tuple({"op_type": "comfyui.submit", "id": n} for n in range(1, 8)), next_reconnect_in=3.0))
    assert (row.latency, row.version, row.capabilities, row.next_reconnect_in) == ("12 ms", "0.3.64", "38", None)
    assert row.queued.startswith("comfyui.submit #1, ") and row.queued.endswith("… (+2)")
    assert row.state_text == "Connected"


def test_a_disconnected_row_shows_the_error_hints_and_countdown() -> None:
    error = ConnectionRefused(service="ComfyUI").to_dict()
    row = view.service_row(snapshot(state="disconnected", status="degraded", last_error=error, next_reconnect_in=3.2, capabilities=None))
    assert row.latency == "–" and row.capabilities == "–"
    assert row.error == error["message"] and row.error_code == "connection_refused" and row.hints == tuple(error["hints"])
    assert row.waiting == "waiting for ComfyUI — 0 queued, next try in 4 s"
    blocked = view.service_row(snapshot(contacted=False, state="unknown", last_error=NotAllowedOffline(service="ComfyUI").to_dict(), next_reconnect_in=1.0))
    assert blocked.state_text.startswith("ComfyUI is on another machine") and blocked.next_reconnect_in is None


def test_formatting() -> None:
    assert [view.format_ms(v) for v in (None, 3.4, 999.0, 1500.0)] == ["–", "3 ms", "999 ms", "1.5 s"]
    assert [view.format_age(t, NOW) for t in (None, NOW - 1, NOW - 12, NOW - 190, NOW - 7300)] == ["never", "just now", "12 s ago", "3 min ago", "2 h ago"]
    assert view.format_bytes(24 * 1024**3) == "24.0 GB" and view.percent(None) == "–" and view.percent(99.456) == "99.5 %"


def test_traffic_light() -> None:
    rows = [view.service_row(snapshot())]
    assert view.traffic_light("online", rows) == ("COLORSET_03_VEC", "All services online")
    assert view.traffic_light("degraded", rows)[0] == "COLORSET_09_VEC"
    assert view.traffic_light("offline", rows)[0] == "COLORSET_01_VEC"
    assert view.traffic_light("unknown", []) == ("COLORSET_13_VEC", "No services enabled")
    blocked = [view.service_row(snapshot(contacted=False, last_error=NotAllowedOffline().to_dict()))]
    assert view.traffic_light("unknown", blocked) == ("COLORSET_01_VEC", "No service can be checked")


def test_llm_line_says_models_or_which_variable_to_set() -> None:
    llm = snapshot(name="litellm", kind="litellm", display_name="LiteLLM", metrics={"models_available": 4.0})
    variable = {"litellm": ("MOVIE_DIRECTOR_LITELLM_API_KEY", False)}
    assert view.llm_line([snapshot()], {}) == ("INFO", "LLM: no LiteLLM service enabled")
    assert view.llm_line([llm], variable) == ("CHECKMARK", "LLM — LiteLLM: 4 models available")
    refused = replace(llm, last_error=AuthenticationFailed(service="LiteLLM").to_dict())
    assert view.llm_line([refused], variable) == ("ERROR", "LLM — LiteLLM: set MOVIE_DIRECTOR_LITELLM_API_KEY to its API key")
    down = replace(llm, state="disconnected", last_error=ConnectionRefused(service="LiteLLM").to_dict())
    assert view.llm_line([down], {"litellm": ("MOVIE_DIRECTOR_LITELLM_API_KEY", True)})[1].startswith("LLM — LiteLLM: disconnected (LiteLLM is not running")
    assert view.llm_line([replace(llm, state="unknown")], {"litellm": ("X", True)}) == ("TIME", "LLM — LiteLLM: checking…")


def bucket(start: float, latency: float, checks: int = 1, ok: int = 1, status: str = "online") -> dict[str, Any]:
    return {"start": start, "checks": checks, "ok": ok, "latency_avg_ms": latency, "status": status, "requests": 0, "metrics": {}}


def test_range_stats_over_the_window() -> None:
    buckets = [bucket(NOW - 400, 999.0)] + [bucket(NOW - 300 + 30 * n, 10.0 + n) for n in range(9)] + [bucket(NOW - 5, 100.0, checks=2, ok=0, status="offline")]
    stats = view.range_stats(buckets, NOW, "5M")
    assert stats.checks == 11  # the bucket 400 s ago is outside 5 min
    assert stats.avg_ms == pytest.approx((sum(10.0 + n for n in range(9)) + 200.0) / 11)
    assert stats.p95_ms == 100.0
    assert stats.success_pct == pytest.approx(100 * 9 / 11)
    assert stats.uptime_pct == pytest.approx(100 * 9 / 10)
    assert len(stats.trend) == 32 and GAP in stats.trend
    empty = view.range_stats([], NOW, "24H")
    assert (empty.checks, empty.avg_ms, empty.trend) == (0, None, GAP * 32)


def test_metric_lines_for_gpu_and_llm_services() -> None:
    gpu = snapshot(metrics={"vram_total": 24 * 1024**3, "vram_free": 10 * 1024**3}, queued_ops=3)
    assert view.metric_lines(gpu) == ["Queue: 2 on the server, 3 waiting here", "VRAM: 10.0 GB free of 24.0 GB"]
    llm = snapshot(kind="litellm", backend_queue_depth=None, metrics={"tokens_total": 1234.0, "cost_usd": 0.0123})
    assert view.metric_lines(llm) == ["Queue: – on the server, 0 waiting here", "Tokens used: 1234, est. cost: $0.0123"]
