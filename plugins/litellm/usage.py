"""Tokens and money: what each LLM call used, and running totals for the dashboard.

The proxy reports tokens in the response's ``usage`` object and the price it computed
in the ``x-litellm-response-cost`` header (non-streaming) or in ``usage.cost`` (the
last chunk of a stream). A :class:`UsageMeter` adds them up per service; every
connection of one service shares its meter, so "Tokens used" and "Est. cost" stay
right however many pooled connections did the work.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COST_HEADER = "x-litellm-response-cost"


@dataclass(frozen=True)
class Usage:
    """Tokens in/out of one call and its cost in USD (``None`` when nobody priced it)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def parse(cls, usage: Any, headers: Mapping[str, str] | None = None) -> Usage:
        """From an OpenAI ``usage`` object and the proxy's cost header; tolerant of gaps."""
        usage = usage if isinstance(usage, Mapping) else {}
        cost = _number((headers or {}).get(COST_HEADER))
        if cost is None:
            cost = _number(usage.get("cost"))
        return cls(int(_number(usage.get("prompt_tokens")) or 0), int(_number(usage.get("completion_tokens")) or 0), cost)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
        }


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class UsageTotals:
    """A consistent snapshot of a meter."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens_total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def metrics(self) -> dict[str, float]:
        """The names the health/dashboard layer reads ("Tokens used", "Est. cost")."""
        return {
            "tokens_total": float(self.tokens_total),
            "prompt_tokens": float(self.prompt_tokens),
            "completion_tokens": float(self.completion_tokens),
            "cost_usd": self.cost_usd,
            "calls": float(self.calls),
        }


class UsageMeter:
    """Thread-safe running totals; worker threads record, the UI reads snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = UsageTotals()

    def record(self, usage: Usage) -> None:
        with self._lock:
            current = self._totals
            self._totals = UsageTotals(
                current.calls + 1,
                current.prompt_tokens + usage.prompt_tokens,
                current.completion_tokens + usage.completion_tokens,
                current.cost_usd + (usage.cost_usd or 0.0),
            )

    def snapshot(self) -> UsageTotals:
        with self._lock:
            return self._totals

    def __repr__(self) -> str:
        totals = self.snapshot()
        return f"<UsageMeter calls={totals.calls} tokens={totals.tokens_total} cost_usd={totals.cost_usd:.6f}>"


_meters: dict[str, UsageMeter] = {}
_meters_lock = threading.Lock()


def meter_for(service_name: str) -> UsageMeter:
    """The process-wide meter of one configured service (created on first use)."""
    with _meters_lock:
        return _meters.setdefault(service_name, UsageMeter())
