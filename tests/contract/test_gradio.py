"""Generic Gradio app scenarios: the same for our Gradio 6 app and another Gradio version (``MOVIE_DIRECTOR_REAL_GRADIO``).

The app is ours (``movie_director_testing/apps/gradio_generic_app.py``: ``/generate``,
``/echo``, ``/invert``); to try another Gradio version, run that file under it and point
the variable at it. What changes between versions is Gradio's wire, not the app.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from movie_director.check import adhoc_service
from movie_director.errors import InvalidSetting, JobCancelled, NotFound
from movie_director.progress import Phase, Progress
from movie_director_plugins.gradio.backend import GradioBackend, GradioConnection
from movie_director_testing.contract import Target

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def connection(gradio_target: Target) -> Iterator[GradioConnection]:
    connection = GradioBackend().connect(adhoc_service(gradio_target.url, "gradio"))
    yield connection
    connection.close()


def test_probe_version_capabilities(gradio_target: Target, connection: GradioConnection) -> None:
    assert gradio_target.probe.kind == "gradio" and gradio_target.probe.version
    endpoints = {c.id: c for c in GradioBackend().capabilities(connection)}
    assert {"generate", "echo", "invert"} <= set(endpoints)
    assert [p["name"] for p in endpoints["generate"].details["parameters"]] == ["prompt", "seed", "steps"]
    assert GradioBackend().health(connection).ok


def test_job_end_to_end(gradio_target: Target, tmp_path: Path) -> None:
    """``movie-director gradio call``: numbers typed as integers reach the app as integers."""
    done = subprocess.run(
        [sys.executable, "-m", "movie_director.cli", "gradio", "call", gradio_target.url, "generate", "prompt=a cat", "seed=7", "steps=2",
         "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    echoed = next(value for value in result["data"] if isinstance(value, dict))
    assert echoed == {"prompt": "a cat", "seed": 7, "steps": 2} and all(type(echoed[name]) is int for name in ("seed", "steps"))
    assert [Path(path).read_bytes()[4:8] for path in result["files"]] == [b"ftyp"]


def test_progress_events(connection: GradioConnection, tmp_path: Path) -> None:
    events: list[Progress] = []
    connection.call("generate", {"prompt": "a dog", "seed": 1, "steps": 4}, out_dir=tmp_path, on_progress=events.append, timeout=60)
    running = [e for e in events if e.phase is Phase.RUNNING and e.step is not None]
    steps = [e.step for e in running]
    assert steps and steps == sorted(steps) and {e.total for e in running} == {4}, [e.describe() for e in events]
    assert events[-1].phase is Phase.DONE


def test_cancel_mid_job(connection: GradioConnection, tmp_path: Path) -> None:
    running = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(
            connection.call,
            "generate",
            {"prompt": "long", "seed": 1, "steps": 400},
            out_dir=tmp_path,
            on_progress=lambda e: e.step and running.set(),
            timeout=60,
        )
        assert running.wait(30), "the job never started"
        asked = time.monotonic()
        connection.cancel()
        assert isinstance(job.exception(30), JobCancelled), job
    assert time.monotonic() - asked < 10 and not list(tmp_path.iterdir())


def test_validation_errors_named(connection: GradioConnection) -> None:
    with pytest.raises(NotFound) as caught:
        connection.call("generat", {"prompt": "x"}, timeout=30)
    assert "generate" in caught.value.details["close_matches"]
    with pytest.raises(InvalidSetting, match="stpes"):
        connection.call("generate", {"prompt": "x", "stpes": 1}, timeout=30)
