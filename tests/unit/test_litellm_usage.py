"""Usage of one call and running totals the dashboard reads."""

from __future__ import annotations

import threading

from movie_director_plugins.litellm.usage import Usage, UsageMeter, UsageTotals, meter_for


def test_tokens_from_usage_and_cost_from_the_proxy_header() -> None:
    usage = Usage.parse({"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}, {"x-litellm-response-cost": "1.35e-05"})
    assert usage == Usage(10, 20, 1.35e-05)
    assert usage.total_tokens == 30
    assert usage.to_dict() == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30, "cost_usd": 1.35e-05}


def test_cost_from_the_stream_usage_chunk_when_no_header() -> None:
    assert Usage.parse({"prompt_tokens": 8, "completion_tokens": 41, "cost": 2.58e-05}) == Usage(8, 41, 2.58e-05)


def test_missing_or_garbled_fields_count_as_unknown() -> None:
    assert Usage.parse(None) == Usage(0, 0, None)
    assert Usage.parse({"prompt_tokens": "many", "completion_tokens": None}, {"x-litellm-response-cost": "n/a"}) == Usage(0, 0, None)


def test_meter_adds_calls_tokens_and_known_costs() -> None:
    meter = UsageMeter()
    meter.record(Usage(10, 20, 0.5))
    meter.record(Usage(1, 2, None))
    assert meter.snapshot() == UsageTotals(calls=2, prompt_tokens=11, completion_tokens=22, cost_usd=0.5)
    assert meter.snapshot().metrics() == {"tokens_total": 33.0, "prompt_tokens": 11.0, "completion_tokens": 22.0, "cost_usd": 0.5, "calls": 2.0}
    assert "tokens=33" in repr(meter)


def test_meter_is_exact_under_concurrent_recording() -> None:
    meter = UsageMeter()
    start = threading.Barrier(8)

    def work() -> None:
        start.wait(5)
        for _ in range(500):
            meter.record(Usage(1, 2, 0.25))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert meter.snapshot() == UsageTotals(calls=4000, prompt_tokens=4000, completion_tokens=8000, cost_usd=1000.0)


def test_one_meter_per_service_name() -> None:
    assert meter_for("usage-test-a") is meter_for("usage-test-a")
    assert meter_for("usage-test-a") is not meter_for("usage-test-b")
