"""Every test run gets its own temporary directory, and fails if a test server left files in it.

The run's ``TMPDIR`` (inherited by the servers it starts and by pytest-xdist workers)
is a fresh directory, so that other programs' files in ``/tmp`` cannot be taken for
ours. At the end, once every server fixture is closed, no stand-in directory or server
log may remain there: each one is a leak (a server nobody closed, a launcher that
forgot its directory). The directory is removed either way.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path

import pytest

#: What the test servers of ``movie_director_testing`` create: private directories and logs.
SERVER_FILE_PREFIXES = ("comfyui-standin-", "md-comfyui-standin-", "md-wan2gp-", "md-litellm-", "md-gradio-", "gradio-generic-")
_RUN_DIR = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker: it inherited the controller's TMPDIR
    run_dir = Path(tempfile.mkdtemp(prefix="md-test-run-"))
    config.stash[_RUN_DIR] = run_dir
    os.environ["TMPDIR"] = str(run_dir)
    tempfile.tempdir = str(run_dir)


def pytest_sessionfinish(session: pytest.Session) -> None:
    run_dir = session.config.stash.get(_RUN_DIR, None)
    if run_dir is None:
        return
    gc.collect()  # a dropped ServerProcess removes its files when collected
    left = sorted(entry.name for entry in run_dir.iterdir() if entry.name.startswith(SERVER_FILE_PREFIXES))
    shutil.rmtree(run_dir, ignore_errors=True)
    if left:
        writer = session.config.get_terminal_writer()
        writer.line()
        writer.line(f"test servers left files behind: {', '.join(left)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
