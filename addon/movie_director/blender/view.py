"""What the panels show, computed from the core's snapshots: plain values, no ``bpy``.

The timer turns each :class:`~movie_director.manager.ServiceSnapshot` into a
:class:`ServiceRow` (display state, icon, texts) and each service's history into
:class:`RangeStats` for the dashboard, then copies them into Blender properties. Draw
code only reads those properties, so every decision about wording and icons lives
here, where it is tested without Blender.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from movie_director.backend import Status
from movie_director.blender.sparkline import sparkline
from movie_director.reconnect import ConnState

# Display states of one service row and their icons (spec: connected ✓, connecting ⏲,
# disconnected ✗, error ⚠; "degraded" is connected but slow).
CONNECTED = "connected"
DEGRADED = "degraded"
CONNECTING = "connecting"
DISCONNECTED = "disconnected"
ERROR = "error"
STATE_ICONS = {CONNECTED: "CHECKMARK", DEGRADED: "SORTTIME", CONNECTING: "TIME", DISCONNECTED: "X", ERROR: "ERROR"}
STATE_WORDS = {CONNECTED: "Connected", DEGRADED: "Slow", CONNECTING: "Connecting…", DISCONNECTED: "Disconnected", ERROR: "Error"}

# The overall traffic light: theme colour-set swatches exist in every Blender 4.2+.
TRAFFIC_ICONS = {
    Status.ONLINE.value: "COLORSET_03_VEC",  # green
    Status.DEGRADED.value: "COLORSET_09_VEC",  # yellow
    Status.OFFLINE.value: "COLORSET_01_VEC",  # red
    Status.UNKNOWN.value: "COLORSET_13_VEC",  # grey
}
TRAFFIC_WORDS = {
    Status.ONLINE.value: "All services online",
    Status.DEGRADED.value: "Some services need attention",
    Status.OFFLINE.value: "A required service is offline",
    Status.UNKNOWN.value: "Checking services…",
}
LLM_KINDS = ("litellm", "openai")

#: Dashboard time ranges: key → (history resolution s, window s, label).
RANGES: dict[str, tuple[float, float, str]] = {
    "5M": (1.0, 300.0, "5 min"),
    "1H": (10.0, 3600.0, "1 h"),
    "24H": (60.0, 86400.0, "24 h"),
}
_DISCONNECTED_STATES = {ConnState.DISCONNECTED.value, ConnState.FAILED.value, ConnState.SUSPENDED.value}


def display_state(service: Any) -> str:
    """One of the five row states for a :class:`~movie_director.manager.ServiceSnapshot`."""
    if not service.contacted:
        return ERROR
    if service.state == ConnState.CONNECTED.value:
        if service.last_error:
            return ERROR  # reachable, but it refuses (bad key, not ready)
        return DEGRADED if service.status == Status.DEGRADED.value else CONNECTED
    if service.state in _DISCONNECTED_STATES:
        return DISCONNECTED
    return CONNECTING


def format_ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms"


def format_age(timestamp: float | None, now: float) -> str:
    """"just now", "12 s ago", "3 min ago", "2 h ago", or "never"."""
    if timestamp is None:
        return "never"
    seconds = max(0.0, now - timestamp)
    if seconds < 2:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    return f"{seconds // 3600:.0f} h ago"


def format_elapsed(seconds: float) -> str:
    """A job's running time: "0:07", "12:30", "1:02:05"."""
    minutes, secs = divmod(int(max(0.0, seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"



def format_bytes(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1024**3:.1f} GB"


@dataclass(frozen=True)
class ServiceRow:
    """One service as the status panel shows it."""

    name: str
    label: str
    kind: str
    url: str
    state: str
    icon: str
    status: str
    latency: str
    last_check: float | None
    version: str
    capabilities: str
    error: str
    error_code: str
    hints: tuple[str, ...]
    next_reconnect_in: float | None
    queued_ops: int
    queued: str
    #: "waiting for ComfyUI — 3 queued, next try in 4 s" while it is away (see ServiceSnapshot.waiting).
    waiting: str = ""

    @property
    def state_text(self) -> str:
        if self.state == ERROR and self.error:
            return self.error
        return STATE_WORDS[self.state]


def service_row(service: Any) -> ServiceRow:
    state = display_state(service)
    error = service.last_error or {}
    queued = ", ".join(f"{item.get('op_type', '?')} #{item.get('id', '?')}" for item in service.queued[:5])
    if service.queued_ops > 5:
        queued += f" … (+{service.queued_ops - 5})"
    return ServiceRow(
        name=service.name,
        label=service.display_name,
        kind=service.kind,
        url=service.url,
        state=state,
        icon=STATE_ICONS[state],
        status=service.status,
        latency=format_ms(service.latency_ms) if state in (CONNECTED, DEGRADED) else "–",
        last_check=service.last_check,
        version=service.version,
        capabilities="–" if service.capabilities is None else str(service.capabilities),
        error=str(error.get("message", "")),
        error_code=str(error.get("code", "")),
        hints=tuple(str(hint) for hint in error.get("hints") or ()),
        next_reconnect_in=service.next_reconnect_in if state in (DISCONNECTED, CONNECTING) and service.contacted else None,
        queued_ops=service.queued_ops,
        queued=queued,
        waiting=service.waiting if service.contacted else "",
    )


def traffic_light(status: str, services: Sequence[ServiceRow]) -> tuple[str, str]:
    """(icon, words) of the overall light; an empty list says so instead of "checking"."""
    if not services:
        return TRAFFIC_ICONS[Status.UNKNOWN.value], "No services enabled"
    if status == Status.UNKNOWN.value and all(row.state == ERROR for row in services):
        return TRAFFIC_ICONS[Status.OFFLINE.value], "No service can be checked"
    return TRAFFIC_ICONS.get(status, TRAFFIC_ICONS[Status.UNKNOWN.value]), TRAFFIC_WORDS.get(status, status)


def llm_line(services: Iterable[Any], key_variables: Mapping[str, tuple[str, bool]]) -> tuple[str, str]:
    """(icon, text) of the LLM row: models available, or which variable to set, or why not.

    ``key_variables`` maps a service name to (environment variable for its key, is it set).
    """
    llms = [service for service in services if service.kind in LLM_KINDS]
    if not llms:
        return "INFO", "LLM: no LiteLLM service enabled"
    parts = []
    icon = "CHECKMARK"
    for service in llms:
        variable, is_set = key_variables.get(service.name, ("", False))
        error = service.last_error or {}
        state = display_state(service)
        models = service.metrics.get("models_available")
        if error.get("category") == "Authentication" or (variable and not is_set and state != CONNECTED):
            parts.append(f"{service.display_name}: set {variable} to its API key")
            icon = "ERROR"
        elif state in (CONNECTED, DEGRADED) and models is not None:
            parts.append(f"{service.display_name}: {models:.0f} model{'s' if models != 1 else ''} available")
        elif state == CONNECTING:
            parts.append(f"{service.display_name}: checking…")
            icon = "TIME" if icon == "CHECKMARK" else icon
        else:
            parts.append(f"{service.display_name}: {STATE_WORDS[state].lower()}" + (f" ({error['message']})" if error.get("message") else ""))
            icon = "ERROR"
    return icon, "LLM — " + "; ".join(parts)


# -- dashboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeStats:
    """A service's health over one dashboard time range."""

    checks: int
    avg_ms: float | None
    p95_ms: float | None
    success_pct: float | None
    uptime_pct: float | None
    trend: str


def range_stats(buckets: Sequence[Mapping[str, Any]], now: float, range_key: str, width: int = 32) -> RangeStats:
    """Stats and trend over the window of ``range_key`` from history buckets of its resolution.

    Average and p95 are over every check's response time (p95 weighs each bucket's
    average by its number of checks; at these resolutions a bucket holds one or two
    checks). Success is successful checks / checks; uptime is the share of time slots
    with checks in which the service was not offline.
    """
    resolution, window, _ = RANGES[range_key]
    start = now - window
    inside = [bucket for bucket in buckets if bucket["start"] >= start and bucket["checks"]]
    checks = sum(bucket["checks"] for bucket in inside)
    slots: list[float | None] = [None] * int(window // resolution)
    for bucket in inside:
        index = int((bucket["start"] - start) // resolution)
        if 0 <= index < len(slots):
            slots[index] = bucket["latency_avg_ms"]
    if not checks:
        return RangeStats(0, None, None, None, None, sparkline(slots, width))
    total_ms = sum(bucket["latency_avg_ms"] * bucket["checks"] for bucket in inside)
    weighted = sorted((bucket["latency_avg_ms"], bucket["checks"]) for bucket in inside)
    target, seen, p95 = 0.95 * checks, 0, weighted[-1][0]
    for latency, count in weighted:
        seen += count
        if seen >= target:
            p95 = latency
            break
    up = sum(1 for bucket in inside if bucket["status"] != Status.OFFLINE.value)
    return RangeStats(
        checks=checks,
        avg_ms=total_ms / checks,
        p95_ms=p95,
        success_pct=100.0 * sum(bucket["ok"] for bucket in inside) / checks,
        uptime_pct=100.0 * up / len(inside),
        trend=sparkline(slots, width),
    )


def metric_lines(service: Any) -> list[str]:
    """Backend metrics worth a dashboard line: queue depth, VRAM, tokens and cost."""
    metrics = service.metrics
    lines = []
    depth = service.backend_queue_depth
    lines.append(f"Queue: {'–' if depth is None else f'{depth:.0f}'} on the server, {service.queued_ops} waiting here")
    if "vram_total" in metrics:
        lines.append(f"VRAM: {format_bytes(metrics.get('vram_free'))} free of {format_bytes(metrics['vram_total'])}")
    if service.kind in LLM_KINDS:
        tokens = metrics.get("tokens_total")
        cost = metrics.get("cost_usd")
        lines.append(f"Tokens used: {0 if tokens is None else tokens:.0f}, est. cost: ${0.0 if cost is None else cost:.4f}")
    return lines


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


__all__ = [
    "CONNECTED",
    "CONNECTING",
    "DEGRADED",
    "DISCONNECTED",
    "ERROR",
    "RANGES",
    "STATE_ICONS",
    "TRAFFIC_ICONS",
    "RangeStats",
    "ServiceRow",
    "display_state",
    "format_age",
    "format_bytes",
    "format_ms",
    "llm_line",
    "metric_lines",
    "percent",
    "range_stats",
    "service_row",
    "traffic_light",
]
