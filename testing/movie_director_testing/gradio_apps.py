"""Start the Gradio test apps (`testing/apps/*.py`) as real servers from their own venvs.

    with launch_wan2gp_webui(suffix_shift=2) as server:   # already started; stopped on exit
        Client(server.url)

Options become the app's flags: `suffix_shift=2` → `--suffix-shift 2`, `no_save_inputs=True`
→ `--no-save-inputs`; False and None are left out. Each server gets its own temp dir (its
cwd, Gradio's cache and the save path), removed when the ServerProcess is collected.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from movie_director_testing import envs
from movie_director_testing.processes import LOOPBACK, ServerProcess, http_ready

APPS_DIR = Path(__file__).with_name("apps")
START_TIMEOUT = 90.0  # Gradio imports take seconds, more on a busy 2-core machine


class App(NamedTuple):
    name: str
    env: str  # the server venv (envs.ensure)
    script: str  # in APPS_DIR
    options: frozenset[str]  # accepted launcher options, each a flag of the script


WAN2GP_WEBUI = App(
    "wan2gp-webui",
    "gradio5",
    "wan2gp_webui_app.py",
    frozenset({"suffix_shift", "step_seconds", "fail_at_step", "no_save_inputs"}),
)
GRADIO_GENERIC = App("gradio-generic", "gradio6", "gradio_generic_app.py", frozenset({"step_seconds"}))


def launch_wan2gp_webui(port: int | None = None, **options: object) -> ServerProcess:
    """The Wan2GP web-UI stand-in on Gradio 5.29, started.

    Options: suffix_shift (int), step_seconds (float), fail_at_step (int), no_save_inputs (bool).
    """
    return _launch(WAN2GP_WEBUI, port, options)


def launch_gradio_generic(port: int | None = None, **options: object) -> ServerProcess:
    """The generic Gradio 6 app, started. Options: step_seconds (float)."""
    return _launch(GRADIO_GENERIC, port, options)


def _launch(app: App, port: int | None, options: dict[str, object]) -> ServerProcess:
    unknown = set(options) - app.options
    if unknown:  # fail here, not as an argparse error in a server log
        raise TypeError(f"unknown {app.name} option(s) {sorted(unknown)}; known: {sorted(app.options)}")
    workdir = Path(tempfile.mkdtemp(prefix=f"md-{app.name}-"))
    argv = [
        str(envs.ensure(app.env)),
        str(APPS_DIR / app.script),
        "--port",
        "{port}",
        "--output-dir",
        str(workdir / "outputs"),
        *_flags(options),
    ]
    server = ServerProcess(
        app.name,
        argv,
        port=port,
        env=_offline_env(workdir),
        cwd=str(workdir),
        ready=http_ready("/config"),
        start_timeout=START_TIMEOUT,
        private_dir=workdir,
    )
    return server.start()


def _flags(options: dict[str, object]) -> list[str]:
    flags: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flags.append("--" + key.replace("_", "-"))
        if value is not True:
            flags.append(str(value).replace("{", "{{").replace("}", "}}"))  # ServerProcess formats argv
    return flags


def _offline_env(workdir: Path) -> dict[str, str]:
    """Loopback only, no telemetry, no hub look-ups; Gradio's file cache inside `workdir`."""
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), LOOPBACK, "localhost"]))
    return {
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_SERVER_NAME": LOOPBACK,
        "GRADIO_TEMP_DIR": str(workdir / "gradio"),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_PROXY": no_proxy,
        "PYTHONUNBUFFERED": "1",
    }
