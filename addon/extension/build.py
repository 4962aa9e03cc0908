"""Build the installable Blender extension: ``dist/movie_director-<version>.zip``.

    python addon/extension/build.py                          # every platform (tox -e extension)
    python addon/extension/build.py --platform linux-x64     # only the wheels for Linux

Steps: build our own wheel (the core and the built-in plugins, with their ``.dist-info``
so the plugins' entry points are found inside Blender) from a clean copy of the sources;
download the runtime dependencies as wheels for Python 3.11 on each platform (pure-Python
ones are ``py3-none-any`` and shared); write ``blender_manifest.toml`` with the exact
``wheels = [...]`` list; zip. pip's cache lives in ``--cache``, so a rebuild only asks
the package index what to use and takes the files from there. Needs ``pip`` only.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTHON_VERSION = "3.11"
#: Blender platform → the pip platform tags a wheel may carry there (pip does not expand
#: a tag to the older ones it implies). Blender 4.2 needs glibc 2.28 and macOS 11.2.
_MANYLINUX = ("manylinux_2_28", "manylinux_2_27", "manylinux_2_26", "manylinux_2_24", "manylinux_2_17", "manylinux2014", "manylinux_2_12", "manylinux2010", "manylinux_2_5", "manylinux1")
_MACOS = ("11_0", "10_15", "10_14", "10_13", "10_12", "10_11", "10_10", "10_9")
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux-x64": tuple(f"{tag}_x86_64" for tag in _MANYLINUX),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64", *(f"macosx_{version}_universal2" for version in _MACOS)),
    "macos-x64": tuple(f"macosx_{version}_{arch}" for version in _MACOS for arch in ("x86_64", "universal2")),
}
#: pip evaluates environment markers for this machine, not the target: add what the
#: dependencies need only elsewhere (click and tqdm need colorama on Windows).
PLATFORM_EXTRAS: dict[str, tuple[str, ...]] = {"windows-x64": ("colorama",)}
#: What the source wheel needs: the project's metadata and code, nothing else.
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "addon/movie_director", "plugins", "schemas")


def default_cache() -> Path:
    configured = os.environ.get("MOVIE_DIRECTOR_WHEEL_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "movie-director" / "extension-wheels"


def project_version() -> str:
    text = (ROOT / "addon" / "movie_director" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if match is None:
        raise SystemExit("cannot find __version__ in addon/movie_director/__init__.py")
    return match.group(1)


def runtime_requirements() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    return [line.strip() for line in parser["options"]["install_requires"].splitlines() if line.strip()]


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def build_own_wheel(out: Path, scratch: Path) -> Path:
    """Our wheel, built from a clean copy (a stale ``build/`` folder must not leak into it)."""
    source = scratch / "source"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source))
    wheels = sorted(out.glob("movie_director_connect-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one movie_director_connect wheel in {out}, found {wheels}")
    return wheels[0]


def download_dependencies(requirements: list[str], platform: str, cache: Path, scratch: Path) -> list[Path]:
    """Every wheel the requirements need on ``platform``; pip's cache (``cache``) keeps the files between builds."""
    folder = scratch / "downloads" / platform
    folder.mkdir(parents=True)
    pip(
        "download", "--quiet", "--only-binary=:all:", "--dest", str(folder), "--cache-dir", str(cache),
        *(option for tag in PLATFORMS[platform] for option in ("--platform", tag)),
        "--python-version", PYTHON_VERSION, "--implementation", "cp", *requirements, *PLATFORM_EXTRAS.get(platform, ()),
    )
    return sorted(folder.glob("*.whl"))


def write_manifest(target: Path, version: str, platforms: list[str], wheels: list[str]) -> None:
    text = (HERE / "blender_manifest.toml").read_text(encoding="utf-8")
    text = re.sub(r'^version = ".*"$', f'version = "{version}"', text, count=1, flags=re.MULTILINE)
    text = re.sub(r"^platforms = \[.*\]$", "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", text, count=1, flags=re.MULTILINE)
    listing = "wheels = [\n" + "".join(f'  "./wheels/{name}",\n' for name in wheels) + "]"
    text = re.sub(r"^wheels = \[.*\]$", listing, text, count=1, flags=re.MULTILINE)
    target.write_text(text, encoding="utf-8")


def build(out_dir: Path, platforms: list[str], cache: Path) -> Path:
    version = project_version()
    with tempfile.TemporaryDirectory(prefix="md-extension-") as scratch_name:
        scratch = Path(scratch_name)
        staging = scratch / "movie_director"
        (staging / "wheels").mkdir(parents=True)
        shutil.copy2(HERE / "__init__.py", staging / "__init__.py")
        wheels = [build_own_wheel(staging / "wheels", scratch)]
        for platform in platforms:
            for wheel in download_dependencies(runtime_requirements(), platform, cache, scratch):
                if not (staging / "wheels" / wheel.name).exists():
                    shutil.copy2(wheel, staging / "wheels" / wheel.name)
                    wheels.append(wheel)
        names = sorted(wheel.name for wheel in wheels)
        write_manifest(staging / "blender_manifest.toml", version, platforms, names)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"movie_director-{version}.zip"
        partial = target.with_suffix(".zip.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staging.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(staging).as_posix())
        partial.replace(target)
    print(f"built {target} ({len(names)} wheels, {target.stat().st_size / 1e6:.1f} MB)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the .zip (default: dist/)")
    parser.add_argument("--platform", dest="platforms", action="append", choices=sorted(PLATFORMS), help="only these platforms (repeatable; default: all)")
    parser.add_argument("--cache", type=Path, default=default_cache(), help="pip cache for the downloaded wheels, kept between builds")
    args = parser.parse_args(argv)
    build(args.out, args.platforms or list(PLATFORMS), args.cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
