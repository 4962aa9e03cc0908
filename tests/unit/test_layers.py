"""The one-way layers of .importlinter (checked by ``tox -e lint``) cover every module of the core."""

from __future__ import annotations

import configparser
from pathlib import Path

import movie_director

ROOT = Path(__file__).parents[2]
OUTSIDE_THE_CORE = {"cli", "blender", "testing"}


def test_every_core_module_is_a_source_of_the_core_contract() -> None:
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter", encoding="utf-8")
    listed = set(contracts["importlinter:contract:core-is-a-layer-below"]["source_modules"].split())
    package = Path(movie_director.__file__).parent
    core = {f"movie_director.{path.stem}" for path in package.glob("*.py") if path.stem != "__init__"}
    core |= {f"movie_director.{path.parent.name}" for path in package.glob("*/__init__.py") if path.parent.name not in OUTSIDE_THE_CORE}
    assert core - listed == set(), "add these modules to the core contract in .importlinter"
    assert listed - core == set(), "these modules of the core contract no longer exist"
