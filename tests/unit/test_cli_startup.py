"""Start-up stays light: ``--version`` and ``--help`` load no HTTP stack, no schema validator and no backend client.

Each runs in a fresh interpreter (this test process has long imported everything), and the
test reads which heavy modules ended up in ``sys.modules``: a number of modules, not a
timing, so it holds on a loaded machine and fails when a top-level import creeps back.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("requests", "urllib3", "websocket", "gradio_client", "jsonschema", "argcomplete", "movie_director.http", "movie_director.manager")

PROBE = """
import json, sys
from movie_director.cli import main
try:
    main([sys.argv[1]])
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.argv[2:] if name in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("option", ["--version", "--help"])
def test_start_up_loads_no_heavy_module(option: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, option, *HEAVY], capture_output=True, text=True, timeout=60, check=True)
    assert "movie-director" in done.stdout  # the command really ran
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_a_command_still_loads_what_it_needs() -> None:
    """The probe can fail: a command that checks a service does import the HTTP stack."""
    probe = PROBE.replace("main([sys.argv[1]])", "main(['check', 'http://127.0.0.1:9', '--timeout', '0.5'])")
    done = subprocess.run([sys.executable, "-c", probe, "x", "requests"], capture_output=True, text=True, timeout=60)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == ["requests"]
