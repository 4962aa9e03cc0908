"""Targets of the contract suite, and the recorder that writes ``docs/compatibility.md``.

Each backend kind has one target: a real server when its ``MOVIE_DIRECTOR_REAL_*``
variable holds a URL, else our stand-in started by the fixtures of
``movie_director_testing.pytest_plugin``. Scenarios take the target fixture and never
ask which one it is, except through what :class:`Target` offers (observing what the
server received, restarting it).

Every scenario's outcome is recorded with the target's server name and version (from
the probe); at the end of the session the rows are merged into the compatibility
table. A session in which no scenario passed fails, so "no tests ran" can never pass.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from movie_director_testing import compatibility
from movie_director_testing.contract import KINDS, Target, probe_target, real_url

TABLE = Path(__file__).parents[2] / "docs" / "compatibility.md"


def _target_fixture(kind: str) -> Any:
    def target(request: pytest.FixtureRequest) -> Target:
        url = real_url(kind)
        process = None if url else request.getfixturevalue(KINDS[kind].fixture)
        return probe_target(kind, url or process.url, process)

    target.__doc__ = f"The {KINDS[kind].label} the scenarios run against ({KINDS[kind].env}, else our stand-in)."
    return pytest.fixture(scope="session", name=f"{kind}_target")(target)


comfyui_target = _target_fixture("comfyui")
wan2gp_ui_target = _target_fixture("wan2gp_ui")
wan2gp_mcp_target = _target_fixture("wan2gp_mcp")
litellm_target = _target_fixture("litellm")
gradio_target = _target_fixture("gradio")


@pytest.fixture(scope="session")
def targets(request: pytest.FixtureRequest) -> list[Target]:
    """Every kind's target, for scenarios about all of them at once (discovery)."""
    return [request.getfixturevalue(f"{kind}_target") for kind in KINDS]


@pytest.fixture(scope="session", autouse=True)
def litellm_key() -> Iterator[None]:
    """The key our LiteLLM client (and discovery) sends: the stand-in's master key, unless a real proxy is named."""
    from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY

    name = "MOVIE_DIRECTOR_LITELLM_API_KEY"
    if os.environ.get(KINDS["litellm"].env):
        yield
        return
    old = os.environ.get(name)
    os.environ[name] = DEFAULT_MASTER_KEY
    yield
    if old is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = old


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Discovery last: it then finds the servers as an artist usually does, up and warm, not just started."""
    items.sort(key=lambda item: item.path.name == "test_discovery.py")


# --- recording ------------------------------------------------------------------------------


def _targets_of(item: pytest.Item) -> list[Target]:
    found: list[Target] = []
    for value in getattr(item, "funcargs", {}).values():
        values = value if isinstance(value, (list, tuple)) else [value]
        found += [candidate for candidate in values if isinstance(candidate, Target) and candidate not in found]
    return found


def _scenario(item: pytest.Item) -> str:
    name = getattr(item, "originalname", item.name).removeprefix("test_")
    return name.replace("_", " ")


class Recorder:
    """Collects each scenario's outcome per target; writes the table at the end."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], compatibility.Row] = {}
        self.passed = 0

    def record(self, item: pytest.Item, report: pytest.TestReport) -> None:
        if report.when == "call" or report.failed or report.skipped:
            outcome = _outcome(report)
            if outcome == "passed":
                self.passed += 1
            notes = [str(value) for name, value in item.user_properties if name == "note"]
            if report.skipped:
                notes = [_skip_reason(report)]
            elif report.failed:
                notes.insert(0, _failure_line(report))
            today = datetime.datetime.now(datetime.UTC).date().isoformat()
            for target in _targets_of(item):
                key = (target.kind, target.version, _scenario(item))
                self.rows[key] = compatibility.Row(target.server, target.version, target.label, _scenario(item), outcome, "; ".join(notes), today)

    def write(self, partial: bool) -> None:
        if self.rows:
            compatibility.update(TABLE, self.rows.values(), partial)


def _outcome(report: pytest.TestReport) -> str:
    if report.skipped:
        return "skipped"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "passed"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]).removeprefix("Skipped: ") if isinstance(longrepr, tuple) else str(longrepr)


def _failure_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    return message.splitlines()[0][:200] if message else "failed"


def _picked(session: pytest.Session) -> bool:
    """True unless the whole suite ran: the contract folder, no ``-k``/``-m``, not stopped early."""
    option = session.config.option
    whole = all(Path(arg).resolve() == Path(__file__).parent for arg in session.config.args)
    return bool(option.keyword or option.markexpr or session.shouldstop) or not whole


RECORDER = Recorder()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    RECORDER.record(item, outcome.get_result())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.option.collectonly:
        return
    RECORDER.write(partial=_picked(session))
    if RECORDER.passed == 0 and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\ncontract: no scenario passed: nothing was proven against any server")
