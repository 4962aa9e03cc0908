"""Run every ``benchmarks/bench_*.py`` and write ``benchmarks/REPORT.md``.

    python -m benchmarks.run [NAME ...]      # e.g. python -m benchmarks.run pool litellm

Each benchmark is its own process (a clean interpreter, its own servers) and prints its
figures beside the baseline it measured in the same run, each figure also as one
:func:`result_line`; this collects those lines into the summary table at the top of the
report, then every benchmark's full output, with the machine they ran on. Machines are
noisy: compare ratios, not absolute numbers across runs.

A benchmark that cannot run here says so and is skipped, not failed: it prints
``skipped: <reason>`` as its first line and exits 0, or it dies of a missing third-party
module (``bpy`` outside Blender), which is reported as ``skipped: bpy not installed``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 900
RESULT = "RESULT "
SKIPPED = "skipped:"
OUR_PACKAGES = ("movie_director", "movie_director_plugins", "benchmarks")
MISSING_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([\w.]+)'", re.MULTILINE)


def number(value: float) -> str:
    """A figure with as many digits as a benchmark on a shared machine can vouch for."""
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def result_line(
    name: str,
    ours: float,
    unit: str,
    baseline: float | None,
    what: str,
    goal: str = "-",
    met: bool | None = None,
    *,
    baseline_unit: str | None = None,
    ratio: float | None = None,
) -> str:
    """One figure, in the one form the summary table is built from::

        RESULT <name> | ours <value> <unit> | baseline <value> <unit> (<what>) | ratio <r> | goal <goal> | <met|missed|->

    ``ratio`` is ours ÷ baseline unless given (pass it when the units differ);
    ``met`` is None for a figure the issue sets no goal for.
    """
    if ratio is None and baseline:
        ratio = ours / baseline
    base = "-" if baseline is None else f"{number(baseline)} {baseline_unit or unit}"
    verdict = "-" if met is None else ("met" if met else "missed")
    return f"{RESULT}{name} | ours {number(ours)} {unit} | baseline {base} ({what}) | ratio {'-' if ratio is None else ratio_text(ratio)} | goal {goal} | {verdict}"


def ratio_text(ratio: float) -> str:
    """Three decimals near 1, where a goal such as ≤ 1.05× is judged; fewer for large ratios."""
    return f"{ratio:.0f}" if ratio >= 100 else f"{ratio:.1f}" if ratio >= 10 else f"{ratio:.3f}"


@dataclass
class Figure:
    name: str
    ours: str
    baseline: str
    ratio: str
    goal: str
    verdict: str


def figures(output: str) -> list[Figure]:
    """The :func:`result_line` lines of a benchmark's output."""
    found = []
    for line in output.splitlines():
        if not line.startswith(RESULT):
            continue
        parts = [part.strip() for part in line[len(RESULT) :].split(" | ")]
        if len(parts) != 6:
            continue
        name, ours, baseline, ratio, goal, verdict = parts
        found.append(Figure(name, ours.removeprefix("ours "), baseline.removeprefix("baseline "), ratio.removeprefix("ratio "), goal.removeprefix("goal "), verdict))
    return found


@dataclass
class Outcome:
    name: str
    output: str
    seconds: float
    code: int
    skipped: str = ""
    figures: list[Figure] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.skipped:
            return self.skipped
        return "" if self.code == 0 else f"failed (exit {self.code})"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
        cpu = model
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}"


def load() -> str:
    try:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def skip_reason(stdout: str, stderr: str, code: int) -> str:
    """Why a benchmark did not run here, or "" when it ran (or truly failed)."""
    first = stdout.lstrip().split("\n", 1)[0].strip()
    if code == 0 and first.lower().startswith(SKIPPED):
        return first
    missing = MISSING_MODULE.findall(stderr)
    if code != 0 and missing and missing[-1].split(".")[0] not in OUR_PACKAGES:
        return f"skipped: {missing[-1]} not installed"
    return ""


def run_one(path: Path) -> Outcome:
    name = path.stem.removeprefix("bench_")
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, str(path)], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=HERE.parent, env={**os.environ, "PYTHONPATH": str(HERE.parent)}
        )
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return Outcome(name, f"{stdout}\n(timed out after {TIMEOUT_S} s)".strip(), time.perf_counter() - started, -1, figures=figures(stdout))
    seconds = time.perf_counter() - started
    skipped = skip_reason(result.stdout, result.stderr, result.returncode)
    if skipped:
        return Outcome(name, skipped, seconds, result.returncode, skipped)
    output = result.stdout + (f"\n[stderr]\n{result.stderr[-2000:]}" if result.returncode else "")
    return Outcome(name, output.strip(), seconds, result.returncode, figures=figures(result.stdout))


def summary_table(outcomes: list[Outcome]) -> str:
    rows = ["| benchmark | figure | ours | baseline (same run) | ratio | goal | met? |", "|---|---|---|---|---|---|---|"]
    for outcome in outcomes:
        if outcome.status and not outcome.figures:
            rows.append(f"| {outcome.name} | — | {outcome.status} | | | | |")
        elif not outcome.figures:
            rows.append(f"| {outcome.name} | — | (prints no RESULT line: see its output) | | | | |")
        for figure in outcome.figures:
            verdict = {"met": "met", "missed": "**missed**"}.get(figure.verdict, "–")
            rows.append(f"| {outcome.name} | {figure.name} | {figure.ours} | {figure.baseline} | {figure.ratio} | {figure.goal} | {verdict} |")
    missed = [f"{outcome.name} {figure.name}" for outcome in outcomes for figure in outcome.figures if figure.verdict == "missed"]
    failed = [f"{outcome.name} ({outcome.status})" for outcome in outcomes if outcome.code != 0 and not outcome.skipped]
    notes = [f"Goals missed: {', '.join(missed)}." if missed else "Every figure with a goal met it in this run."]
    if failed:
        notes.append(f"Benchmarks that failed: {', '.join(failed)}.")
    return "\n".join(rows) + "\n\n" + " ".join(notes) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only these (bench_<name>.py)")
    parser.add_argument("--report", type=Path, default=HERE / "REPORT.md")
    args = parser.parse_args(argv)
    paths = sorted(HERE.glob("bench_*.py"))
    if args.names:
        paths = [p for p in paths if p.stem.removeprefix("bench_") in args.names]
    load_before, began = load(), time.perf_counter()
    outcomes = []
    for path in paths:
        print(f"== {path.stem}", flush=True)
        outcome = run_one(path)
        print(outcome.output, flush=True)
        outcomes.append(outcome)
    sections = []
    for outcome in outcomes:
        status = f" — **{outcome.status}**" if outcome.status else ""
        sections.append(f"## {outcome.name}{status}\n\n_bench_{outcome.name}.py, {outcome.seconds:.1f} s_\n\n```\n{outcome.output}\n```\n")
    header = (
        "# Benchmark report\n\n"
        f"Generated by `tox -e bench` (`python -m benchmarks.run`) on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC "
        f"in {time.perf_counter() - began:.0f} s.\n\n"
        f"Machine: {machine()}.\n\n"
        f"Noise: the machine was shared with other work during the run (load average 1/5/15 min: {load_before} at the start, "
        f"{load()} at the end). Absolute numbers move with that load; every baseline was measured in the same run, "
        "interleaved with ours where the benchmark says so, so the **ratios** are what counts.\n\n"
        "Ratios are ours ÷ baseline: lower is better for times, higher for throughputs. Goals are the issue's; "
        "a goal given as an absolute figure is judged on ours alone.\n\n"
        "## Summary\n\n"
    )
    args.report.write_text(header + summary_table(outcomes) + "\n" + "\n".join(sections), encoding="utf-8")
    print(f"wrote {args.report}")
    return 1 if any(outcome.code != 0 and not outcome.skipped for outcome in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
