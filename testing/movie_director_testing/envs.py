"""Separate Python environments for the real test servers, built once and reused.

Gradio 5.29 (the Wan2GP web UI), Gradio 6, the LiteLLM proxy and the MCP server do
not resolve together with each other or with `bpy`, so each runs from its own venv.
An environment is keyed by its requirements file's hash: editing the pins rebuilds it.

    python -m movie_director_testing.envs build [NAME ...]
    python -m movie_director_testing.envs python NAME      # prints the interpreter path
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

READY_MARKER = ".movie-director-ready"
#: Written once the environment's packages are compiled to bytecode: without it every server
#: start compiles them again (tox sets PYTHONDONTWRITEBYTECODE, and `uv pip install` does
#: not compile), which doubles a LiteLLM proxy's start-up CPU.
BYTECODE_MARKER = ".movie-director-bytecode"


def available() -> list[str]:
    """Names of the environments this package knows how to build."""
    folder = resources.files("movie_director_testing") / "requirements"
    return sorted(entry.name.removesuffix(".txt") for entry in folder.iterdir() if entry.name.endswith(".txt"))


def requirements_text(name: str) -> str:
    path = resources.files("movie_director_testing") / "requirements" / f"{name}.txt"
    if not path.is_file():
        raise KeyError(f"unknown server environment {name!r}; known: {', '.join(available())}")
    return path.read_text(encoding="utf-8")


def envs_root() -> Path:
    configured = os.environ.get("MOVIE_DIRECTOR_ENVS")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "movie-director" / "envs"


def env_dir(name: str) -> Path:
    digest = hashlib.sha256(f"{sys.version_info[:2]}\n{requirements_text(name)}".encode()).hexdigest()[:10]
    return envs_root() / f"{name}-{digest}"


def python_of(name: str) -> Path:
    return env_dir(name) / "bin" / "python"


def is_built(name: str) -> bool:
    return (env_dir(name) / READY_MARKER).exists()


def ensure(name: str) -> Path:
    """Build the environment if needed; return its interpreter."""
    if not is_built(name):
        _build(name)
    if not (env_dir(name) / BYTECODE_MARKER).exists():  # also for an environment built before this step existed
        _compile_bytecode(env_dir(name))
    return python_of(name)


def _compile_bytecode(target: Path) -> None:
    """Compile every installed module once (writes are atomic: servers running from it meanwhile are safe)."""
    site_packages = [str(path) for path in target.glob("lib/python*/site-packages")]
    # Not checked: a few packages ship modules for other Python versions that do not compile (never imported).
    subprocess.run([str(target / "bin" / "python"), "-m", "compileall", "-q", "-j", "0", *site_packages], check=False, stdout=subprocess.DEVNULL)
    (target / BYTECODE_MARKER).write_text("ok\n", encoding="utf-8")


def _build(name: str) -> None:
    target = env_dir(name)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    requirements = target.parent / f"{target.name}.txt"
    requirements.write_text(requirements_text(name), encoding="utf-8")
    uv = shutil.which("uv")
    if uv:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(target)])
        _run([uv, "pip", "install", "--quiet", "--python", str(target / "bin" / "python"), "-r", str(requirements)])
    else:
        _run([sys.executable, "-m", "venv", str(target)])
        _run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)])
    (target / READY_MARKER).write_text("ok\n", encoding="utf-8")
    _prune_stale(name, keep=target)


def _prune_stale(name: str, keep: Path) -> None:
    """Remove environments of ``name`` built from older requirements."""
    for old in keep.parent.glob(f"{name}-*"):
        if old != keep and old.name != f"{keep.name}.txt":
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def _run(argv: list[str]) -> None:
    print("+", " ".join(argv), file=sys.stderr, flush=True)
    subprocess.run(argv, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movie_director_testing.envs", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the named environments (all when none is named)")
    build.add_argument("names", nargs="*")
    show = commands.add_parser("python", help="print an environment's interpreter, building it if needed")
    show.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "python":
        print(ensure(args.name))
        return 0
    for name in args.names or available():
        print(f"{name}: {ensure(name)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
