"""Run the suite as ``tox -e test`` runs it, several times in a row, and count the runs that failed.

    python tests/flake_hunt.py --runs 10 [--logs DIR] [-- pytest options]

Every failure of an unchanged tree is a flake: the report names each failed test with the
run it failed in, keeps that run's whole output in ``--logs``, and the exit status is 1
when any run failed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

SUITE = ["tests/unit", "tests/integration", "tests/faults"]
FAILED_LINE = re.compile(r"^(FAILED|ERROR) (\S+)", re.MULTILINE)
#: pytest's last line, "1595 passed in 248.00s (0:04:08)", bare with -q, between "=" runs without.
SUMMARY_LINE = re.compile(r"^=*\s*(\d+ \w+.* in [\d.]+s(?: \([\d:]+\))?)\s*=*$", re.MULTILINE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--logs", type=Path, default=Path("flake-hunt-logs"), help="where a failed run's output is kept")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest before the test paths")
    args = parser.parse_args(argv)
    failed_runs: list[int] = []
    for run in range(1, args.runs + 1):
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args, *SUITE], capture_output=True, text=True)
        summaries = SUMMARY_LINE.findall(done.stdout)
        print(f"run {run}/{args.runs}: exit {done.returncode} in {time.monotonic() - started:.0f} s — {summaries[-1] if summaries else 'no summary'}", flush=True)
        if done.returncode != 0:
            failed_runs.append(run)
            args.logs.mkdir(parents=True, exist_ok=True)
            log = args.logs / f"run-{run}.log"
            log.write_text(done.stdout + "\n" + done.stderr, encoding="utf-8")
            print(f"    output: {log}", flush=True)
            for kind, test in FAILED_LINE.findall(done.stdout):
                print(f"    {kind} {test}", flush=True)
            if done.returncode != 1:  # interrupted, internal error, no tests: show why
                print(done.stdout[-2000:], done.stderr[-2000:], sep="\n", flush=True)
    print(f"flake hunt: {args.runs - len(failed_runs)} of {args.runs} runs passed" + (f"; failed: runs {failed_runs}" if failed_runs else ""))
    return 1 if failed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
