"""The repository's two distributions, built as ``pip wheel`` builds them (setuptools' PEP 517 backend).

The package artists install (and the Blender extension, which bundles that wheel) carries
runtime code only; the stand-ins, fault proxy, media and pytest fixtures ship in
``movie-director-testing`` from ``testing/``.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import movie_director
import movie_director_testing

ROOT = Path(__file__).resolve().parents[2]
BUILD_WHEEL = "import sys, setuptools.build_meta as backend; print(backend.build_wheel(sys.argv[1]))"


def extension_build_sources() -> tuple[str, ...]:
    """What the extension build copies to make our wheel: the same list, so this test builds what ships."""
    spec = importlib.util.spec_from_file_location("extension_build", ROOT / "addon" / "extension" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.SOURCES)


def build_wheel(project: Path, sources: tuple[str, ...], tmp_path: Path) -> tuple[list[str], str, str]:
    """(file names, entry points, METADATA) of the wheel built from a clean copy of ``sources`` in ``project``."""
    copy, out = tmp_path / "source", tmp_path / "wheel"
    out.mkdir()
    for name in sources:
        origin = project / name
        if origin.is_dir():
            shutil.copytree(origin, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build"))
        else:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, copy / name)
    done = subprocess.run([sys.executable, "-c", BUILD_WHEEL, str(out)], cwd=copy, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    with zipfile.ZipFile(out / done.stdout.split()[-1]) as wheel:
        names = wheel.namelist()
        read = {name.rsplit("/", 1)[-1]: wheel.read(name).decode("utf-8") for name in names if ".dist-info/" in name}
    return names, read.get("entry_points.txt", ""), read["METADATA"]


def test_the_package_wheel_carries_runtime_code_only(tmp_path: Path) -> None:
    names, entry_points, _ = build_wheel(ROOT, extension_build_sources(), tmp_path)
    assert {"movie_director/manager.py", "movie_director/schemas/config.schema.json", "movie_director_plugins/comfyui/__init__.py"} <= set(names)
    assert [name for name in names if "testing" in name or name.endswith(".mp4")] == []
    assert "[movie_director.backends]" in entry_points and "pytest11" not in entry_points


def test_the_test_support_is_a_distribution_of_its_own(tmp_path: Path) -> None:
    names, entry_points, metadata = build_wheel(ROOT / "testing", ("pyproject.toml", "README.md", "movie_director_testing"), tmp_path)
    assert {
        "movie_director_testing/pytest_plugin.py",
        "movie_director_testing/comfyui_standin/server.py",
        "movie_director_testing/apps/tiny.mp4",
        "movie_director_testing/requirements/gradio5.txt",
    } <= set(names)
    assert "[pytest11]\nmovie_director = movie_director_testing.pytest_plugin" in entry_points
    assert "Requires-Dist: movie-director-connect" in metadata
    assert "Name: movie-director-testing" in metadata


def test_the_two_are_released_in_step() -> None:
    assert movie_director_testing.__version__ == movie_director.__version__
