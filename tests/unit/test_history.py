"""Health history: retention and downsampling, summaries, export, persistence, memory bound."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc

from movie_director.backend import HealthSample, Status
from movie_director.history import RESOLUTIONS, SUMMARY_SAMPLES, HistoryStore, ServiceHistory
from movie_director.store import Database

T0 = 1_700_006_400.0  # a whole day boundary, so bucket starts are easy to read


def sample(t: float, ok: bool = True, latency: float = 10.0, **metrics: float) -> HealthSample:
    return HealthSample(ok=ok, latency_ms=latency, timestamp=t, metrics=metrics)


def test_samples_are_downsampled_into_three_resolutions():
    history = ServiceHistory("comfyui")
    for second in range(120):
        history.record(sample(T0 + second, latency=float(second)), Status.ONLINE)
    per_second, per_ten, per_minute = (history.buckets(resolution) for resolution, _ in RESOLUTIONS)
    assert len(per_second) == 120 and len(per_ten) == 12 and len(per_minute) == 2
    assert per_ten[0]["checks"] == 10 and per_ten[0]["latency_avg_ms"] == 4.5 and per_ten[0]["latency_max_ms"] == 9
    assert per_minute[1]["start"] == T0 + 60 and per_minute[1]["checks"] == 60


def test_rings_keep_5_min_1_h_and_24_h():
    history = ServiceHistory("comfyui")
    for second in range(0, 26 * 3600, 5):
        history.record(sample(T0 + second), Status.ONLINE)
    expected_counts = {1.0: 60, 10.0: 360, 60.0: 1440}  # one sample every 5 s fills 60 of the 300 one-second slots
    for resolution, capacity in RESOLUTIONS:
        buckets = history.buckets(resolution)
        assert len(buckets) == expected_counts[resolution] <= capacity
        span = buckets[-1]["start"] - buckets[0]["start"] + resolution
        assert span <= resolution * capacity  # 300 s, 3600 s, 86400 s
        assert span > resolution * capacity - 5


def test_summary_over_the_last_1000_samples():
    history = ServiceHistory("llm")
    for n in range(SUMMARY_SAMPLES + 500):
        ok = n % 10 != 0
        history.record(sample(T0 + n, ok=ok, latency=float(n % 100)), Status.ONLINE if ok else Status.DEGRADED)
    summary = history.summary(T0 + 2000)
    assert summary.samples == SUMMARY_SAMPLES
    assert summary.success_rate == 0.9
    assert summary.latency_median_ms == 50.0
    assert 94 <= summary.latency_p95_ms <= 95
    assert summary.latency_avg_ms == 50.0
    assert 89 < summary.uptime_pct < 91


def test_requests_per_minute_counts_the_last_60_seconds():
    history = ServiceHistory("llm")
    for n in range(90):
        history.record_request(T0 + n)
    assert history.summary(T0 + 90).requests_per_minute == 60
    assert history.summary(T0 + 1000).requests_per_minute == 0


def test_an_empty_history():
    summary = ServiceHistory("x").summary(T0)
    assert summary.samples == 0 and summary.latency_avg_ms is None and summary.uptime_pct is None


def test_export_csv_and_json():
    history = ServiceHistory("comfyui")
    history.record(sample(T0, queue_depth=2.0, vram_free=8e9), Status.ONLINE)
    history.record(sample(T0 + 61, ok=False), Status.DEGRADED)
    stream = io.StringIO()
    assert history.export_csv(stream) == 2
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert rows[0]["queue_depth"] == "2.0" and rows[0]["status"] == "online"
    assert rows[1]["ok"] == "0" and rows[1]["queue_depth"] == ""
    data = json.loads(history.export_json_text(T0 + 62))
    assert data["summary"]["samples"] == 2
    assert set(data["resolutions"]) == {"1", "10", "60"}


def test_minute_buckets_survive_a_restart(tmp_path):
    with Database(tmp_path / "db.sqlite3") as database:
        store = HistoryStore(database)
        history = ServiceHistory("comfyui")
        for second in range(0, 180, 10):
            history.record(sample(T0 + second, latency=20.0, queue_depth=1.0), Status.ONLINE)
        closed = history.take_unsaved()
        assert [bucket.start for bucket in closed] == [T0, T0 + 60]
        store.save("comfyui", closed)
        store.save("comfyui", history.take_unsaved(include_open=True))
        history.record(sample(T0 + 179), Status.ONLINE)  # after the open bucket was saved: a fresh one
        assert history.take_unsaved(include_open=True)[0].checks == 1

    with Database(tmp_path / "db.sqlite3") as database:
        store = HistoryStore(database)
        restored = ServiceHistory("comfyui")
        restored.load_minutes(store.load("comfyui", T0 + 200))
        minutes = restored.buckets(60)
        assert [m["start"] for m in minutes] == [T0, T0 + 60, T0 + 120]
        assert minutes[0]["checks"] == 6 and minutes[0]["metrics"] == {"queue_depth": 1.0}
        assert restored.summary(T0 + 200).uptime_pct == 100.0
        assert store.load("comfyui", T0 + 200 + 86400) == []
        assert store.prune(T0 + 86400 + 60.5) == 2  # the minutes T0 and T0+60 are now older than 24 h


def test_two_writers_of_one_minute_add_up(tmp_path):
    with Database(tmp_path / "db.sqlite3") as database:
        store = HistoryStore(database)
        for latency in (10.0, 30.0):
            history = ServiceHistory("llm")
            history.record(sample(T0, latency=latency), Status.ONLINE)
            store.save("llm", history.take_unsaved(include_open=True))
        (bucket,) = store.load("llm", T0 + 60)
        assert (bucket.checks, bucket.latency_sum, bucket.latency_max) == (2, 40.0, 30.0)


def test_memory_of_full_histories_stays_under_5_mb():
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        histories = [ServiceHistory(f"service-{n}") for n in range(5)]
        metrics = {"queue_depth": 3.0, "vram_free": 8.0e9, "tokens": 1234.0}
        for history in histories:
            for second in range(0, 25 * 3600, 30):  # fills the 10 s and minute rings
                history.record(HealthSample(ok=True, latency_ms=12.5, timestamp=T0 + second, metrics=dict(metrics)), Status.ONLINE)
            for second in range(25 * 3600, 25 * 3600 + 1200):  # fills the 1 s ring and the 1000 samples
                history.record(HealthSample(ok=True, latency_ms=12.5, timestamp=T0 + second, metrics=dict(metrics)), Status.ONLINE)
            history.summary(T0 + 25 * 3600 + 1200)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(len(history.buckets(60)) == 1440 for history in histories)
    assert used < 5 * 1024 * 1024, f"{used / 1e6:.2f} MB for 5 full histories"
