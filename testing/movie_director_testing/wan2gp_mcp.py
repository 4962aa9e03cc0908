"""Start the Wan2GP headless MCP stand-in (`apps/wan2gp_mcp_app.py`) as a real server process.

The app runs from the `mcp` server environment (mcp 1.10.1, as Wan2GP 12.60 pins it), not
from ours, so the client code under test and the server share no imports.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from movie_director_testing import envs
from movie_director_testing.processes import LOOPBACK, ServerProcess, http_ready

APP = Path(__file__).resolve().parent / "apps" / "wan2gp_mcp_app.py"


def launch_wan2gp_mcp(
    port: int | None = None,
    *,
    step_seconds: float = 0.05,
    steps_default: int = 30,
    missing_weights: bool = False,
    max_upload_bytes: int | None = None,
    realistic: bool = False,
    start_timeout: float = 60.0,
) -> ServerProcess:
    """Build the `mcp` env if needed, start the server on `port` (free when None) and wait for it.

    Generated files and uploads go to a private temporary folder that lives as long as the
    returned ServerProcess (it survives `kill()`/`restart()`, like a real output folder).
    `missing_weights` makes every task fail at model loading, as on a server without weights.
    `realistic` serves the real 12.60's catalogue size (217 models) at its per-call cost (20–70 ms).
    Readiness is `GET /mcp/` answering 406: the MCP transport itself is mounted and running.
    """
    python = envs.ensure("mcp")
    workdir = tempfile.mkdtemp(prefix="md-wan2gp-mcp-")
    argv = [
        str(python), str(APP),
        "--host", "{host}", "--port", "{port}",
        "--output-dir", str(Path(workdir) / "outputs"),
        "--step-seconds", str(step_seconds),
        "--steps-default", str(steps_default),
    ]
    if max_upload_bytes is not None:
        argv += ["--max-upload-bytes", str(max_upload_bytes)]
    if missing_weights:
        argv.append("--missing-weights")
    if realistic:
        argv.append("--realistic")
    server = ServerProcess(
        "wan2gp-mcp",
        argv,
        port=port,
        host=LOOPBACK,
        cwd=workdir,  # FastMCP reads FASTMCP_* settings from a `.env` in its working directory
        ready=http_ready("/mcp/", statuses=(406,)),
        start_timeout=start_timeout,
        private_dir=workdir,
    )
    return server.start()
