"""Health history per service: bounded ring buffers at three resolutions, summaries, export.

- 5 min at 1 s, 1 h at 10 s, 24 h at 1 min (:data:`RESOLUTIONS`). Each slot is a bucket
  aggregating the samples that fell in it (checks, successes, latency sum and max, the
  last status and backend metrics such as queue depth, free VRAM or tokens), so memory
  is fixed whatever the check rate: about 0.7 MB per service when every ring is full.
- Summaries (latency avg / median / p95, success rate) cover the last
  :data:`SUMMARY_SAMPLES` checks; uptime % covers the 24 h ring; requests per minute
  counts executed operations over the last 60 s.
- Minute buckets are written to the shared SQLite database (:class:`HistoryStore`) as
  they close, and read back at start-up, so 24 h trends survive a Blender restart.
  Writes add to an existing row, so Blender and the CLI checking the same service merge.
"""

from __future__ import annotations

import csv
import json
import statistics
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, TextIO

from movie_director.backend import HealthSample, Status
from movie_director.store import Database

#: (seconds per bucket, buckets kept): 5 min at 1 s, 1 h at 10 s, 24 h at 1 min.
RESOLUTIONS: tuple[tuple[float, int], ...] = ((1.0, 300), (10.0, 360), (60.0, 1440))
MINUTE = 60.0
SUMMARY_SAMPLES = 1000


class Bucket:
    """Aggregate of the samples in one time slot."""

    __slots__ = ("checks", "latency_max", "latency_sum", "metrics", "ok", "requests", "start", "status")

    def __init__(self, start: float) -> None:
        self.start = start
        self.checks = 0
        self.ok = 0
        self.requests = 0
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self.status = Status.UNKNOWN.value
        self.metrics: Mapping[str, float] | None = None

    def to_dict(self, resolution: float) -> dict[str, Any]:
        return {
            "start": self.start,
            "resolution_s": resolution,
            "checks": self.checks,
            "ok": self.ok,
            "requests": self.requests,
            "latency_avg_ms": round(self.latency_sum / self.checks, 3) if self.checks else None,
            "latency_max_ms": round(self.latency_max, 3),
            "status": self.status,
            "metrics": dict(self.metrics) if self.metrics else {},
        }


class Ring:
    """One resolution: the open bucket plus a bounded deque of closed ones."""

    def __init__(self, resolution: float, capacity: int) -> None:
        self.resolution = resolution
        self.capacity = capacity
        self.closed: deque[Bucket] = deque(maxlen=capacity - 1)
        self.current: Bucket | None = None

    def bucket_for(self, timestamp: float) -> tuple[Bucket, Bucket | None]:
        """The bucket ``timestamp`` falls in, and the bucket this closed (if any)."""
        start = timestamp - timestamp % self.resolution
        current = self.current
        if current is not None and start <= current.start:
            return current, None  # same slot (or a late sample): fold into the open bucket
        self.current = Bucket(start)
        if current is not None:
            self.closed.append(current)
        horizon = start - self.resolution * self.capacity  # keep a time window, not just a count
        while self.closed and self.closed[0].start <= horizon:
            self.closed.popleft()
        return self.current, current

    def buckets(self) -> list[Bucket]:
        return [*self.closed, *([self.current] if self.current is not None else [])]


@dataclass(frozen=True)
class HistorySummary:
    """Numbers for the dashboard; ``None`` when there is nothing to summarise yet."""

    samples: int
    latency_avg_ms: float | None
    latency_median_ms: float | None
    latency_p95_ms: float | None
    success_rate: float | None
    uptime_pct: float | None
    requests_per_minute: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ServiceHistory:
    """The history of one service; thread-safe (health workers write, the UI reads)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._rings = [Ring(resolution, capacity) for resolution, capacity in RESOLUTIONS]
        self._samples: deque[tuple[float, bool]] = deque(maxlen=SUMMARY_SAMPLES)
        self._unsaved: deque[Bucket] = deque(maxlen=RESOLUTIONS[-1][1])
        self._summary: HistorySummary | None = None

    def record(self, sample: HealthSample, status: Status) -> None:
        """One health check and the status it led to."""
        with self._lock:
            self._samples.append((sample.latency_ms, sample.ok))
            for ring in self._rings:
                bucket, closed = ring.bucket_for(sample.timestamp)
                bucket.checks += 1
                bucket.ok += sample.ok
                bucket.latency_sum += sample.latency_ms
                bucket.latency_max = max(bucket.latency_max, sample.latency_ms)
                bucket.status = status.value
                if sample.metrics:
                    bucket.metrics = sample.metrics
                if closed is not None and ring.resolution == MINUTE:
                    self._unsaved.append(closed)
            self._summary = None

    def record_request(self, timestamp: float) -> None:
        """One executed operation (for requests per minute)."""
        with self._lock:
            for ring in self._rings:
                bucket, closed = ring.bucket_for(timestamp)
                bucket.requests += 1
                if closed is not None and ring.resolution == MINUTE:
                    self._unsaved.append(closed)
            self._summary = None

    def summary(self, now: float) -> HistorySummary:
        """Summary at wall time ``now``; the sample statistics are cached until the next sample."""
        with self._lock:
            if self._summary is None:
                self._summary = self._compute()
            requests = 0
            for bucket in reversed(self._rings[0].buckets()):
                if bucket.start < now - MINUTE:
                    break
                requests += bucket.requests
            return replace(self._summary, requests_per_minute=float(requests))

    def _compute(self) -> HistorySummary:
        latencies = sorted(latency for latency, ok in self._samples if ok)
        successes = sum(ok for _, ok in self._samples)
        minutes = self._rings[-1].buckets()  # 24 h, including what was loaded from the database
        checks = sum(bucket.checks for bucket in minutes)
        return HistorySummary(
            samples=len(self._samples),
            latency_avg_ms=round(statistics.fmean(latencies), 3) if latencies else None,
            latency_median_ms=round(statistics.median(latencies), 3) if latencies else None,
            latency_p95_ms=round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3) if latencies else None,
            success_rate=round(successes / len(self._samples), 4) if self._samples else None,
            uptime_pct=round(100.0 * sum(bucket.ok for bucket in minutes) / checks, 2) if checks else None,
            requests_per_minute=0.0,
        )

    def buckets(self, resolution: float = MINUTE) -> list[dict[str, Any]]:
        """The ring of one resolution (1, 10 or 60 s), oldest first, as dicts."""
        ring = self._ring(resolution)
        with self._lock:
            return [bucket.to_dict(ring.resolution) for bucket in ring.buckets()]

    def _ring(self, resolution: float) -> Ring:
        for ring in self._rings:
            if ring.resolution == resolution:
                return ring
        raise ValueError(f"no history at {resolution} s resolution (have {[r for r, _ in RESOLUTIONS]})")

    def export_csv(self, stream: TextIO, resolution: float = MINUTE) -> int:
        """Write one row per bucket; returns the number of rows."""
        rows = self.buckets(resolution)
        metric_names = sorted({name for row in rows for name in row["metrics"]})
        writer = csv.writer(stream)
        writer.writerow(["service", "start", "resolution_s", "checks", "ok", "requests", "latency_avg_ms", "latency_max_ms", "status", *metric_names])
        for row in rows:
            writer.writerow([
                self.service, row["start"], row["resolution_s"], row["checks"], row["ok"], row["requests"],
                "" if row["latency_avg_ms"] is None else row["latency_avg_ms"], row["latency_max_ms"], row["status"],
                *(row["metrics"].get(name, "") for name in metric_names),
            ])
        return len(rows)

    def export_json(self, now: float) -> dict[str, Any]:
        return {
            "service": self.service,
            "summary": self.summary(now).to_dict(),
            "resolutions": {str(int(resolution)): self.buckets(resolution) for resolution, _ in RESOLUTIONS},
        }

    def export_json_text(self, now: float) -> str:
        return json.dumps(self.export_json(now), ensure_ascii=False)

    # -- persistence of the minute ring --------------------------------------------------

    def take_unsaved(self, include_open: bool = False) -> list[Bucket]:
        """Closed minute buckets not yet written (and the open one, at shutdown)."""
        with self._lock:
            buckets = list(self._unsaved)
            self._unsaved.clear()
            current = self._rings[-1].current
            if include_open and current is not None:
                buckets.append(current)
                # the open bucket is now saved: later samples of this minute start a fresh one
                self._rings[-1].closed.append(current)
                self._rings[-1].current = None
            return buckets

    def load_minutes(self, buckets: Iterable[Bucket]) -> None:
        """Restore the 24 h ring from the database (oldest first)."""
        with self._lock:
            ring = self._rings[-1]
            for bucket in buckets:
                ring.closed.append(bucket)
            self._summary = None


class HistoryStore:
    """Minute buckets in the shared database, kept for 24 h."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def save(self, service: str, buckets: Iterable[Bucket]) -> int:
        count = 0
        with self.database.transaction() as conn:
            for bucket in buckets:
                conn.execute(
                    "INSERT INTO health_minutes (service, minute, checks, ok, requests, latency_sum, latency_max, status, metrics)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (service, minute) DO UPDATE SET checks = checks + excluded.checks, ok = ok + excluded.ok,"
                    " requests = requests + excluded.requests, latency_sum = latency_sum + excluded.latency_sum,"
                    " latency_max = MAX(latency_max, excluded.latency_max), status = excluded.status,"
                    " metrics = COALESCE(excluded.metrics, metrics)",
                    (
                        service, bucket.start, bucket.checks, bucket.ok, bucket.requests, bucket.latency_sum, bucket.latency_max,
                        bucket.status, json.dumps(dict(bucket.metrics)) if bucket.metrics else None,
                    ),
                )
                count += 1
        return count

    def load(self, service: str, now: float) -> list[Bucket]:
        rows = self.database.query(
            "SELECT * FROM health_minutes WHERE service = ? AND minute > ? ORDER BY minute", (service, now - RESOLUTIONS[-1][0] * RESOLUTIONS[-1][1])
        )
        buckets = []
        for row in rows:
            bucket = Bucket(row["minute"])
            bucket.checks, bucket.ok, bucket.requests = row["checks"], row["ok"], row["requests"]
            bucket.latency_sum, bucket.latency_max, bucket.status = row["latency_sum"], row["latency_max"], row["status"]
            bucket.metrics = json.loads(row["metrics"]) if row["metrics"] else None
            buckets.append(bucket)
        return buckets

    def prune(self, now: float) -> int:
        return self.database.execute("DELETE FROM health_minutes WHERE minute <= ?", (now - RESOLUTIONS[-1][0] * RESOLUTIONS[-1][1],))


__all__ = ["MINUTE", "RESOLUTIONS", "SUMMARY_SAMPLES", "Bucket", "HistoryStore", "HistorySummary", "ServiceHistory"]
