"""The server environments: built once, and compiled to bytecode once (see envs.BYTECODE_MARKER)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from movie_director_testing import envs


def test_a_built_environment_without_bytecode_is_compiled_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_DIRECTOR_ENVS", str(tmp_path))
    target = envs.env_dir("mcp")
    site_packages = target / "lib" / "python3.11" / "site-packages"
    site_packages.mkdir(parents=True)
    (site_packages / "served.py").write_text("ANSWER = 42\n", encoding="utf-8")
    (target / "bin").mkdir()
    os.symlink(sys.executable, target / "bin" / "python")
    (target / envs.READY_MARKER).write_text("ok\n", encoding="utf-8")  # built before bytecode was part of it

    assert envs.ensure("mcp") == target / "bin" / "python"
    assert [path.name for path in (site_packages / "__pycache__").iterdir()] == [f"served.{sys.implementation.cache_tag}.pyc"]
    assert (target / envs.BYTECODE_MARKER).exists()

    (site_packages / "__pycache__" / f"served.{sys.implementation.cache_tag}.pyc").unlink()
    envs.ensure("mcp")  # the marker says it is done: nothing is compiled again
    assert list((site_packages / "__pycache__").iterdir()) == []
