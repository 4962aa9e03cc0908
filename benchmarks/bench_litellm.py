"""Our LiteLLM client against a bare ``requests.Session`` and the ``openai`` SDK, on one real proxy.

    python -m benchmarks.bench_litellm [--url URL] [--calls 200] [--stream-calls 50] [--json] [--strict]

Every client makes the same sequential non-streaming calls to ``mock-gpt`` in one run,
taking turns call by call (the order rotates every turn) so that a noisy neighbour on
a shared machine slows all of them alike. Goals: ours ≤ 1.05× bare requests and ≤ 1.0×
the openai SDK, judged on the median (one scheduler hiccup moves a mean, not a median);
means are printed too. Streaming calls to ``mock-story`` measure time to first token.

Without ``--url`` the real proxy is started from its own environment (offline mock
models), which takes about ten seconds. Needs the ``bench`` extra (openai).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

from benchmarks.run import result_line
from movie_director.configdata import ServiceConfig
from movie_director_plugins.litellm.client import LiteLLMClient
from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY, launch_litellm_proxy

KEY_ENV = "MOVIE_DIRECTOR_LITELLM_API_KEY"
MESSAGES = [{"role": "user", "content": "hi"}]
GOALS = {"requests": 1.05, "openai": 1.0}
WARM_UP = 20


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(seconds: list[float]) -> dict[str, float]:
    millis = [value * 1000 for value in seconds]
    return {"n": len(millis), "mean_ms": statistics.fmean(millis), "p50_ms": statistics.median(millis), "p95_ms": percentile(millis, 0.95)}


class Contenders:
    """The three clients, each with a one-call and a time-to-first-token function."""

    def __init__(self, url: str, key: str) -> None:
        import openai  # the bench extra

        self.ours = LiteLLMClient(ServiceConfig(name="litellm", kind="litellm", url=url))
        self.bare = requests.Session()
        self.bare.headers["Authorization"] = f"Bearer {key}"
        self.sdk = openai.OpenAI(base_url=url + "/v1", api_key=key)
        self.url = url

    def calls(self) -> dict[str, Callable[[], str]]:
        return {
            "ours": lambda: self.ours.chat(MESSAGES, "mock-gpt").text,
            "requests": lambda: self.bare.post(self.url + "/v1/chat/completions", json={"model": "mock-gpt", "messages": MESSAGES}, timeout=30).json()["choices"][0]["message"]["content"],
            "openai": lambda: self.sdk.chat.completions.create(model="mock-gpt", messages=MESSAGES).choices[0].message.content or "",  # type: ignore[arg-type]
        }

    def first_tokens(self) -> dict[str, Callable[[], tuple[float, float]]]:
        return {"ours": self._ours_stream, "requests": self._bare_stream, "openai": self._sdk_stream}

    def _ours_stream(self) -> tuple[float, float]:
        started = time.perf_counter()
        first = None
        for _ in self.ours.stream_chat(MESSAGES, "mock-story"):
            first = first or time.perf_counter()
        return (first or started) - started, time.perf_counter() - started

    def _bare_stream(self) -> tuple[float, float]:
        started = time.perf_counter()
        first = None
        body = {"model": "mock-story", "messages": MESSAGES, "stream": True}
        with self.bare.post(self.url + "/v1/chat/completions", json=body, stream=True, timeout=30) as response:
            for line in response.iter_lines():
                if line.startswith(b"data: {") and b'"content"' in line:
                    first = first or time.perf_counter()
        return (first or started) - started, time.perf_counter() - started

    def _sdk_stream(self) -> tuple[float, float]:
        started = time.perf_counter()
        first = None
        for chunk in self.sdk.chat.completions.create(model="mock-story", messages=MESSAGES, stream=True):  # type: ignore[arg-type]
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter()
        return (first or started) - started, time.perf_counter() - started

    def close(self) -> None:
        self.ours.close()
        self.bare.close()
        self.sdk.close()


def interleaved(functions: dict[str, Callable[[], Any]], total: int) -> dict[str, list[Any]]:
    """``total`` timed results per function: one call of each in turn, the order rotating every turn."""
    names = list(functions)
    results: dict[str, list[Any]] = {name: [] for name in names}
    for turn in range(total):
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            value = functions[name]()
            results[name].append((time.perf_counter() - started, value))
    return results


def run(url: str, key: str, calls: int, stream_calls: int) -> dict[str, Any]:
    contenders = Contenders(url, key)
    try:
        functions = contenders.calls()
        for name, function in functions.items():
            answers = {function() for _ in range(WARM_UP)}
            if answers != {"hello"}:
                raise SystemExit(f"{name} got {answers!r} from mock-gpt instead of 'hello'")
        chat = {name: summary([seconds for seconds, _ in timed]) for name, timed in interleaved(functions, calls).items()}
        streams = interleaved(contenders.first_tokens(), stream_calls)
        stream = {
            name: {"first_token": summary([first for _, (first, _total) in timed]), "total": summary([total for _, (_first, total) in timed])}
            for name, timed in streams.items()
        }
    finally:
        contenders.close()
    ratios = {
        baseline: {"p50": chat["ours"]["p50_ms"] / chat[baseline]["p50_ms"], "mean": chat["ours"]["mean_ms"] / chat[baseline]["mean_ms"], "goal": goal}
        for baseline, goal in GOALS.items()
    }
    return {"calls": calls, "chat": chat, "ratios": ratios, "stream_calls": stream_calls, "stream": stream}


def report(results: dict[str, Any]) -> str:
    lines = [f"{results['calls']} sequential non-streaming calls to mock-gpt per client (taking turns call by call, after {WARM_UP} warm-up calls each):"]
    lines.append(f"  {'client':<10} {'mean ms':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in results["chat"].items():
        lines.append(f"  {name:<10} {row['mean_ms']:>8.2f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}")
    for baseline, ratio in results["ratios"].items():
        verdict = "meets" if ratio["p50"] <= ratio["goal"] else "MISSES"
        lines.append(f"  ours / {baseline}: {ratio['p50']:.3f}× p50, {ratio['mean']:.3f}× mean — {verdict} the goal ≤ {ratio['goal']:.2f}× (p50)")
        chat = results["chat"]
        lines.append(result_line(f"chat call p50 vs {baseline}", chat["ours"]["p50_ms"], "ms", chat[baseline]["p50_ms"], f"{baseline}, same calls interleaved", f"≤ {ratio['goal']:.2f}×", ratio["p50"] <= ratio["goal"]))
    lines.append(f"{results['stream_calls']} streaming calls to mock-story per client: time to first token / whole answer, p50 (mean) ms:")
    for name, row in results["stream"].items():
        first, total = row["first_token"], row["total"]
        lines.append(f"  {name:<10} {first['p50_ms']:>7.2f} ({first['mean_ms']:.2f}) / {total['p50_ms']:>7.2f} ({total['mean_ms']:.2f})")
    first_tokens = {name: row["first_token"]["p50_ms"] for name, row in results["stream"].items()}
    lines.append(result_line("stream time to first token p50", first_tokens["ours"], "ms", first_tokens["requests"], "requests, iter_lines"))
    return "\n".join(lines)


@contextmanager
def proxy_url(url: str | None) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    with launch_litellm_proxy() as server:
        yield server.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running proxy (default: start one)")
    parser.add_argument("--calls", type=int, default=200, help="non-streaming calls per client (default 200)")
    parser.add_argument("--stream-calls", type=int, default=50, help="streaming calls per client (default 50)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if not args.url:
        os.environ[KEY_ENV] = DEFAULT_MASTER_KEY  # our client reads its key from the environment
    with proxy_url(args.url) as url:
        results = run(url, os.environ.get(KEY_ENV, ""), args.calls, args.stream_calls)
    print(json.dumps(results, indent=2) if args.json else report(results))
    missed = [ratio for ratio in results["ratios"].values() if ratio["p50"] > ratio["goal"]]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
